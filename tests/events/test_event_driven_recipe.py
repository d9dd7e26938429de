"""End to end: a real triggerer, scheduler and DAG processor act on Stripe events within the poll interval, across a restart.

The demo's stack (``demo/stack.py``: api-server, scheduler, dag-processor, triggerer on SQLite, the
recipes in ``dags/``) with only ``recipe_early_fraud_warning_events`` unpaused: an early fraud
warning created on the local Stripe server must end in a refund of its charge, made by a run of that
DAG; with the triggerer stopped while warnings arrive and started again, each charge is refunded
exactly once, and so after a triggerer killed (SIGKILL) while warnings arrive; and a warning the
hourly sweep refunded first (while the triggerer was down) is found done by the watcher's run, not
refunded again. The event → refund latencies are written to ``/tmp`` for the README, never asserted.
"""

from __future__ import annotations

import json
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from demo import processes
from demo.stack import Stack, StackOptions
from tests.sensors.seeding import payment

pytestmark = pytest.mark.slow

DAG_ID = "recipe_early_fraud_warning_events"
SWEEP = "recipe_early_fraud_warning"  # the hourly sweep of the same recipe: the same action ids
POLL_INTERVAL = 10  # the recipe's trigger.poll_interval
# What a run needs after the poll: the scheduler's loop, a LocalExecutor task process per task.
ACT_TIMEOUT = 180
LATENCY_FILE = Path("/tmp/events-latency.json")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    stack = Stack(StackOptions(home=tmp_path_factory.mktemp("events_home"), api_port=0, parallelism=2))
    try:
        stack.start_servers()
        stack.start_airflow()
        stack.create_pool()
        stack.wait_for_dags([DAG_ID])
        stack.api.unpause(DAG_ID)
        yield stack
    finally:
        stack.stop()


def server(stack: Any) -> Any:
    return stack.servers[0]  # the local Stripe server, in this process


def warn(stack: Any, amount: int = 900) -> dict[str, Any]:
    """A charge under the dispute fee and its actionable early fraud warning (what the issuer reports)."""
    client = stack.stripe_client()
    return server(stack).create_early_fraud_warning(payment(client, amount).latest_charge)


def refunds(stack: Any, charge_id: str) -> list[Any]:
    return list(stack.stripe_client().v1.refunds.list(params={"charge": charge_id}).data)


def wait_refunded(stack: Any, charge_id: str, timeout: float = ACT_TIMEOUT) -> float:
    """Wait until the charge has a refund; return the seconds since now it took."""
    started = time.monotonic()
    processes.wait_until(
        lambda: stack.assert_running() or refunds(stack, charge_id),
        timeout=timeout,
        what=f"a refund of {charge_id} by {DAG_ID}",
        ok_errors=(OSError,),
    )
    return time.monotonic() - started


def watching(stack: Any) -> bool:
    """Whether the watcher has stored its cursor (its first poll ran): events from now on are its."""
    import sqlite3

    with sqlite3.connect(stack.home / "airflow.db", timeout=30) as db:
        return bool(db.execute("select count(*) from asset_state_store").fetchone()[0])


def asset_event_ids(stack: Any) -> list[str]:
    """The Stripe event ids the asset events of the DAG's asset carry (each carries one poll's)."""
    assets = stack.api.call("GET", "/assets", params={"name_pattern": DAG_ID})["assets"]
    (asset,) = assets
    events = stack.api.call("GET", "/assets/events", params={"asset_id": asset["id"], "limit": 500})["asset_events"]
    return [event_id for e in events for event_id in e["extra"]["payload"]["events"]]


def start_triggerer(stack: Any, log_name: str) -> None:
    """Start a new triggerer in the stack (after one was stopped or killed), its output to ``log_name``."""
    stack.children["triggerer"] = processes.start(
        "triggerer",
        ["-m", "airflow", "triggerer"],
        env=stack.env(),
        cwd=stack.home,
        log_path=stack.home / "demo" / log_name,
    )


def sweep(stack: Any, warning: dict[str, Any]) -> str:
    """Run the hourly sweep over a window holding ``warning`` (through the scheduler); its refund's id."""
    import pendulum

    created = pendulum.from_timestamp(warning["created"])
    run_id = f"sweep_{warning['id']}"
    conf = {"since": created.subtract(minutes=1).isoformat(), "until": created.add(minutes=1).isoformat()}
    stack.api.unpause(SWEEP)
    stack.api.trigger(SWEEP, run_id, conf)
    processes.wait_until(
        # (not assert_running: the triggerer is stopped meanwhile, which the sweep does not need)
        lambda: stack.api.run(SWEEP, run_id)["state"] in ("success", "failed"),
        timeout=ACT_TIMEOUT,
        what=f"the sweep's run {run_id}",
        ok_errors=(OSError,),
    )
    assert stack.api.run(SWEEP, run_id)["state"] == "success"
    stack.api.call("PATCH", f"/dags/{SWEEP}", json={"is_paused": True})  # no scheduled sweeps meanwhile
    (refund,) = refunds(stack, warning["charge"])
    return str(refund.id)


def already_done_by_watcher(stack: Any) -> int:
    """How many refunds the watcher's finished runs found done already (their run summaries)."""
    total = 0
    for run in stack.api.all_runs():
        if run["dag_id"] != DAG_ID or run["state"] != "success":
            continue
        summary = stack.api.xcom(DAG_ID, run["dag_run_id"], "run_summary", "stripe_run_summary") or {}
        total += int(((summary.get("actions") or {}).get("refund") or {}).get("already_done") or 0)
    return total


def test_each_warning_is_refunded_once_by_a_run_within_the_poll_interval_and_across_a_triggerer_restart(stack):
    processes.wait_until(
        lambda: watching(stack), timeout=ACT_TIMEOUT, what="the watcher's first poll", ok_errors=(OSError,)
    )
    latencies = []
    first = []
    for _ in range(3):
        warning = warn(stack)
        latencies.append(wait_refunded(stack, warning["charge"]))
        first.append(warning)

    # Stop the triggerer, let warnings arrive while it is down (and one just before), start it again.
    before_stop = warn(stack)
    triggerer = stack.children["triggerer"]
    triggerer.stop(grace=30)
    while_down = [warn(stack) for _ in range(2)]
    # The hourly sweep gets to one of them first: its run refunds it (same action id, key and mark).
    swept = warn(stack)
    sweep_refund = sweep(stack, swept)
    start_triggerer(stack, "triggerer-2.log")
    for warning in [before_stop, *while_down]:
        wait_refunded(stack, warning["charge"])

    # Killed this time (SIGKILL: no goodbye, the cursor one poll behind), with warnings arriving meanwhile.
    killed = stack.children["triggerer"]
    killed.remember_descendants()
    killed.signal_group(signal.SIGKILL)
    killed.process.wait(timeout=30)
    killed.stop(grace=1)  # any trigger runner that left the group: killed too, as a crash would
    while_dead = [warn(stack) for _ in range(2)]
    start_triggerer(stack, "triggerer-3.log")
    # A new triggerer takes over the dead one's watcher once its heartbeat is stale (30 s by default).
    for warning in while_dead:
        wait_refunded(stack, warning["charge"], timeout=ACT_TIMEOUT + 60)

    everyone = [*first, before_stop, *while_down, swept, *while_dead]
    created = {e["data"]["object"]["id"]: e["id"] for e in server(stack).events("radar.early_fraud_warning.created")}
    # the watcher's run over the swept warning ended, finding its refund done
    processes.wait_until(
        lambda: stack.assert_running() or already_done_by_watcher(stack) >= 1,
        timeout=ACT_TIMEOUT,
        what="the watcher's run over the warning the sweep refunded",
        ok_errors=(OSError,),
    )
    for warning in everyone:
        (refund,) = refunds(stack, warning["charge"])  # exactly one, whatever the asset events
        assert refund.status == "succeeded" and refund.metadata["early_fraud_warning"] == warning["id"]
    assert refunds(stack, swept["charge"])[0].id == sweep_refund  # the sweep's, found by the watcher's run
    seen = asset_event_ids(stack)
    assert {created[w["id"]] for w in everyone} <= set(seen)  # none lost
    repeated = len(seen) - len(set(seen))  # re-yielded after the restart: the runs found the refunds done
    runs = [r for r in stack.api.all_runs() if r["dag_id"] == DAG_ID]
    assert all(r["state"] in ("success", "running", "queued") for r in runs), runs
    LATENCY_FILE.write_text(
        json.dumps(
            {
                "latencies_s": [round(x, 2) for x in latencies],
                "median_s": round(statistics.median(latencies), 2),
                "poll_interval_s": POLL_INTERVAL,
                "stripe_events_in_asset_events": len(seen),
                "repeated_stripe_events": repeated,
                "runs": len(runs),
            }
        )
    )
