"""The trigger of event-driven recipes: watch Stripe's Events API from the triggerer, one asset event per match."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_stripe_automation import conditions
from airflow_stripe_automation.finders import PAGE, Finder, FinderError, stripe_now
from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.objects import plain
from airflow_stripe_automation.windows import Window

if TYPE_CHECKING:
    from stripe.params import EventListParams

#: The key of the cursor in the watched asset's state store.
CURSOR_KEY = "stripe_events_cursor"
#: Each pause between polls is the poll interval times a random factor within this fraction of 1: a
#: watcher is one per DAG, so a little jitter keeps a few of them from polling in step.
POLL_JITTER = 0.1
#: Stripe events per TriggerEvent (one asset event): a poll's matches go in as few asset events as this allows.
BATCH = 100


class StripeEventsTrigger(BaseEventTrigger):
    """
    Watch Stripe's Events API for a finder's event types and yield the matching events of each poll; never writes.

    Meant for an :class:`~airflow.sdk.AssetWatcher`: each :class:`TriggerEvent` becomes an asset
    event, whose ``extra["payload"]`` is ``{"status": "success", "events": [evt_…], "objects":
    [summary, …]}`` — the matches of one poll (up to :data:`BATCH`, oldest first), each object's
    summary as the finder (and so the sweep's sensor) gives it: ids and the fields the actions read,
    never the whole Stripe object, as asset events live in the metadata DB. An object the finder
    does not keep (a warning no longer actionable) yields nothing.

    One asset event per poll rather than per Stripe event: Airflow 3.3's scheduler, creating an
    asset-triggered run, deletes the DAG's asset queue row by key, so asset events stored between
    its read and that delete start no run of their own (they wait for the next asset event's run).
    A burst of events stored a few milliseconds apart hit that window; one per poll, 10 s apart, does not.

    **The cursor** — the ``created`` second of the newest event yielded and the ids yielded at that
    second (Stripe lists by second, newest first, so ids alone cannot order them) — is kept in the
    watched asset's state store (``asset_state_store``, in the metadata DB: Airflow 3.3 gives one to
    every event trigger behind an asset watcher), so a triggerer restart resumes where the last one
    left off. It is written one poll late: the cursor stored at the start of a poll covers the
    events yielded during the poll before, which the triggerer has had the poll interval to store as
    asset events. A triggerer killed between a yield and that store resumes a poll early and yields
    those events again — never fewer; what the DAG runs then do is a no-op, as each action finds its
    idempotency key or mark. On its very first start (no cursor stored) the watch starts at
    Stripe's newest event: what happened before is the sweep's to find.

    Outside an asset watcher (no state store) the cursor lives in memory, starting at ``since`` or now.

    Polls run the SDK in a worker thread and close their connection; each pause is the poll interval
    ±10 %. Transient errors (rate limits, connection errors, 5xx) are logged and the next poll tries
    again; any other error yields ``{"status": "error", "message": …}`` and ends the watch (the
    triggerer shows it failed). Only the connection id is serialised, never the key.

    :param finder: the finder whose event types are watched and whose summary and condition apply,
        as :meth:`Finder.to_dict` gives it
    :param stripe_conn_id: the Stripe connection to read with
    :param poll_interval: seconds between polls, on average: how far behind Stripe the watch may be
    :param since: without a stored cursor, watch events from this unix second (None: from now)
    """

    def __init__(
        self,
        *,
        finder: dict[str, Any],
        stripe_conn_id: str = StripeHook.default_conn_name,
        poll_interval: float = 10.0,
        since: int | None = None,
    ) -> None:
        super().__init__()
        self.finder = finder
        self.stripe_conn_id = stripe_conn_id
        self.poll_interval = float(poll_interval)
        self.since = None if since is None else int(since)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_stripe_automation.triggers.events.StripeEventsTrigger",
            {
                "finder": self.finder,
                "stripe_conn_id": self.stripe_conn_id,
                "poll_interval": self.poll_interval,
                "since": self.since,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import stripe

        from airflow_stripe_automation.errors import retryable_errors, translate

        try:
            finder = Finder.from_dict(self.finder)
            if not finder.event_types:
                raise FinderError(f"{finder.what} are not found through events")
            hook = StripeHook(stripe_conn_id=self.stripe_conn_id)
            await hook.aget_conn()  # reads the connection once, without blocking the loop
            cursor = await self._load_cursor()
        except Exception as err:
            yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})
            return

        stored = cursor
        polls = 0
        while True:
            polls += 1
            try:
                if cursor is None:
                    cursor = await asyncio.to_thread(self._start_cursor, hook)
                if cursor != stored:
                    await self._store_cursor(cursor)
                    stored = cursor
                found = await asyncio.to_thread(self._poll, hook, finder, cursor)
            except retryable_errors() as err:
                self.log.warning(
                    "Stripe did not answer poll %d (%s: %s); trying again.", polls, type(err).__name__, err
                )
            except stripe.StripeError as err:
                yield TriggerEvent({"status": "error", "message": str(translate(err, f"watching {finder.what}"))})
                return
            else:
                events, cursor = found
                for start in range(0, len(events), BATCH):
                    batch = events[start : start + BATCH]
                    for event in batch:
                        self.log.info("Stripe event %s (%s): %s", event["event"], event["type"], event["object"]["id"])
                    yield TriggerEvent(
                        {
                            "status": "success",
                            "events": [e["event"] for e in batch],
                            "objects": [e["object"] for e in batch],
                        }
                    )
            await asyncio.sleep(self.poll_interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER))

    async def _load_cursor(self) -> dict[str, Any] | None:
        """The stored cursor, else one at ``since``, else None (start at Stripe's newest event)."""
        if self.asset_state_store is not None:
            stored: Any = await self.asset_state_store.aget(CURSOR_KEY)
            if isinstance(stored, dict) and "created" in stored:
                return {"created": int(stored["created"]), "ids": list(stored["ids"])}
        if self.since is not None:
            return {"created": self.since, "ids": []}
        return None

    async def _store_cursor(self, cursor: dict[str, Any]) -> None:
        if self.asset_state_store is not None:
            await self.asset_state_store.aset(CURSOR_KEY, cursor)

    def _start_cursor(self, hook: StripeHook) -> dict[str, Any]:
        """A cursor at Stripe's newest event: every event of that second counts as seen."""
        try:
            client = hook.get_conn()
            now = stripe_now(client)
            newest = client.v1.events.list(params={"created": {"gte": now}, "limit": PAGE}).auto_paging_iter()
            return {"created": now, "ids": [event.id for event in newest]}
        finally:
            hook.close_connections()

    def _poll(
        self, hook: StripeHook, finder: Finder, cursor: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """
        One poll, in a worker thread: the matching events after the cursor, oldest first, and the cursor after them.

        Every event after the cursor moves it on, matching or not, so an event the finder drops is
        not read again.
        """
        params: EventListParams = {"created": {"gte": cursor["created"]}, "limit": PAGE}
        if len(finder.event_types) == 1:
            params["type"] = finder.event_types[0]
        else:
            params["types"] = list(finder.event_types)
        seen = set(cursor["ids"])
        try:
            listed = [
                plain(event)
                for event in hook.get_conn().v1.events.list(params=params).auto_paging_iter()
                if event.id not in seen
            ]
            # Stripe lists newest first, in the order of creation within a second too: reversed, oldest first.
            listed.reverse()
            listed.sort(key=lambda event: event["created"])
            out: list[dict[str, Any]] = []
            for event in listed:
                obj = event["data"]["object"]
                window = Window(event["created"], event["created"] + 1)
                if finder.keep(obj):
                    summary = finder.summary(hook.get_conn(), obj, window)
                    if finder.accept(summary) and (
                        finder.condition is None or conditions.evaluate(finder.condition, summary)
                    ):
                        out.append(
                            {
                                "status": "success",
                                "event": event["id"],
                                "type": event["type"],
                                "created": event["created"],
                                "object": summary,
                            }
                        )
        finally:
            hook.close_connections()
        if listed:
            last = listed[-1]["created"]
            ids = [event["id"] for event in listed if event["created"] == last]
            if last == cursor["created"]:
                ids = [*cursor["ids"], *ids]
            cursor = {"created": last, "ids": ids}
        return out, cursor
