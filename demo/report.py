"""What the demo prints: a line per run as it ends, then per recipe what it did, from the run summaries.

The counts are the runs' own: each run's ``stripe_run_summary`` XCom (what its tasks tallied),
added up per recipe and written as the run note's first line is
(:func:`airflow_stripe_automation.run_note.counts_line`). A task that failed as planned (a declined
card) is one line with Stripe's reason, read from the task's log, never a traceback.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_stripe_automation.run_note import counts_line
from airflow_stripe_automation.run_summary import RunSummary
from demo.plan import Recipe, RunOutcome
from demo.stack import Stack


def summary_of(outcomes: list[RunOutcome]) -> RunSummary:
    """The runs' summaries added up (each run's per-action tallies)."""
    tallies: list[Any] = []
    for outcome in outcomes:
        tallies += list(((outcome.summary or {}).get("actions") or {}).values())
    return RunSummary.of(tallies)


def run_line(outcome: RunOutcome) -> str:
    """``  ✓ R2 recipe_personalize_orders demo_window: Stripe: 2 mailed`` (the note's first line)."""
    mark = "✓" if outcome.state == "success" else "✗"
    first = outcome.note.splitlines()[0] if outcome.note else "(no note)"
    return f"  {mark} {outcome.recipe.code:<3} {outcome.recipe.dag_id} {outcome.run_id}: {first}"


def recipe_line(recipe: Recipe, outcomes: list[RunOutcome]) -> str:
    """``R1  pay_per_lead  3 runs (2 success, 1 failed)  Stripe: 2 charged ($65.00), 1 failed``."""
    states = [o.state for o in outcomes]
    tally = ", ".join(f"{states.count(s)} {s}" for s in ("success", "failed") if s in states)
    runs = f"{len(outcomes)} run{'s' if len(outcomes) != 1 else ''} ({tally})"
    return f"{recipe.code:<4}{recipe.dag_id:<34}{runs:<26}{counts_line(summary_of(outcomes))}"


def failure_lines(stack: Stack, outcome: RunOutcome) -> list[str]:
    """One line per failed task of the run: the task and the error's own message (Stripe's reason)."""
    lines = []
    for ti in outcome.failed_tasks:
        reason = _error_message(stack, outcome, ti) or "see its log in the UI"
        label = ti.get("rendered_map_index") or ti["task_id"]
        lines.append(f"      {outcome.recipe.code} {outcome.run_id}: task {label} failed: {reason}")
    return lines


def _error_message(stack: Stack, outcome: RunOutcome, ti: dict[str, Any]) -> str | None:
    """The exception's message in the task's log (the structured log's ``error_detail``), one line."""
    path = (
        f"/dags/{outcome.recipe.dag_id}/dagRuns/{quote(outcome.run_id, safe='')}/taskInstances/"
        f"{ti['task_id']}/logs/{ti.get('try_number') or 1}"
    )
    try:
        body = stack.api.call(
            "GET",
            path,
            params={"map_index": ti.get("map_index", -1), "full_content": True},
            headers={"Accept": "application/json"},
        )
    except Exception:  # the reason is a courtesy: the run's state is what counts
        return None
    for entry in reversed(body.get("content") or [] if isinstance(body, dict) else []):
        if not isinstance(entry, dict):
            continue
        for detail in entry.get("error_detail") or []:
            if isinstance(detail, dict) and detail.get("exc_value"):
                return f"{detail.get('exc_type', 'error')}: {str(detail['exc_value']).splitlines()[0]}"
    return None


def login_lines(stack: Stack) -> list[str]:
    return [
        f"  Airflow UI    {stack.api_url}/",
        f"  log in as     {stack.api.user} / {stack.password}   (the simple auth manager's user, made for this demo)",
        f"  Stripe        {stack.stripe_url}  (the local server; a task's 'Stripe dashboard' link opens its object)",
        f"  Airflow home  {stack.home}  (components' output in {stack.home / 'demo'})",
    ]
