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
    """Stands for the task instance a sensor pushes its batches through (what the XComs were), and a batch task reads."""

    def __init__(self, on_push=None):
        self.pushed = {}
        self.on_push = on_push

    def xcom_push(self, key, value):
        self.pushed[key] = value
        if self.on_push:
            self.on_push(key)

    def xcom_pull(self, task_ids, key, map_indexes=None):
        return self.pushed.get(key)


def _read(tickets, ti) -> list[list[str]]:
    """The ids each mapped batch task reads, ticket by ticket (as the operators redeem them)."""
    from airflow_stripe_automation.batches import redeemed

    return [[m["id"] for m in redeemed(t, {"ti": ti})] for t in tickets]


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


def _customers_a_second_apart(server, client, start: int, count: int, prefix: str) -> list[str]:
    ids = []
    for i in range(count):
        with server_time(server, start + i):
            ids.append(customer(client, f"{prefix}{i}@example.com").id)
    return ids


def test_a_sweep_hands_its_matches_on_in_batches_newest_first(stripe_connection, stripe_server, stripe_client):
    t = now() - 2 * DAY
    ids = _customers_a_second_apart(stripe_server, stripe_client, t, 5, "b")
    sensor = StripeCustomerCreatedSensor(task_id="sweep", wait_for_match=False, batch_size="2")
    ti = _XComRecorder()

    tickets = sensor.execute({**_context(t - 60, t + 60), "ti": ti})

    # Each batch is an XCom of its own, in the order Stripe lists them (newest first); the sensor
    # returns a ticket per batch, not the objects.
    newest_first = ids[::-1]
    assert tickets == [
        {"stripe_batch": "batch_00000", "task_id": "sweep", "count": 2, "first": ids[4], "last": ids[3]},
        {"stripe_batch": "batch_00001", "task_id": "sweep", "count": 2, "first": ids[2], "last": ids[1]},
        {"stripe_batch": "batch_00002", "task_id": "sweep", "count": 1, "first": ids[0], "last": ids[0]},
    ]
    assert {k: [m["id"] for m in v] for k, v in ti.pushed.items()} == {
        "batch_00000": newest_first[0:2],
        "batch_00001": newest_first[2:4],
        "batch_00002": newest_first[4:],
    }
    assert _read(tickets, ti) == [newest_first[0:2], newest_first[2:4], newest_first[4:]]


def test_batches_are_pushed_as_the_pages_arrive_not_at_the_end(stripe_connection, stripe_server, stripe_client):
    """The sensor holds one batch, not the window: the first batch is pushed before the last page is read."""
    t = now() - 2 * DAY
    with server_time(stripe_server, t):
        for i in range(250):  # three pages of 100
            customer(stripe_client, f"p{i}@example.com")
    lists_read = []

    def list_requests() -> int:
        return sum(1 for r in stripe_server.requests if r["method"] == "GET" and r["path"] == "/v1/customers")

    before = list_requests()
    ti = _XComRecorder(on_push=lambda key: lists_read.append(list_requests() - before))
    sensor = StripeCustomerCreatedSensor(task_id="sweep", wait_for_match=False, batch_size=100)

    tickets = sensor.execute({**_context(t - 60, t + 60), "ti": ti})

    assert [x["count"] for x in tickets] == [100, 100, 50]
    assert lists_read == [1, 2, 3]  # each batch pushed once its page was in
    assert len({i for batch in _read(tickets, ti) for i in batch}) == 250


def test_more_batches_than_max_map_length_share_tickets(stripe_connection, stripe_server, stripe_client):
    """A ticket then names several consecutive batches; every object is read once, by one mapped task."""
    from airflow.sdk import conf

    t = now() - 2 * DAY
    ids = _customers_a_second_apart(stripe_server, stripe_client, t, 7, "g")
    sensor = StripeCustomerCreatedSensor(task_id="sweep", wait_for_match=False, batch_size=1)
    ti = _XComRecorder()

    with conf_vars(conf, max_map_length="3"):
        tickets = sensor.execute({**_context(t - 60, t + 60), "ti": ti})

    assert sorted(ti.pushed) == [f"batch_{i:05d}" for i in range(7)]  # one XCom per batch of 1, as asked
    assert [(x["stripe_batch"], x["count"], x["stripe_batches"]) for x in tickets] == [
        ("batch_00000", 3, ["batch_00000", "batch_00001", "batch_00002"]),
        ("batch_00003", 3, ["batch_00003", "batch_00004", "batch_00005"]),
        ("batch_00006", 1, ["batch_00006"]),
    ]  # 7 objects in 3 mapped tasks, none dropped
    assert _read(tickets, ti) == [ids[6:3:-1], ids[3:0:-1], ids[:1]]
    assert (tickets[0]["first"], tickets[0]["last"]) == (ids[6], ids[4])


def test_a_poke_that_finds_nothing_pushes_nothing(stripe_connection, stripe_server):
    t = now() - 2 * DAY
    ti = _XComRecorder()
    sensor = StripeCustomerCreatedSensor(task_id="waits", batch_size=2)

    assert not sensor.poke({**_context(t, t + DAY), "ti": ti})
    assert ti.pushed == {}


def test_a_poke_cut_short_is_redone_under_the_same_keys(stripe_connection, stripe_server, stripe_client, monkeypatch):
    """A transient error part-way means "not yet"; the next poke pushes its batches over the first one's."""
    import stripe

    from airflow_stripe_automation.finders import CustomerCreatedFinder

    t = now() - 2 * DAY
    ids = _customers_a_second_apart(stripe_server, stripe_client, t, 5, "c")
    real = CustomerCreatedFinder.iter_matches
    calls = []

    def cut_short_once(self, *args):
        calls.append(1)
        for n, match in enumerate(real(self, *args)):
            if len(calls) == 1 and n == 3:
                raise stripe.APIConnectionError("connection reset")
            yield match

    monkeypatch.setattr(CustomerCreatedFinder, "iter_matches", cut_short_once)
    ti = _XComRecorder()
    sensor = StripeCustomerCreatedSensor(task_id="waits", batch_size=2)

    assert not sensor.poke({**_context(t - 60, t + 60), "ti": ti})
    assert list(ti.pushed) == ["batch_00000"]  # the one batch filled before the error
    result = sensor.poke({**_context(t - 60, t + 60), "ti": ti})

    assert result.is_done
    assert list(ti.pushed) == ["batch_00000", "batch_00001", "batch_00002"]
    assert _read(result.xcom_value, ti) == [ids[4:2:-1], ids[2:0:-1], ids[:1]]


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


def test_a_deferred_sensor_reads_the_window_itself_once_its_trigger_fires(
    stripe_connection, stripe_server, stripe_client
):
    import asyncio
    import json

    from airflow.sdk.exceptions import TaskDeferred

    t = now() - 2 * DAY
    sensor = StripeCustomerCreatedSensor(task_id="waits", deferrable=True, batch_size=2, timeout=60, poke_interval=0.5)
    ti = _XComRecorder()
    context = {**_context(t - 60, t + 60), "ti": ti}
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert ti.pushed == {}
    ids = _customers_a_second_apart(stripe_server, stripe_client, t, 3, "d")

    event = asyncio.run(deferred.value.trigger.run().asend(None)).payload
    tickets = sensor.execute_complete(context, event, **deferred.value.kwargs)

    assert "matches" not in event and len(json.dumps(event)) < 200  # what the metadata DB stores
    assert _read(tickets, ti) == [ids[:0:-1], ids[:1]]


def test_a_match_gone_before_the_task_reads_defers_again_until_the_same_deadline(stripe_connection, stripe_server):
    import time

    from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

    t = now() - 2 * DAY
    sensor = StripeCustomerCreatedSensor(task_id="waits", deferrable=True, timeout=60)
    event = {"status": "success", "source": "list", "window": [t, t + DAY], "polls": 2, "first": "cus_gone"}
    deadline = time.time() + 30

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute_complete(_context(t, t + DAY), event, deadline=deadline)

    assert deferred.value.trigger.deadline == deadline and deferred.value.kwargs == {"deadline": deadline}
    assert deferred.value.timeout.total_seconds() <= 30
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(_context(t, t + DAY), event, deadline=time.time() - 1)


def test_an_event_of_the_older_trigger_is_read_again_not_trusted(stripe_connection, stripe_server, stripe_client):
    """Events of the version before carried the matches; the task reads the window all the same."""
    t = now() - 2 * DAY
    with server_time(stripe_server, t + 1):
        cus = customer(stripe_client)
    sensor = StripeCustomerCreatedSensor(task_id="waits", deferrable=True, timeout=60)
    event = {"status": "success", "matches": [{"id": "cus_stale"}], "source": "list", "window": [t, t + DAY]}

    assert [m["id"] for m in sensor.execute_complete(_context(t, t + DAY), event)] == [cus.id]
