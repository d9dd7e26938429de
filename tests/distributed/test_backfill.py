"""Backfills for real: ``airflow backfill create`` over three past months of R6 and R5, on PostgreSQL and Celery.

The history is seeded on the local Stripe server at the moments it happened (its clock moved to
each one and pinned there): invoices falling due and yearly renewals declined, one every few weeks
from February to April 2026. Then, with Stripe's clock pinned a day after the last week, the
deployment backfills each DAG over those thirteen weeks, reprocesses the same weeks, and the test
counts what reached Stripe and the SMTP sink.

The DAGs are the example files, copied with their cadence changed from daily to weekly (the only
change, asserted), so three months are 13 runs and not 90 on a two-core machine; every sweep reads
its run's data interval as the daily ones do. The weeks are fixed, in the DAGs' first months, so
the test means the same on any later date; nothing depends on the machine's date or speed, and the
scheduler makes no runs of its own (``[scheduler] use_job_schedule`` off): every run is a backfill's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.distributed.cluster import AirflowCluster, wait_until
from tests.distributed.conftest import start_celery_cluster
from tests.sensors import seeding

pytestmark = pytest.mark.slow  # a real deployment: api-server, scheduler, DAG processor, triggerer, worker

HOUR, DAY = 3600, 86400
R6, R5 = "stripe_overdue_invoice_alert", "stripe_annual_dunning"
DAILY = 'CronDataIntervalTimetable("@daily", timezone="UTC")'
WEEKLY = 'CronDataIntervalTimetable("@weekly", timezone="UTC")'
# Thirteen weekly runs, Sunday to Sunday: 2026-02-01 .. 2026-05-03 (the last logical date is 04-26).
FIRST_WEEK = pendulum.datetime(2026, 2, 1)
LAST_WEEK = pendulum.datetime(2026, 4, 26)
WEEKS = 13
# Stripe's clock while the backfills run (pinned): a day after the last week ends.
SWEEP_CLOCK = pendulum.datetime(2026, 5, 4, 12)
BACKFILL_TIMEOUT = 600  # a safety net only: nothing here waits on a real-time schedule
# R5 in a backfill: every attempt of a week-long schedule is long past, so each invoice gets one
# catch-up attempt (the last slot's) and no wait; no grace period, so the run ends when the retries do.
R5_CONF = {"max_attempts": 2, "retry_window_days": 7, "grace_days": 0}


def ts(moment: pendulum.DateTime) -> int:
    return int(moment.timestamp())


def week_of(moment: int) -> str:
    """The logical date (ISO) of the weekly run whose data interval holds ``moment``."""
    day = pendulum.from_timestamp(moment).start_of("day")
    return day.subtract(days=(day.day_of_week + 1) % 7).isoformat()  # back to Sunday (Monday is 0)


# -- the history -----------------------------------------------------------------------------------


@dataclass
class History:
    """What was seeded, and what each backfill should make of it."""

    overdue: dict[str, int] = field(default_factory=dict)  # invoice -> due date: one mail each
    not_mailed: dict[str, str] = field(default_factory=dict)  # invoice -> why R6 leaves it alone
    dunned: dict[str, dict[str, Any]] = field(default_factory=dict)  # renewal invoice -> its subscription, failure
    paid_renewal: dict[str, Any] = field(default_factory=dict)  # failed, then paid by the customer before the sweep
    renewed: str = ""  # a renewal whose card worked: nothing to dun


@pytest.fixture(scope="module")
def history(module_stripe_server) -> History:
    """Three months of billing, seeded in time order with Stripe's clock on each moment; ends pinned at SWEEP_CLOCK."""
    server = module_stripe_server
    client = server.client()
    found = History()
    steps: list[tuple[int, Callable[[], None]]] = []

    # R6: send_invoice invoices issued 30 days before they fall due.
    def invoice(due: pendulum.DateTime, amount: int, why_not: str | None = None, paid_on: int | None = None) -> None:
        def issue() -> None:
            inv = seeding.open_invoice(client, due_date=ts(due), amount=amount)
            (found.not_mailed.__setitem__(inv.id, why_not) if why_not else found.overdue.__setitem__(inv.id, ts(due)))
            if paid_on:
                steps.append((paid_on, lambda: client.v1.invoices.pay(inv.id, params={"paid_out_of_band": True})))

        steps.append((ts(due.subtract(days=30)), issue))

    invoice(pendulum.datetime(2026, 2, 12, 15), 60000)
    invoice(pendulum.datetime(2026, 3, 10, 9), 75000)
    invoice(pendulum.datetime(2026, 4, 29, 18), 120000)  # the last week
    invoice(pendulum.datetime(2026, 3, 3, 11), 20000, why_not="under 500.00 USD due")
    paid_on = ts(pendulum.datetime(2026, 3, 20, 12))
    invoice(pendulum.datetime(2026, 3, 24, 12), 90000, why_not="paid before its due date", paid_on=paid_on)
    invoice(pendulum.datetime(2026, 5, 20, 12), 80000, why_not="not due until after the backfilled weeks")

    # R5: yearly subscriptions started a year before their renewal, the card swapped for a
    # declining one after the first payment. Stripe's own retries are turned off on each declined
    # renewal (auto_advance false, as when the DAG does the dunning), so only the DAG retries.
    yearly = seeding.recurring_price(client, "year")

    def renewal(renews: pendulum.DateTime, outcome: str) -> None:
        state: dict[str, Any] = {}

        def subscribe() -> None:
            cus = seeding.paying_customer(client, "pm_card_visa", f"{outcome}-{renews.month}@example.com")
            state["sub"] = seeding.subscription(client, cus, yearly)
            if outcome != "renewed":
                failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
                client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": failing.id}})

        def after_renewal() -> None:  # the renewal invoice is charged an hour after the period end
            sub = client.v1.subscriptions.retrieve(state["sub"].id)
            inv = client.v1.invoices.retrieve(sub.latest_invoice)
            assert inv.billing_reason == "subscription_cycle" and inv.created == ts(renews), inv
            if outcome == "renewed":
                assert inv.status == "paid"
                found.renewed = inv.id
                return
            assert (inv.status, inv.attempt_count, sub.status) == ("open", 1, "past_due")
            client.v1.invoices.update(inv.id, params={"auto_advance": False})
            one = {"subscription": sub.id, "failed_at": inv.status_transitions.finalized_at}
            if outcome == "paid":
                found.paid_renewal = {"invoice": inv.id, **one}
                pay = lambda: client.v1.invoices.pay(inv.id, params={"payment_method": "pm_card_visa"})  # noqa: E731
                steps.append((ts(renews.add(days=2)), pay))
            else:
                found.dunned[inv.id] = one

        steps.append((ts(renews.subtract(years=1)), subscribe))
        steps.append((ts(renews) + 2 * HOUR, after_renewal))

    renewal(pendulum.datetime(2026, 2, 10, 10), "declined")
    renewal(pendulum.datetime(2026, 3, 18, 10), "declined")
    renewal(pendulum.datetime(2026, 3, 25, 10), "renewed")
    renewal(pendulum.datetime(2026, 4, 14, 10), "paid")  # inside Stripe's 30 days of events at the sweep
    renewal(pendulum.datetime(2026, 4, 22, 10), "declined")

    while steps:  # in time order; a step may add a later one
        steps.sort(key=lambda step: step[0])
        moment, step = steps.pop(0)
        server.set_clock(moment, pin=True)
        step()
    server.set_clock(ts(SWEEP_CLOCK), pin=True)
    assert len(found.overdue) == 3 and len(found.dunned) == 3 and found.paid_renewal and found.renewed
    return found


# -- the deployment --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weekly_examples(tmp_path_factory) -> Path:
    """A DAG folder with the R5 and R6 example files, their daily timetable made weekly (nothing else changed)."""
    from tests.conftest import REPO

    folder = tmp_path_factory.mktemp("weekly-dags")
    for dag_id in (R6, R5):
        source = (REPO / "example_dags" / f"{dag_id}.py").read_text()
        assert source.count(DAILY) == 1, f"{dag_id}: expected one {DAILY}"
        (folder / f"{dag_id}.py").write_text(source.replace(DAILY, WEEKLY))
    return folder


@pytest.fixture(scope="module")
def backfill_cluster(
    request, airflow_database, module_stripe_server, module_smtp_sink, weekly_examples, tmp_path_factory
) -> Iterator[AirflowCluster]:
    yield from start_celery_cluster(
        request,
        airflow_database,
        module_stripe_server,
        tmp_path_factory.mktemp("airflow-backfill"),
        dags_folder=weekly_examples,
        extra_env={
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(module_smtp_sink.airflow_connection()),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # no scheduled runs: each run is a backfill's
        },
    )


def _backfill(cluster: AirflowCluster, name: str, dag_id: str, *options: str) -> dict[str, Any]:
    """``airflow backfill create`` over the thirteen weeks, as an operator runs it; wait until it completes."""
    before = {b["id"] for b in _backfills(cluster, dag_id)}
    started = time.monotonic()
    cluster.run(
        name,
        "backfill",
        "create",
        "--dag-id",
        dag_id,
        "--from-date",
        FIRST_WEEK.isoformat(),
        "--to-date",
        LAST_WEEK.isoformat(),
        *options,
    )
    (backfill,) = [b for b in _backfills(cluster, dag_id) if b["id"] not in before]
    done = wait_until(
        lambda: cluster.assert_running() or _completed(cluster, backfill["id"]),
        timeout=BACKFILL_TIMEOUT,
        what=f"backfill {backfill['id']} of {dag_id} to complete",
        interval=2,
    )
    cluster.timings[name] = time.monotonic() - started
    return done


def _backfills(cluster: AirflowCluster, dag_id: str) -> list[dict[str, Any]]:
    response = cluster.api("GET", "/backfills", params={"dag_id": dag_id})
    response.raise_for_status()
    return response.json()["backfills"]


def _completed(cluster: AirflowCluster, backfill_id: int) -> dict[str, Any] | None:
    response = cluster.api("GET", f"/backfills/{backfill_id}")
    response.raise_for_status()
    backfill = response.json()
    return backfill if backfill["completed_at"] else None


def _runs(cluster: AirflowCluster, dag_id: str) -> dict[str, dict[str, Any]]:
    """The DAG's runs by logical date (ISO, UTC)."""
    response = cluster.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})
    response.raise_for_status()
    return {pendulum.parse(run["logical_date"]).isoformat(): run for run in response.json()["dag_runs"]}


def _xcom(cluster: AirflowCluster, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    response = cluster.api(
        "GET",
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
        params={"map_index": map_index},
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()["value"]


def _found_by_week(cluster: AirflowCluster, dag_id: str, sensor: str, runs: dict[str, dict]) -> dict[str, list[str]]:
    """Week -> the objects its sweep found (the sensor's tickets: one batch each here)."""
    by_week = {}
    for week, run in runs.items():
        tickets = _xcom(cluster, dag_id, run["dag_run_id"], sensor) or []
        assert all(t["count"] == 1 and t["first"] == t["last"] for t in tickets), tickets
        by_week[week] = [t["first"] for t in tickets]
    return by_week


def _weeks() -> list[str]:
    return [FIRST_WEEK.add(weeks=n).isoformat() for n in range(WEEKS)]


def _writes_about(server, since: int, *ids: str) -> list[tuple[str, str, str | None]]:
    """(method, path, idempotency key) of every write after the first ``since`` whose path names one of ``ids``."""
    return [
        (r["method"], r["path"], r["idempotency_key"])
        for r in server.write_requests()[since:]
        if any(i in r["path"] for i in ids)
    ]


# -- R6 --------------------------------------------------------------------------------------------


def test_r6_backfill_mails_each_overdue_invoice_once_in_its_week_and_a_reprocess_mails_nothing(
    backfill_cluster, module_stripe_server, module_smtp_sink, history
):
    cluster, server, sink = backfill_cluster, module_stripe_server, module_smtp_sink
    started = time.monotonic()
    cluster.unpause(R6)
    mails_before, writes_before = len(sink.messages), len(server.write_requests())

    _backfill(cluster, "backfill-r6", R6, "--max-active-runs", "4")

    runs = _runs(cluster, R6)
    assert sorted(runs) == _weeks()
    assert {run["run_type"] for run in runs.values()} == {"backfill"}
    assert {week: run["state"] for week, run in runs.items()} == dict.fromkeys(_weeks(), "success")
    # Each overdue invoice is found by the one run whose week holds its due date, and by no other.
    found = _found_by_week(cluster, R6, "invoice_overdue", runs)
    expected = {week: [] for week in _weeks()}
    for invoice_id, due in history.overdue.items():
        expected[week_of(due)].append(invoice_id)
    assert found == expected
    # One mail per overdue invoice, none about the others; saying how late it is to Stripe's clock now.
    client = server.client()
    mails = sink.messages[mails_before:]
    numbers = {client.v1.invoices.retrieve(i).number: (i, due) for i, due in history.overdue.items()}
    assert sorted(m.subject.split()[1] for m in mails) == sorted(numbers)
    for mail in mails:
        invoice_id, due = numbers[mail.subject.split()[1]]
        assert mail.to == "collections@example.com"
        assert f"has been overdue for {(ts(SWEEP_CLOCK) - due) // DAY} days" in mail.body
    not_numbers = {client.v1.invoices.retrieve(i).number for i in history.not_mailed}
    assert not any(number in m.subject or number in m.body for m in mails for number in not_numbers)
    # What reached Stripe: the mail marks on the overdue invoices, nothing on the others.
    writes = server.write_requests()[writes_before:]
    assert writes and {r["path"] for r in writes} <= {f"/v1/invoices/{i}" for i in history.overdue}
    for week, run in runs.items():
        assert ("mail: 1 done" in (run["note"] or "")) == bool(expected[week]), (week, run["note"])

    # Reprocessing the same weeks runs every run again and mails nothing: the marks say "sent".
    writes_done, mails_done = len(server.write_requests()), len(sink.messages)
    _backfill(cluster, "backfill-r6-reprocess", R6, "--max-active-runs", "4", "--reprocess-behavior", "completed")
    again = _runs(cluster, R6)
    assert {week: run["state"] for week, run in again.items()} == dict.fromkeys(_weeks(), "success")
    assert {week: run["dag_run_id"] for week, run in again.items()} == {w: r["dag_run_id"] for w, r in runs.items()}
    assert all(pendulum.parse(again[w]["end_date"]) > pendulum.parse(runs[w]["end_date"]) for w in _weeks())
    assert _found_by_week(cluster, R6, "invoice_overdue", again) == expected  # found again ...
    assert len(sink.messages) == mails_done  # ... and not mailed again
    assert len(server.write_requests()) == writes_done
    cluster.timings["R6 test"] = time.monotonic() - started
    print("timings (s):", {name: round(seconds, 1) for name, seconds in cluster.timings.items()})


# -- R5 --------------------------------------------------------------------------------------------


def test_r5_backfill_duns_each_failed_renewal_once_in_its_week_and_a_reprocess_writes_nothing(
    backfill_cluster, module_stripe_server, history
):
    cluster, server = backfill_cluster, module_stripe_server
    client = server.client()
    started = time.monotonic()
    cluster.unpause(R5)
    writes_before = len(server.write_requests())

    _backfill(cluster, "backfill-r5", R5, "--max-active-runs", "4", "--dag-run-conf", json.dumps(R5_CONF))

    runs = _runs(cluster, R5)
    assert sorted(runs) == _weeks()
    assert {week: run["state"] for week, run in runs.items()} == dict.fromkeys(_weeks(), "success")
    assert all(run["conf"] == R5_CONF for run in runs.values())
    # Each failed renewal is found by the run whose week holds its failure, and by no other. The one
    # its customer paid since is found in its own week (from the week's events) or, when the sweep
    # reads the week from the invoices as they are now (beyond Stripe's 30 days of events), not at all.
    found = _found_by_week(cluster, R5, "subscription_payment_failed", runs)
    paid = history.paid_renewal
    paid_week = week_of(paid["failed_at"])
    assert all(paid["invoice"] not in ids for week, ids in found.items() if week != paid_week)
    expected = {week: [] for week in _weeks()}
    for invoice_id, one in history.dunned.items():
        expected[week_of(one["failed_at"])].append(invoice_id)
    assert {week: [i for i in ids if i != paid["invoice"]] for week, ids in found.items()} == expected
    # One dunning flow per failed renewal: the schedule, counted from the failure, was over long
    # ago, so one catch-up attempt in its last slot (the other missed), then cancel and write off.
    for invoice_id, one in history.dunned.items():
        run = runs[week_of(one["failed_at"])]
        (result,) = _xcom(cluster, R5, run["dag_run_id"], "each_failed_invoice.retry_policy", 0)
        assert (result["invoice"], result["outcome"], result["attempts"], result["missed"]) == (
            invoice_id,
            "exhausted",
            2,
            1,
        )
        inv = client.v1.invoices.retrieve(invoice_id)
        assert (inv.status, inv.attempt_count) == ("uncollectible", 2)  # Stripe's renewal attempt + ours
        assert client.v1.subscriptions.retrieve(one["subscription"]).status == "canceled"
        writes = _writes_about(server, writes_before, invoice_id, one["subscription"])
        assert [(method, path) for method, path, _ in writes] == [
            ("POST", f"/v1/invoices/{invoice_id}/pay"),
            ("DELETE", f"/v1/subscriptions/{one['subscription']}"),
            ("POST", f"/v1/invoices/{invoice_id}/mark_uncollectible"),
        ], writes
        assert writes[0][2].endswith("/attempt/2")  # the last slot's key
    # The renewal paid by its customer is left alone (if found, the retry policy stops at once:
    # paid); the one that renewed is nobody's business.
    if paid["invoice"] in found[paid_week]:
        (result,) = _xcom(cluster, R5, runs[paid_week]["dag_run_id"], "each_failed_invoice.retry_policy", 0)
        assert (result["invoice"], result["outcome"], result["attempts"]) == (paid["invoice"], "paid", 0)
    assert client.v1.subscriptions.retrieve(paid["subscription"]).status == "active"
    assert client.v1.invoices.retrieve(paid["invoice"]).status == "paid"
    assert client.v1.invoices.retrieve(history.renewed).status == "paid"
    dunned_ids = {*history.dunned, *(one["subscription"] for one in history.dunned.values())}
    assert all(any(i in r["path"] for i in dunned_ids) for r in server.write_requests()[writes_before:])

    # Reprocessing: every run again, every written-off invoice found closed; no write, no wait.
    writes_done = len(server.write_requests())
    _backfill(
        cluster,
        "backfill-r5-reprocess",
        R5,
        "--max-active-runs",
        "4",
        "--dag-run-conf",
        json.dumps(R5_CONF),
        "--reprocess-behavior",
        "completed",
    )
    again = _runs(cluster, R5)
    assert {week: run["state"] for week, run in again.items()} == dict.fromkeys(_weeks(), "success")
    for invoice_id, one in history.dunned.items():
        (result,) = _xcom(
            cluster, R5, again[week_of(one["failed_at"])]["dag_run_id"], "each_failed_invoice.retry_policy", 0
        )
        assert (result["invoice"], result["outcome"]) == (invoice_id, "closed")
    assert len(server.write_requests()) == writes_done
    cluster.timings["R5 test"] = time.monotonic() - started
    print("timings (s):", {name: round(seconds, 1) for name, seconds in cluster.timings.items()})
