"""The sensors' own behaviour, called directly: input errors, one poke, transient errors."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.sensors.customers import StripeCustomerCreatedSensor
from airflow_stripe_automation.sensors.invoices import StripeInvoiceOverdueSensor
from tests.sensors.seeding import DAY, customer, now, server_time


class _XComRecorder:
    """Stands for the task instance a sensor pushes its batches through (what the XComs were)."""

    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


@contextmanager
def conf_vars(conf, **core):
    """Set ``[core]`` options of Airflow's configuration for the block."""
    saved = {name: conf.get("core", name, fallback=None) for name in core}
    for name, value in core.items():
        conf.set("core", name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                conf.remove_option("core", name)
            else:
                conf.set("core", name, value)


def _context(start: int, end: int) -> dict:
    return {
        "data_interval_start": datetime.fromtimestamp(start, UTC),
        "data_interval_end": datetime.fromtimestamp(end, UTC),
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_amount_due": 50000}, "min_amount_due needs a currency"),
        ({"min_amount_due": 50000, "currency": "usdollar"}, "not a currency Stripe supports"),
        ({"days_overdue": "three"}, "days_overdue must be a whole number"),
        ({"since": "last tuesday"}, "since must be an ISO 8601 date-time"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, r"since \(2026-02-01T00:00:00Z\) must be before until"),
        ({"source": "webhooks"}, "source must be one of auto, events, list"),
        ({"condition": {"field": "amount_due", "op": "bigger", "value": 500}}, "unknown op 'bigger'"),
        ({"batch_size": 0}, "batch_size must be greater than zero, got 0"),
        ({"batch_size": "ten"}, "batch_size must be a positive whole number, got 'ten'"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_before_any_request(stripe_connection, stripe_server, kwargs, message):
    sensor = StripeInvoiceOverdueSensor(task_id="overdue", timeout=5, poke_interval=0.1, **kwargs)

    with pytest.raises(StripeInputError, match=message):
        sensor.execute(_context(now() - DAY, now()))
    assert stripe_server.requests == []


def test_a_poke_is_done_only_when_something_matched(stripe_connection, stripe_server, stripe_client):
    t = now() - 2 * DAY
    sensor = StripeCustomerCreatedSensor(task_id="customers")
    assert not sensor.poke(_context(t, t + DAY))

    with server_time(stripe_server, t + 1):
        cus = customer(stripe_client)
    result = sensor.poke(_context(t, t + DAY))

    assert result.is_done and [m["id"] for m in result.xcom_value] == [cus.id]


def test_a_transient_error_means_not_yet_when_waiting_and_fails_the_try_otherwise(stripe_connection, stripe_server):
    import stripe

    t = now() - 2 * DAY
    stripe_server.fail_next(503)
    assert not StripeCustomerCreatedSensor(task_id="waits").poke(_context(t, t + DAY))

    stripe_server.fail_next(503)
    with pytest.raises(stripe.APIError):  # left to the task's retries (StripeRetryPolicy)
        StripeCustomerCreatedSensor(task_id="sweeps", wait_for_match=False).poke(_context(t, t + DAY))


def test_a_sweep_returns_an_empty_list_at_once(stripe_connection, stripe_server):
    t = now() - 2 * DAY
    assert StripeCustomerCreatedSensor(task_id="sweep", wait_for_match=False).execute(_context(t, t + DAY)) == []


def test_a_templated_stripe_conn_id_is_read_with_and_handed_to_the_trigger(other_stripe_connection, stripe_server):
    from airflow.sdk.exceptions import TaskDeferred

    t = now() - 2 * DAY
    sensor = StripeCustomerCreatedSensor(
        task_id="customers", stripe_conn_id="{{ params.conn }}", deferrable=True, timeout=60
    )
    assert "hook" not in sensor.__dict__  # not built at parse time
    context = {**_context(t, t + DAY), "params": {"conn": other_stripe_connection}}
    sensor.render_template_fields(context)

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)

    assert sensor.hook.stripe_conn_id == "stripe_other"
    assert stripe_server.requests and {r["stripe_account"] for r in stripe_server.requests} == {"acct_other"}
    assert deferred.value.trigger.stripe_conn_id == "stripe_other"


def test_a_sweep_hands_its_matches_on_in_batches_oldest_first(stripe_connection, stripe_server, stripe_client):
    t = now() - 2 * DAY
    with server_time(stripe_server, t):
        ids = [customer(stripe_client, f"b{i}@example.com").id for i in range(5)]
    sensor = StripeCustomerCreatedSensor(task_id="sweep", wait_for_match=False, batch_size="2")
    ti = _XComRecorder()

    tickets = sensor.execute({**_context(t - 60, t + 60), "ti": ti})

    # Each batch is an XCom of its own; the sensor returns a ticket per batch, not the objects.
    assert [(x["stripe_batch"], x["task_id"], x["count"]) for x in tickets] == [
        ("batch_00000", "sweep", 2),
        ("batch_00001", "sweep", 2),
        ("batch_00002", "sweep", 1),
    ]
    batches = [ti.pushed[x["stripe_batch"]] for x in tickets]
    assert [(x["first"], x["last"]) for x in tickets] == [(b[0]["id"], b[-1]["id"]) for b in batches]
    assert sorted(m["id"] for b in batches for m in b) == sorted(ids)


def test_batches_grow_rather_than_outnumber_max_map_length(stripe_connection, stripe_server, stripe_client):
    from airflow.sdk import conf

    t = now() - 2 * DAY
    with server_time(stripe_server, t):
        for i in range(7):
            customer(stripe_client, f"g{i}@example.com")
    sensor = StripeCustomerCreatedSensor(task_id="sweep", wait_for_match=False, batch_size=1)

    with conf_vars(conf, max_map_length="3"):
        tickets = sensor.execute({**_context(t - 60, t + 60), "ti": _XComRecorder()})

    assert [x["count"] for x in tickets] == [3, 3, 1]  # 7 objects in 3 mapped tasks, none dropped


def test_a_flat_list_longer_than_max_map_length_is_refused_naming_batch_size(
    stripe_connection, stripe_server, stripe_client
):
    import pendulum
    from airflow.sdk import DAG, conf

    from airflow_stripe_automation.operators.email import StripeSendEmailOperator

    t = now() - 2 * DAY
    with server_time(stripe_server, t):
        for i in range(4):
            customer(stripe_client, f"f{i}@example.com")
    with DAG("flat_sweep", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        sensor = StripeCustomerCreatedSensor(task_id="sweep", wait_for_match=False)
        StripeSendEmailOperator.partial(task_id="mail", to="a@example.com", subject="x").expand(
            stripe_object=sensor.output
        )

    with conf_vars(conf, max_map_length="3"), pytest.raises(StripeInputError, match="give the sensor a batch_size"):
        sensor.execute(_context(t - 60, t + 60))
