"""R1 under Airflow's distributed executor: PostgreSQL, Redis, CeleryExecutor, one process per component.

The provider must hold no module-level state, keep no local file as state and assume no single
process: here the DAG is parsed by the DAG processor, scheduled by the scheduler, run by a Celery
worker (each with its own ``AIRFLOW_HOME``) and watched through the API server, while the local
Stripe server lives in the test process. The test looks only where a user or an operator would: the
REST API, Stripe, the metadata and Celery result databases, the components' logs and log folders.
"""

from __future__ import annotations

import time

import pytest

from tests.distributed.cluster import AirflowCluster, wait_until

pytestmark = pytest.mark.slow  # a real deployment: api-server, scheduler, workers

DAG_ID = "stripe_pay_per_lead"
TASK_ID = "charge_lead"
RUN_TIMEOUT = 180
LEADS = {
    "lead_17": {"amount": 4200, "description": "Lead fee #17", "shown": "$42.00"},
    "lead_18": {"amount": 1750, "description": "Lead fee #18", "shown": "$17.50"},
}


@pytest.fixture
def customer(module_stripe_server):
    """A saved customer whose default payment method is a Visa test card."""
    client = module_stripe_server.client()
    cus = client.v1.customers.create(params={"email": "lead-buyer@example.com", "name": "Lead Buyer"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return cus


def _finished_run(cluster: AirflowCluster, run_id: str) -> dict | None:
    cluster.assert_running()
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
    response.raise_for_status()
    run = response.json()
    return run if run["state"] in ("success", "failed") else None


def _task_instance(cluster: AirflowCluster, run_id: str) -> dict:
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}")
    response.raise_for_status()
    return response.json()


def _celery_success(cluster: AirflowCluster, run_id: str) -> str | None:
    """The Celery task id the executor gave this run's task, once Celery's result backend says SUCCESS."""
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{cluster.database}") as conn:
        (celery_id,) = conn.execute(
            "SELECT external_executor_id FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = %s",
            (DAG_ID, run_id, TASK_ID),
        ).fetchone()
        row = conn.execute("SELECT status FROM celery_taskmeta WHERE task_id = %s", (celery_id,)).fetchone()
    return celery_id if row and row[0] == "SUCCESS" else None


def test_pay_per_lead_runs_on_celery_workers(celery_cluster, module_stripe_server, customer):
    cluster = celery_cluster
    started = time.monotonic()

    # the DAG processor parsed the DAG file into the database; unpause and trigger two leads
    cluster.unpause(DAG_ID)
    for run_id, lead in LEADS.items():
        conf = {"customer_id": customer.id, "amount": lead["amount"], "description": lead["description"]}
        response = cluster.api(
            "POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf}
        )
        assert response.status_code == 200, response.text

    runs = {
        run_id: wait_until(
            lambda run_id=run_id: _finished_run(cluster, run_id), timeout=RUN_TIMEOUT, what=f"run {run_id} to finish"
        )
        for run_id in LEADS
    }
    cluster.timings["trigger to both runs finished"] = time.monotonic() - started

    # what the Airflow user sees: both runs and their task succeeded, on our Celery queue
    assert {run_id: run["state"] for run_id, run in runs.items()} == dict.fromkeys(LEADS, "success")
    # the run page's note, written by the provider's listener in the scheduler: what the run did
    for run_id, lead in LEADS.items():
        assert runs[run_id]["note"] == (
            f"Stripe: 1 charged ({lead['shown']})\n\n**What this run did in Stripe**\n- charge: 1 done ({lead['shown']})"
        )
    tis = {run_id: _task_instance(cluster, run_id) for run_id in LEADS}
    for ti in tis.values():
        assert (ti["state"], ti["try_number"], ti["queue"]) == ("success", 1, cluster.queue)
        assert ti["hostname"] and ti["pid"]

    # what Stripe holds: exactly one succeeded PaymentIntent per run, for the right amount and customer
    client = module_stripe_server.client()
    intents = list(client.v1.payment_intents.list(params={"customer": customer.id, "limit": 100}).auto_paging_iter())
    by_run = {pi.metadata["lead_run"]: pi for pi in intents}
    assert len(intents) == len(by_run) == 2
    for run_id, lead in LEADS.items():
        pi = by_run[run_id]
        assert (pi.status, pi.amount, pi.currency, pi.customer, pi.description) == (
            "succeeded",
            lead["amount"],
            "usd",
            customer.id,
            lead["description"],
        )
    posts = [r for r in module_stripe_server.write_requests() if r["path"] == "/v1/payment_intents"]
    # one write per run, under a key derived from that run
    assert sorted(run_id for post in posts for run_id in LEADS if run_id in post["idempotency_key"]) == sorted(LEADS)

    # where the task ran: a Celery worker took each task off the broker and recorded success in the
    # result backend, under the id the scheduler's executor gave it ...
    worker = cluster.components["celery-worker"]
    for run_id in LEADS:
        # (the Celery task ends a moment after the Airflow task: when the task's supervisor exits)
        celery_id = wait_until(
            lambda run_id=run_id: _celery_success(cluster, run_id),
            timeout=60,
            what=f"Celery's result backend to record {run_id}'s task",
        )
        assert f"[{celery_id}] Executing workload in Celery" in worker.log()
    # ... and wrote the task log in the worker's own AIRFLOW_HOME, which no other component shares;
    # the API server (without that file) serves it from the worker's log server
    for run_id, lead in LEADS.items():
        log_dir = f"logs/dag_id={DAG_ID}/run_id={run_id}/task_id={TASK_ID}"
        assert (worker.home / log_dir).is_dir()
        assert not any((c.home / log_dir).exists() for c in cluster.components.values() if c is not worker)
        response = cluster.api(
            "GET",
            f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}/logs/1",
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 200, response.text
        assert f"Done: a charge of {lead['shown']} to {customer.id}: pi_" in response.text
    # the API key reached no log: neither a component's nor a task's
    key = module_stripe_server.api_key
    assert not any(key in c.log() for c in cluster.components.values())
    task_logs = [path for path in (worker.home / "logs").rglob("*") if path.is_file()]
    assert task_logs and not any(key in path.read_text(errors="replace") for path in task_logs)
    print("timings (s):", {name: round(seconds, 1) for name, seconds in cluster.timings.items()})
