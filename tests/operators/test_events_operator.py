"""StripeTriggeringObjectsOperator: a run's asset events become the sweep's batches, filtered by the recipe's condition."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from airflow.sdk import Asset

from airflow_stripe_automation.finders import EarlyFraudWarningFinder
from airflow_stripe_automation.operators.events import StripeTriggeringObjectsOperator, stripe_events_asset


def asset_event(*objects: dict[str, Any], status: str = "success") -> Any:
    """What ``triggering_asset_events`` holds: the trigger's payload under ``extra["payload"]``."""
    payload = {"status": status, "events": [f"evt_{o['id']}" for o in objects], "objects": list(objects)}
    return SimpleNamespace(extra={"from_trigger": True, "payload": payload})


def pi(id_: str, amount: int, currency: str = "usd", status: str = "succeeded") -> dict[str, Any]:
    return {"id": id_, "object": "payment_intent", "amount": amount, "currency": currency, "status": status}


def run(operator: StripeTriggeringObjectsOperator, *events: Any) -> Any:
    return operator.execute({"triggering_asset_events": {Asset("stripe://events/x"): list(events)}})  # type: ignore[arg-type]


def test_the_objects_meeting_the_condition_come_in_batches_each_once_in_its_latest_snapshot():
    operator = StripeTriggeringObjectsOperator(
        task_id="payment_succeeded",
        condition={"field": "amount", "op": "gt", "value": 100000, "currency": "usd"},
        batch_size=2,
    )
    batches = run(
        operator,
        asset_event(pi("pi_1", 150000), pi("pi_2", 50000), pi("pi_3", 250000, "eur")),
        asset_event(pi("pi_4", 300000), pi("pi_1", 150000, status="requires_action")),
        asset_event(pi("pi_5", 120000)),
    )
    assert [[o["id"] for o in batch] for batch in batches] == [["pi_4", "pi_1"], ["pi_5"]]
    assert batches[0][1]["status"] == "requires_action"  # the later event's snapshot


def test_error_events_and_a_run_without_asset_events_hand_on_nothing():
    operator = StripeTriggeringObjectsOperator(task_id="early_fraud_warning")
    assert run(operator) == []
    assert run(operator, asset_event(pi("pi_1", 1), status="error")) == []


def test_the_asset_is_named_for_the_dag_and_watched_by_the_events_trigger():
    asset = stripe_events_asset("my_dag", EarlyFraudWarningFinder(), poll_interval=5)
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert (asset.name, asset.uri) == ("my_dag", "stripe://events/my_dag")
    assert classpath == "airflow_stripe_automation.triggers.events.StripeEventsTrigger"
    assert kwargs["finder"]["name"] == "early_fraud_warning" and kwargs["poll_interval"] == 5.0
