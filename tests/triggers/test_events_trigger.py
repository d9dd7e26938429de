"""The events trigger, run for real against the local Stripe server: one event per matching Stripe event, resumed from its cursor."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_stripe_automation.finders import EarlyFraudWarningFinder, PaymentSucceededFinder
from airflow_stripe_automation.triggers.events import CURSOR_KEY, StripeEventsTrigger
from tests.sensors.seeding import fraud_warning, payment

pytestmark = pytest.mark.usefixtures("stripe_connection")


class MemoryStateStore:
    """What the triggerer injects as ``asset_state_store`` (the metadata DB's asset state), kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def watcher(store: MemoryStateStore | None = None, **kwargs: Any) -> StripeEventsTrigger:
    trigger = StripeEventsTrigger(finder=EarlyFraudWarningFinder().to_dict(), poll_interval=0.05, **kwargs)
    trigger.asset_state_store = store  # type: ignore[assignment]
    return trigger


class Running:
    """A trigger running in a task of its own, its events collected in a queue (waiting never cancels the trigger)."""

    def __init__(self, trigger: StripeEventsTrigger) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.payloads: list[dict[str, Any]] = []  # one per TriggerEvent (asset event)
        self.task = asyncio.create_task(self._consume(trigger))

    async def _consume(self, trigger: StripeEventsTrigger) -> None:
        async for event in trigger.run():
            self.payloads.append(event.payload)
            if "objects" not in event.payload:  # an error
                await self.queue.put(event.payload)
            for obj, event_id in zip(event.payload.get("objects", ()), event.payload.get("events", ()), strict=True):
                await self.queue.put({"event": event_id, "object": obj})

    async def take(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` Stripe events, ``{"event": id, "object": summary}`` (a generous timeout: nothing races a window)."""
        return [await asyncio.wait_for(self.queue.get(), timeout=30) for _ in range(count)]

    async def nothing_more(self, wait: float = 0.5) -> bool:
        """True when the trigger yields nothing within ``wait`` seconds (it keeps polling)."""
        try:
            await asyncio.wait_for(self.queue.get(), timeout=wait)
        except TimeoutError:
            return True
        return False

    async def stop(self) -> None:
        """What the triggerer does to a trigger when it stops: cancel it."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def stored_cursor(store: MemoryStateStore) -> dict[str, Any]:
    for _ in range(600):
        if store.values.get(CURSOR_KEY):
            return store.values[CURSOR_KEY]
        await asyncio.sleep(0.05)
    raise AssertionError("the trigger never stored its cursor")


def test_each_matching_event_is_yielded_once_oldest_first_with_the_objects_summary(stripe_server, stripe_client):
    first = fraud_warning(stripe_server, stripe_client, amount=900)
    second = fraud_warning(stripe_server, stripe_client, amount=2500)
    payment(stripe_client, amount=5000)  # payment_intent.succeeded: not watched

    async def scenario():
        events = Running(watcher(since=0))
        got = await events.take(2)
        quiet = await events.nothing_more()
        third = fraud_warning(stripe_server, stripe_client, amount=700)
        got += await events.take(1)
        await events.stop()
        return got, quiet, third, events.payloads

    got, quiet, third, events_seen = asyncio.run(scenario())
    assert [p["object"]["id"] for p in got] == [first["id"], second["id"], third["id"]]
    assert quiet  # the first two were yielded once, not on every poll
    # one asset event per poll: the two found by the first poll together, the third alone
    assert [len(p["objects"]) for p in events_seen] == [2, 1]
    created = {e["data"]["object"]["id"]: e for e in stripe_server.events("radar.early_fraud_warning.created")}
    assert [p["event"] for p in got] == [created[p["object"]["id"]]["id"] for p in got]
    # the summary the sweep's sensor hands on: the charge the refund step reads, no whole object
    assert got[0]["object"]["charge"] == first["charge"] and "data" not in got[0]["object"]


def test_without_a_cursor_the_watch_starts_at_stripes_newest_event(stripe_server, stripe_client):
    fraud_warning(stripe_server, stripe_client)  # before the watch: the sweep's to find

    async def scenario():
        events = Running(watcher(MemoryStateStore()))
        quiet = await events.nothing_more()
        later = fraud_warning(stripe_server, stripe_client)
        got = await events.take(1)
        await events.stop()
        return quiet, later, got

    quiet, later, got = asyncio.run(scenario())
    assert quiet and [p["object"]["id"] for p in got] == [later["id"]]


def test_a_restarted_trigger_resumes_from_the_stored_cursor_losing_and_repeating_nothing(stripe_server, stripe_client):
    store = MemoryStateStore()
    before = [fraud_warning(stripe_server, stripe_client) for _ in range(2)]

    async def first_life():
        events = Running(watcher(store, since=0))
        got = await events.take(2)
        cursor = await stored_cursor(store)  # written at the start of the next poll
        await events.stop()  # the triggerer stops
        return got, cursor

    got, cursor = asyncio.run(first_life())
    assert [p["object"]["id"] for p in got] == [w["id"] for w in before]
    while_down = [fraud_warning(stripe_server, stripe_client) for _ in range(2)]

    async def second_life():
        # rebuilt from its serialized kwargs, as the triggerer does: since=0 is not read again
        trigger = StripeEventsTrigger(**watcher().serialize()[1] | {"since": 0})
        trigger.asset_state_store = store  # type: ignore[assignment]
        events = Running(trigger)
        got = await events.take(2)
        quiet = await events.nothing_more()
        await events.stop()
        return got, quiet

    got, quiet = asyncio.run(second_life())
    assert [p["object"]["id"] for p in got] == [w["id"] for w in while_down]
    assert quiet
    assert cursor["ids"] and cursor["created"] >= before[-1]["created"]


def test_events_the_finder_drops_yield_nothing_but_move_the_cursor(stripe_server, stripe_client):
    store = MemoryStateStore()
    stripe_server.create_early_fraud_warning(payment(stripe_client).latest_charge, actionable=False)

    async def scenario():
        events = Running(watcher(store, since=0))
        quiet = await events.nothing_more()
        await events.stop()
        return quiet

    assert asyncio.run(scenario())
    assert store.values[CURSOR_KEY]["ids"]  # read once; a restart does not read it again


def test_a_finder_without_events_ends_the_watch_with_an_error():
    from airflow_stripe_automation.finders import InvoiceOverdueFinder

    async def scenario():
        return await Running(StripeEventsTrigger(finder=InvoiceOverdueFinder().to_dict())).take(1)

    (event,) = asyncio.run(scenario())
    assert event["status"] == "error" and "not found through events" in event["message"]


def test_payment_events_carry_the_amount_the_recipes_condition_reads(stripe_server, stripe_client):
    async def scenario():
        events = Running(StripeEventsTrigger(finder=PaymentSucceededFinder().to_dict(), poll_interval=0.05, since=0))
        pi = payment(stripe_client, amount=250000)
        got = await events.take(1)
        await events.stop()
        return pi, got

    pi, (got,) = asyncio.run(scenario())
    assert got["object"]["id"] == pi.id and (got["object"]["amount"], got["object"]["currency"]) == (250000, "usd")
