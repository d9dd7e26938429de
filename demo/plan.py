"""What the demo runs: each of the twelve recipes, through the scheduler, the way a team would.

Conf-triggered recipes (R1, R9, R11, R12) get example conf; the sweeps (R2–R5, R7, R8, R10) are
triggered over the seeded window (``since``/``until`` in their conf); R6 is backfilled over the
days its invoices fell due (``airflow backfill create``). :func:`run_plan` starts them all, prints
each run as it ends and returns every run's outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from demo.airflow_api import FINISHED
from demo.seed import Account
from demo.stack import Stack

# R5 at demo speed: two attempts over two seconds from the failure (long past: one catch-up
# attempt), then a 15-second grace period, deferred in the triggerer.
FAST_DUNNING = {"max_attempts": 2, "retry_window_days": 2 / 86400, "grace_days": 15 / 86400}
SUMMARY_TASK = "run_summary"


@dataclass
class Recipe:
    """
    One recipe and how the demo runs it.

    :param code: R1 … R12
    :param dag_id: the recipe's DAG
    :param runs: run id -> conf, for triggered runs
    :param backfill: ``(from, to, conf)`` for a backfill over those logical dates
    :param what: one line on what the runs are
    :param planned_failures: run ids meant to fail (a declined card)
    """

    code: str
    dag_id: str
    what: str
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    backfill: tuple[str, str, dict[str, Any]] | None = None
    planned_failures: frozenset[str] = frozenset()


@dataclass
class RunOutcome:
    """A finished run: its state, note and summary (the ``stripe_run_summary`` XCom), its failed tasks."""

    recipe: Recipe
    run_id: str
    state: str
    note: str
    summary: dict[str, Any] | None
    failed_tasks: list[dict[str, Any]]

    @property
    def as_planned(self) -> bool:
        """Whether the run ended as the demo means it to (a planned decline fails its run)."""
        return self.state == ("failed" if self.run_id in self.recipe.planned_failures else "success")


def recipes(account: Account) -> list[Recipe]:
    """The twelve recipes with the conf (or backfill) each runs with against ``account``."""
    window = account.window
    lead = account.customer("Northwind Dental")
    first, last = account.overdue_days[0], account.overdue_days[-1]
    return [
        Recipe(
            "R1",
            "recipe_pay_per_lead",
            "three leads: two charged, one card declined",
            runs={
                "demo_lead_1": {"customer_id": lead, "amount": 2500, "description": "Lead fee: appointment booked"},
                "demo_lead_2": {"customer_id": lead, "amount": 4000, "description": "Lead fee: qualified form"},
                "demo_lead_3": {
                    "customer_id": account.customer("Expired Card Ltd"),
                    "amount": 2500,
                    "description": "Lead fee: appointment booked",
                },
            },
            planned_failures=frozenset({"demo_lead_3"}),
        ),
        Recipe("R2", "recipe_personalize_orders", "payments over 1,000 USD", runs={"demo_window": window}),
        Recipe("R3", "recipe_tag_valuable_customers", "payments over 1,000 / 2,000 USD", runs={"demo_window": window}),
        Recipe("R4", "recipe_early_fraud_warning", "early fraud warnings", runs={"demo_window": window}),
        Recipe(
            "R5",
            "recipe_annual_dunning",
            "a yearly renewal declined (demo speed: 2 tries, 15 s grace)",
            runs={"demo_window": {**window, **FAST_DUNNING}},
        ),
        Recipe(
            "R6",
            "recipe_overdue_invoice_alert",
            f"backfill {first} … {last}, the days invoices fell due",
            # one invoice per mapped task, so the UI names each task by its invoice
            backfill=(first.isoformat(), last.isoformat(), {"batch_size": 1}),
        ),
        Recipe(
            "R7",
            "recipe_cancellation_confirmation",
            "a canceled subscription",
            runs={"demo_window": {**window, "survey_url": "https://example.com/why-did-you-leave"}},
        ),
        Recipe("R8", "recipe_signup_credit", "customers who signed up", runs={"demo_window": window}),
        Recipe(
            "R9",
            "recipe_payment_link_email",
            "order SO-1042 awaiting payment",
            runs={
                "demo_order_SO-1042": {
                    "order_id": "SO-1042",
                    "customer_email": "orders@northwind.example.com",
                    "amount": 12500,
                    "currency": "usd",
                    "product_name": "Order SO-1042",
                }
            },
        ),
        Recipe("R10", "recipe_invoice_paid_tracking", "invoices paid", runs={"demo_window": window}),
        Recipe(
            "R11",
            "recipe_invoice_from_order",
            "order SO-77 reached 'invoice'",
            runs={
                "demo_order_SO-77": {
                    "order_id": "SO-77",
                    "customer_id": account.customer("Pied Piper"),
                    "days_until_due": 14,
                    "items": [
                        {"description": "Compression consulting", "quantity": 2, "unit_amount": 50000},
                        {"description": "Travel", "quantity": 1, "unit_amount": 12000},
                    ],
                }
            },
        ),
        Recipe(
            "R12",
            "recipe_sync_customer_details",
            "new address and phone from the CRM",
            runs={
                "demo_crm_update": {
                    "customer_id": account.customer("Pied Piper"),
                    "phone": "+4930123456",
                    "address": {
                        "line1": "Unter den Linden 1",
                        "city": "Berlin",
                        "postal_code": "10117",
                        "country": "DE",
                    },
                    "courier_email": "courier@example.com",
                }
            },
        ),
    ]


def start_runs(stack: Stack, plan: list[Recipe]) -> None:
    """Create the backfills, then unpause every recipe and trigger its runs (REST API).

    A backfill is created through ``POST /api/v2/backfills``, what ``airflow backfill create`` does:
    on SQLite the command lost the lock to the busy components three times in three (``database is
    locked``, at once, each try a minute of start-up), while the API server answers 503 in a moment
    and is asked again (:class:`~demo.airflow_api.AirflowApi`).
    """
    for recipe in plan:
        if recipe.backfill:
            start, end, conf = recipe.backfill
            stack.api.backfill(recipe.dag_id, start, end, conf, max_active_runs=1)
    for recipe in plan:
        stack.api.unpause(recipe.dag_id)
        for run_id, conf in recipe.runs.items():
            stack.api.trigger(recipe.dag_id, run_id, conf)


def _demo_runs(runs: list[dict[str, Any]], recipe: Recipe) -> list[dict[str, Any]]:
    """Of ``runs``, the recipe's runs the demo started (its triggered runs, or its backfill's)."""
    mine = [r for r in runs if r["dag_id"] == recipe.dag_id]
    if recipe.backfill:
        return [r for r in mine if r["run_type"] == "backfill"]
    return [r for r in mine if r["dag_run_id"] in recipe.runs]


def expected_runs(recipe: Recipe) -> int:
    if recipe.backfill:
        start, end, _ = recipe.backfill
        return (date.fromisoformat(end) - date.fromisoformat(start)) // timedelta(days=1) + 1
    return len(recipe.runs)


def wait_for_runs(
    stack: Stack,
    plan: list[Recipe],
    on_finished: Callable[[RunOutcome], None],
    on_progress: Callable[[int, int], None],
    timeout: float = 600,
) -> list[RunOutcome]:
    """Poll until every run of the plan has finished; call ``on_finished`` for each as it ends, and
    ``on_progress(finished, total)`` every 20 seconds."""
    done: dict[tuple[str, str], RunOutcome] = {}
    total = sum(expected_runs(r) for r in plan)
    deadline = time.monotonic() + timeout
    next_progress = time.monotonic() + 20
    while len(done) < total:
        if time.monotonic() > next_progress:
            on_progress(len(done), total)
            next_progress = time.monotonic() + 20
        stack.assert_running()
        if time.monotonic() > deadline:
            waiting = [r.code for r in plan if sum(1 for k in done if k[0] == r.dag_id) < expected_runs(r)]
            raise TimeoutError(f"runs not finished after {timeout:.0f}s: {', '.join(waiting)}")
        runs = stack.api.all_runs()
        for recipe in plan:
            for run in _demo_runs(runs, recipe):
                key = (recipe.dag_id, run["dag_run_id"])
                if key in done or run["state"] not in FINISHED:
                    continue
                done[key] = outcome = _outcome(stack, recipe, run)
                on_finished(outcome)
        time.sleep(2)
    order = {r.dag_id: i for i, r in enumerate(plan)}
    return sorted(done.values(), key=lambda o: (order[o.recipe.dag_id], o.run_id))


def _outcome(stack: Stack, recipe: Recipe, run: dict[str, Any]) -> RunOutcome:
    run_id = run["dag_run_id"]
    summary = stack.api.xcom(recipe.dag_id, run_id, SUMMARY_TASK, "stripe_run_summary")
    failed = [
        ti
        for ti in stack.api.task_instances(recipe.dag_id, run_id)
        if ti["state"] == "failed" and ti["task_id"] != SUMMARY_TASK
    ]
    # the note is written by the scheduler's listener as the run ends: read it again, now it has
    note = stack.api.run(recipe.dag_id, run_id).get("note") or ""
    return RunOutcome(recipe, run_id, run["state"], note, summary if isinstance(summary, dict) else None, failed)
