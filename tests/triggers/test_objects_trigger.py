"""StripeObjectsTrigger run for real (``await trigger.run().asend(None)``) against the local Stripe server."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_stripe_automation.finders import CustomerCreatedFinder, EventFinder
from airflow_stripe_automation.triggers.objects import StripeObjectsTrigger
from tests.sensors.seeding import DAY, customer, now, server_time


def _trigger(start: int, end: int, finder=None, **kwargs) -> StripeObjectsTrigger:
    return StripeObjectsTrigger(
        finder=(finder or CustomerCreatedFinder()).to_dict(), window_start=start, window_end=end, **kwargs
    )


async def _first_event(trigger: StripeObjectsTrigger) -> dict:
    event = await trigger.run().asend(None)
    return event.payload


def test_serialisation_round_trip_without_the_key(stripe_connection, local_stripe_server):
    """What the triggerer stores (Airflow's serde of the kwargs) rebuilds the same trigger."""
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    trigger = _trigger(
        100,
        200,
        EventFinder(event_types=["invoice.paid"]),
        poll_interval=5,
        deadline=1234.5,
        stripe_conn_id=stripe_connection,
        source="events",
        wait_for_match=False,
        clock_lead=12,
    )
    classpath, kwargs = trigger.serialize()

    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))

    assert classpath == "airflow_stripe_automation.triggers.objects.StripeObjectsTrigger"
    assert type(rebuilt) is StripeObjectsTrigger
    assert rebuilt.serialize() == (classpath, kwargs)
    stored = json.dumps(kwargs)
    assert local_stripe_server.api_key not in stored and "sk_test" not in stored


async def test_says_that_the_window_matched_and_where_not_what(stripe_connection, stripe_server, stripe_client):
    t = now() - DAY
    with server_time(stripe_server, t):
        inside = customer(stripe_client)
    with server_time(stripe_server, t + 100):
        customer(stripe_client)
    before = len(stripe_server.requests)

    payload = await _first_event(_trigger(t, t + 100, poll_interval=0.1))

    # The sensor reads the matches itself: the event (stored in the metadata DB) names one at most.
    assert payload == {"status": "success", "source": "list", "window": [t, t + 100], "polls": 1, "first": inside.id}
    assert [r["path"] for r in stripe_server.requests[before:]] == ["/v1/customers"]  # one read, nothing written


async def test_a_poll_stops_at_the_first_match(stripe_connection, stripe_server, stripe_client):
    """However many match, a poll reads one page: the trigger only needs to know the wait is over."""
    t = now() - DAY
    with server_time(stripe_server, t):
        for i in range(150):  # more than a page (100)
            customer(stripe_client, f"many{i}@example.com")
    before = len(stripe_server.requests)

    payload = await _first_event(_trigger(t, t + 1, poll_interval=0.1))

    assert payload["status"] == "success" and payload["first"].startswith("cus_")
    assert len(stripe_server.requests) - before == 1


async def test_reads_stripes_clock_once_not_on_every_poll(stripe_connection, stripe_server):
    """Choosing events or lists needs Stripe's clock: read on the first poll, then kept; none if the sensor read it."""
    t = now() - DAY  # inside the events' retention: the events source
    finder = EventFinder(event_types=["customer.created"])

    def clock_reads(requests) -> int:
        return sum(1 for r in requests if r["path"] == "/v1/events" and "created" not in (r.get("params") or {}))

    for clock_lead, expected in ((None, 1), (0, 0)):
        before = len(stripe_server.requests)
        trigger = _trigger(t, t + 1, finder, poll_interval=0.05, deadline=time.time() + 0.5, clock_lead=clock_lead)

        payload = await _first_event(trigger)

        assert payload["status"] == "timeout"
        polls = int(payload["message"].split(" after ")[1].split()[0])
        requests = stripe_server.requests[before:]
        assert polls >= 3 and clock_reads(requests) == expected
        assert len(requests) == polls + expected  # one request a poll


def test_a_thousand_triggers_poll_evenly_over_the_interval_not_together():
    """Triggers picked up together (consecutive ids) spread their polls: each second of the minute gets its share."""
    from collections import Counter

    for first_id in (1, 48_211):  # wherever the metadata DB's ids have got to
        triggers = [_trigger(0, 1, poll_interval=60) for _ in range(1000)]
        for i, trigger in enumerate(triggers):
            trigger.trigger_id = first_id + i
        moments = [1_000_000.0 + t.pause(now=1_000_000.0) for t in triggers]

        per_second = Counter(int(m) for m in moments)
        assert len(per_second) == 60  # every second of the interval
        assert max(per_second.values()) <= 18  # 1,000 / 60 = 16.7 on average; Stripe's test mode allows 25
        assert max(moments) - 1_000_000.0 <= 60  # each polls within one interval


def test_each_trigger_polls_once_an_interval_at_its_own_moment():
    trigger = _trigger(0, 1, poll_interval=60)
    trigger.trigger_id = 7
    phase = trigger.phase()
    assert 0 <= phase < 60

    now, moments = 1_000_000.0, []
    for took in (0.2, 3.0, 59.0, 130.0, 1.0):  # how long each poll took: a slow one skips the moments it missed
        now += trigger.pause(now)
        moments.append(now)
        now += took
    assert all(m % 60 == pytest.approx(phase, abs=1e-6) for m in moments)
    assert [round(b - a) for a, b in zip(moments, moments[1:], strict=False)] == [60, 60, 60, 180]
    assert 0 < trigger.pause(now=moments[0]) <= 60  # never 0, never longer than the interval

    # the deadline still ends the wait on time
    assert _trigger(0, 1, poll_interval=60, deadline=1005.0).pause(now=1000.0) <= 5
    assert _trigger(0, 1, poll_interval=60, deadline=900.0).pause(now=1000.0) == 0


def test_a_trigger_outside_a_triggerer_takes_its_phase_from_its_kwargs():
    """No id (run by hand, or by a test): the phase is a hash of what the trigger is, stable across a restart."""
    from airflow.sdk.serde import deserialize, serialize

    trigger = _trigger(0, 1, poll_interval=60, deadline=1234.5)
    classpath, kwargs = trigger.serialize()
    rebuilt = StripeObjectsTrigger(**deserialize(serialize(kwargs)))

    assert rebuilt.phase() == trigger.phase()
    assert len({_trigger(0, 1, poll_interval=60, deadline=1234.5 + i).phase() for i in range(50)}) == 50


async def test_a_deferred_trigger_first_polls_at_its_moment_not_at_once(
    stripe_connection, stripe_server, stripe_client
):
    """The sensor checked just before deferring: the trigger's first poll waits for its moment in the interval."""
    t = now() - DAY
    with server_time(stripe_server, t):
        customer(stripe_client)
    trigger = _trigger(t, t + 1, poll_interval=3600)
    trigger.trigger_id = next(i for i in range(1, 100) if _with_id(trigger, i).pause(time.time()) > 600)
    before = len(stripe_server.requests)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_first_event(trigger), timeout=1.0)

    assert len(stripe_server.requests) == before  # its moment is minutes away: no poll yet


async def test_an_object_that_already_matches_fires_within_one_interval(
    stripe_connection, stripe_server, stripe_client
):
    t = now() - DAY
    with server_time(stripe_server, t):
        inside = customer(stripe_client)
    trigger = _trigger(t, t + 1, poll_interval=1.5)
    trigger.trigger_id = 12

    payload = await asyncio.wait_for(_first_event(trigger), timeout=60)  # generous: one interval is 1.5 s

    assert (payload["status"], payload["polls"], payload["first"]) == ("success", 1, inside.id)


def _with_id(trigger: StripeObjectsTrigger, trigger_id: int) -> StripeObjectsTrigger:
    trigger.trigger_id = trigger_id
    return trigger


async def test_a_waiting_trigger_holds_no_connection_between_polls(stripe_connection, stripe_server):
    import psutil

    port = int(stripe_server.url.rsplit(":", 1)[1])

    def connections_to_the_server() -> int:
        return sum(
            1
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        )

    before = connections_to_the_server()
    payload = await _first_event(_trigger(now() - DAY, now(), wait_for_match=False))

    assert payload["status"] == "success"
    assert connections_to_the_server() == before  # the poll's keep-alive socket was closed, not kept


async def test_a_poll_logs_no_per_request_info_line_from_the_sdk(stripe_connection, stripe_server, caplog, capfd):
    """The SDK's two INFO lines a request were most of a busy triggerer's CPU: they are DEBUG lines now."""
    import logging

    caplog.set_level(logging.INFO)
    capfd.readouterr()
    before = len(stripe_server.requests)
    await _first_event(_trigger(now() - DAY, now(), wait_for_match=False))
    assert len(stripe_server.requests) == before + 1  # the poll did ask Stripe
    assert [r.getMessage() for r in caplog.records if r.name == "stripe"] == []
    log = capfd.readouterr().out  # the trigger's log, as the triggerer writes it
    assert "No new customers" in log and "Stripe API" not in log and "Request to Stripe" not in log

    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="stripe")
    await _first_event(_trigger(now() - DAY, now(), wait_for_match=False))
    lines = [r for r in caplog.records if r.name == "stripe" and "Request to Stripe api" in r.getMessage()]
    assert lines and {r.levelname for r in lines} == {"DEBUG"}

    caplog.clear()
    logging.getLogger("stripe").warning("Stripe says something is wrong")  # warnings are left alone
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", "Stripe says something is wrong")]


async def test_keeps_polling_through_transient_errors(stripe_connection, stripe_server, stripe_client):
    t = now() - DAY
    with server_time(stripe_server, t):
        inside = customer(stripe_client)
    stripe_server.fail_next(503, count=2, path="/v1/customers", method="GET")

    payload = await _first_event(_trigger(t, t + 1, poll_interval=0.05))

    assert payload["status"] == "success" and payload["polls"] == 3
    assert payload["first"] == inside.id


async def test_times_out_at_its_deadline(stripe_connection, stripe_server):
    t = now() - DAY
    deadline = time.time() + 0.5

    payload = await _first_event(_trigger(t, t + DAY, poll_interval=0.2, deadline=deadline))

    assert payload["status"] == "timeout"
    assert "no new customers in [" in payload["message"]
    assert time.time() >= deadline  # not before it, however fast the machine


async def test_without_wait_for_match_yields_an_empty_result_at_once(stripe_connection, stripe_server):
    payload = await _first_event(_trigger(now() - DAY, now(), wait_for_match=False))
    assert (payload["status"], payload["first"]) == ("success", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stripe_conn_id": "no_such_connection"}, "no_such_connection"),
        ({"finder": EventFinder(event_types=["customer.created"]).to_dict()}, "Stripe keeps for 30 days"),
        ({"source": "webhooks"}, "source must be one of"),
    ],
)
async def test_errors_end_the_wait_with_an_error_event(stripe_connection, stripe_server, kwargs, message):
    old = now() - 90 * DAY
    trigger = StripeObjectsTrigger(
        **{
            "finder": CustomerCreatedFinder().to_dict(),
            "window_start": old,
            "window_end": old + DAY,
            "poll_interval": 0.1,
            **kwargs,
        }
    )

    payload = await _first_event(trigger)

    assert payload["status"] == "error"
    assert message in payload["message"]
    assert stripe_server.api_key not in payload["message"]


async def test_polls_without_blocking_the_event_loop(stripe_connection, stripe_server, stripe_client):
    """A slow Stripe answer (1 s) leaves the triggerer's loop free for its other triggers."""
    t = now() - DAY
    with server_time(stripe_server, t):
        customer(stripe_client)
    stripe_server.slow_next(1.0, path="/v1/customers", method="GET")
    ticks = 0

    async def other_trigger():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(other_trigger())
    payload = await _first_event(_trigger(t, t + 1, poll_interval=0.1))
    ticker.cancel()

    assert payload["status"] == "success"
    assert ticks >= 10
