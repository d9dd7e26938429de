"""R5's dunning sweep on Celery + PostgreSQL + Redis ends as the same sweep does on SQLite through ``dag.test()``.

On the deployment the retry policy and the grace period wait in a real ``airflow triggerer`` (the
tasks defer; a Celery worker resumes them), in ``dag.test()`` their triggers run inline. The same
billing history is seeded on two local Stripe servers (the cluster's, and the session's for
``dag.test()``), both sweeps run side by side, and the test compares what each left in Stripe:
every invoice's and subscription's state, and every write request, with ids replaced by the
role of the object.

No race with real time: Stripe's clock is pinned at the moment the renewals failed, so each retry
schedule starts when its task first reads the invoice (the schedule counts from the failure, on
Stripe's clock) and every attempt comes due in turn; a wake-up that comes late makes the same
attempt, later. The retry window (20 s for 2 attempts) only sets how long the runs take; the grace period
(40 s) is on the worker's clock and outlasts any task start (see ``PARAMS``).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pendulum
import pytest

from tests.distributed.cluster import AirflowCluster, wait_until
from tests.testing.billing_helpers import customer, past_renewal, price, subscribe

pytestmark = pytest.mark.slow  # a real deployment: api-server, scheduler, DAG processor, triggerer, worker

DAG_ID = "stripe_annual_dunning"
RUN_ID = "dunning_sweep"
RUN_TIMEOUT = 300  # a safety net: the run waits about 30 s in the triggerer
# Two attempts 10 s apart, then 40 s of grace. The grace period counts on the worker's clock from
# the end of the retries, so it must outlast the grace task's start on a busy worker (a few
# seconds) to be waited in the triggerer at all; the retries count from the failure on Stripe's
# pinned clock, so their windows only set how long the run takes.
PARAMS = {"max_attempts": 2, "retry_window_days": 20 / 86400, "grace_days": 40 / 86400}
# Every subscriber signs up at this moment (Stripe's clock), so all renew together a period later.
SIGN_UP = pendulum.datetime(2026, 3, 2, 9)


def seed(server: Any) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """The history: yearly subscribers whose renewal is declined, one who pays after the decline, one monthly.

    Returns ``({role: {"sub": sub_…, "invoice": in_…, "customer": cus_…}}, run conf)``; Stripe's
    clock ends pinned at the moment the renewals failed.
    """
    client = server.client()
    yearly, monthly = price(client, 120000, interval="year"), price(client, 9900, interval="month")
    roles: dict[str, dict[str, str]] = {}
    plans = {"declined_1": yearly, "declined_2": yearly, "paid_after_decline": yearly, "monthly": monthly}
    for role, plan in plans.items():
        # the monthly one signs up eleven months later: all four renew at the same moment
        start = SIGN_UP.add(months=11) if plan is monthly else SIGN_UP
        server.set_clock(int(start.timestamp()), pin=True)
        cus = customer(client, card="pm_card_visa", email=f"{role}@example.com")
        sub = subscribe(client, cus.id, plan.id)
        failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
        client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": failing.id}})
        roles[role] = {"sub": sub.id, "customer": cus.id}
    past_renewal(server, client, roles["declined_1"]["sub"])  # the period's end + 2 hours
    failed_at = set()
    for one in roles.values():
        sub = client.v1.subscriptions.retrieve(one["sub"])
        invoice = client.v1.invoices.retrieve(sub.latest_invoice)
        assert (invoice.billing_reason, invoice.status, invoice.attempt_count) == ("subscription_cycle", "open", 1)
        one["invoice"] = invoice.id
        failed_at.add(invoice.status_transitions.finalized_at)
    (moment,) = failed_at
    # Stripe's clock stands at the failure: the sweep runs as it happens (see the module's docstring).
    server.set_clock(moment, pin=True)
    client.v1.invoices.pay(roles["paid_after_decline"]["invoice"], params={"payment_method": "pm_card_visa"})
    window = {
        "since": pendulum.from_timestamp(moment).subtract(hours=2).isoformat(),
        "until": pendulum.from_timestamp(moment).add(minutes=1).isoformat(),
    }
    return roles, {**PARAMS, **window}


def outcome(server: Any, roles: dict[str, dict[str, str]], writes_before: int) -> dict[str, Any]:
    """What the sweep left in Stripe, ids replaced by roles: each object's state, and the writes it made."""
    client = server.client()
    names = {one[kind]: f"<{role}.{kind}>" for role, one in roles.items() for kind in one}
    pattern = re.compile("|".join(map(re.escape, names)))

    def anonymous(text: str | None) -> str | None:
        return None if text is None else pattern.sub(lambda m: names[m.group(0)], text)

    state = {}
    for role, one in roles.items():
        inv = client.v1.invoices.retrieve(one["invoice"])
        sub = client.v1.subscriptions.retrieve(one["sub"])
        state[role] = {
            "invoice": (inv.status, inv.attempt_count, inv.amount_remaining, inv.metadata.to_dict()),
            "subscription": (sub.status, sub.cancellation_details.comment, sub.metadata.to_dict()),
        }
    writes = sorted(
        (r["method"], anonymous(r["path"]), anonymous(r["idempotency_key"]), r["status"])
        for r in server.write_requests()[writes_before:]
    )
    return {"state": state, "writes": writes}


def _finished_run(cluster: AirflowCluster) -> dict | None:
    cluster.assert_running()
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{RUN_ID}")
    response.raise_for_status()
    run = response.json()
    return run if run["state"] in ("success", "failed") else None


def _task_states(cluster: AirflowCluster) -> dict[str, str]:
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances", params={"limit": 100})
    response.raise_for_status()
    return {ti["task_id"].split(".")[-1]: ti["state"] for ti in response.json()["task_instances"]}


def _sent_to_celery(cluster: AirflowCluster) -> dict[str, int]:
    """Task -> how many times the scheduler sent it to Celery in this run (its log's "Trying to enqueue tasks").

    A deferred task goes back to a worker only once the triggerer has fired its trigger, so a task
    sent 1 + n times waited n times in the triggerer.
    """
    sent: dict[str, int] = {}
    one = re.compile(rf"<TaskInstance: {DAG_ID}\.(?:each_failed_invoice\.)?(\w+) {RUN_ID} ")
    for line in cluster.components["scheduler"].log().splitlines():
        if "Trying to enqueue tasks" in line:
            for task in one.findall(line):
                sent[task] = sent.get(task, 0) + 1
    return sent


def test_dunning_on_celery_ends_as_dag_test_on_sqlite(
    celery_cluster, module_stripe_server, stripe_server, stripe_connection, airflow_db, xcoms
):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO, run

    cluster = celery_cluster
    started = time.monotonic()
    cluster.unpause(DAG_ID)
    on_celery, conf = seed(module_stripe_server)
    in_process, conf_too = seed(stripe_server)
    assert conf_too == conf  # the same moments on both servers
    celery_writes, local_writes = len(module_stripe_server.write_requests()), len(stripe_server.write_requests())

    # The deployment's run, triggered as a user would ...
    response = cluster.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": RUN_ID, "logical_date": None, "conf": conf}
    )
    assert response.status_code == 200, response.text
    # ... and, while it runs, the same sweep through dag.test() on SQLite, in this process.
    dag = DagBag(dag_folder=str(REPO / "example_dags" / f"{DAG_ID}.py")).dags[DAG_ID]
    local_run, local_tis = run(dag, conf)
    celery_run = wait_until(lambda: _finished_run(cluster), timeout=RUN_TIMEOUT, what=f"run {RUN_ID} to finish")
    cluster.timings["both sweeps"] = time.monotonic() - started

    # Both runs succeeded, task for task.
    assert celery_run["state"] == "success"
    assert local_run.state == "success"
    local_states = {(k[0] if isinstance(k, tuple) else k).split(".")[-1]: ti.state for k, ti in local_tis.items()}
    assert _task_states(cluster) == local_states
    assert local_states["grace_period"] == "success" and local_states["mark_uncollectible"] == "success"

    # The same Stripe, ids aside: the declined renewals retried twice, canceled and written off, the
    # paid one left alone, the monthly one not touched; and the same writes, under the same keys.
    celery, local_outcome = (
        outcome(module_stripe_server, on_celery, celery_writes),
        outcome(stripe_server, in_process, local_writes),
    )
    assert celery == local_outcome
    state = celery["state"]
    for role in ("declined_1", "declined_2"):
        assert state[role]["invoice"][:2] == ("uncollectible", 1 + PARAMS["max_attempts"])
        assert state[role]["subscription"][0] == "canceled"
    assert state["paid_after_decline"]["invoice"][0] == "paid"
    assert state["paid_after_decline"]["subscription"][0] == "active"
    assert state["monthly"]["invoice"][:2] == ("open", 1) and state["monthly"]["subscription"][0] == "past_due"
    per_declined = [w for w in celery["writes"] if "<declined_1." in w[1]]
    assert [(method, path) for method, path, _, _ in per_declined] == [
        ("DELETE", "/v1/subscriptions/<declined_1.sub>"),
        ("POST", "/v1/invoices/<declined_1.invoice>/mark_uncollectible"),
        ("POST", "/v1/invoices/<declined_1.invoice>/pay"),
        ("POST", "/v1/invoices/<declined_1.invoice>/pay"),
    ]
    assert len(celery["writes"]) == 2 * len(per_declined)  # nothing about the paid or monthly ones
    # The run's summary (its XCom) is the same too.
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/run_summary/xcomEntries/return_value")
    response.raise_for_status()
    assert response.json()["value"] == xcoms(local_run)[("run_summary", "return_value")]
    # On the deployment the waits were the triggerer's: a wake-up per attempt (both invoices'
    # attempts come due together), and the grace period's.
    sent = _sent_to_celery(cluster)
    assert sent["retry_policy"] >= 1 + PARAMS["max_attempts"] and sent["grace_period"] == 2, sent
    assert sent["recheck_invoice"] == sent["cancel_subscription"] == sent["mark_uncollectible"] == 1, sent
    print("timings (s):", {name: round(seconds, 1) for name, seconds in cluster.timings.items()})
