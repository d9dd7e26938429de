"""The trigger every deferrable Stripe sensor shares: poll a finder over a window until something matches."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_stripe_automation.finders import Finder, FinderError, Found, StripeClock
from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.windows import Window

#: The golden ratio's fractional part. Consecutive integers times it, mod 1, fall almost evenly over
#: [0, 1) however many there are (a Weyl sequence; the three-gap theorem): so do consecutive trigger ids.
_SPREAD = (math.sqrt(5) - 1) / 2


class StripeObjectsTrigger(BaseTrigger):
    """
    Poll Stripe until the finder matches an object in the window, or the deadline passes; never writes.

    A poll stops at the first match (a page of the list, one request): the trigger only tells the
    sensor that its wait is over, and the sensor reads the window itself when it resumes, pushing
    its batches as it reads. So the event stays small however large the sweep (an event is stored in
    the metadata DB and passes through the scheduler), and no match is carried twice.

    Built for a thousand waiting at once in one triggerer:

    - the finder's calls run in a worker thread (the SDK blocks), so the event loop never waits on
      Stripe, and the HTTP connection the poll opened is closed when it ends: a waiting trigger
      holds no socket between polls;
    - Stripe's clock (needed to choose between events and lists) is read once, or not at all when
      the sensor passes its ``clock_lead``: one request a poll (see
      :class:`~airflow_stripe_automation.finders.StripeClock`);
    - each trigger polls at its own :meth:`phase` of every interval, on the wall clock: the moments
      ``phase + k × poll_interval``. The phase comes from the trigger's id in the metadata DB
      (consecutive ids are spread almost evenly over the interval), so a thousand sensors that
      deferred together, or that a restarted triggerer picks up together, poll about
      ``1000 / poll_interval`` times a second instead of all at once, and each polls exactly once an
      interval. The first poll waits for the trigger's first moment too (at most one interval): the
      sensor checked the window just before it deferred. Only with ``wait_for_match`` off, where
      the first answer is the answer, is the first poll at once.

    Transient errors (rate limits, connection errors, 5xx) are logged and the next poll tries again;
    any other error ends the wait with an ``error`` event. Only the connection id is serialised,
    never the key.

    Yields one event: ``{"status": "success", "source": ..., "window": [start, end], "polls": n,
    "first": id}`` (``first`` is the id of a match, None when ``wait_for_match`` is off and nothing
    matched), ``{"status": "timeout", "message": ...}`` or ``{"status": "error", "message": ...}``.

    :param finder: the finder, as :meth:`Finder.to_dict` gives it
    :param window_start: the window's first second (unix seconds)
    :param window_end: the first second after the window
    :param stripe_conn_id: the Stripe connection to read with
    :param source: ``"auto"``, ``"events"`` or ``"list"`` (see :mod:`airflow_stripe_automation.finders`)
    :param poll_interval: seconds between polls, on average
    :param deadline: unix time after which the wait ends with a ``timeout`` event (None: no deadline)
    :param wait_for_match: when False, the first poll's result is returned even if empty
    :param clock_lead: seconds Stripe's clock is ahead of ours, as the sensor read it (None: read once)
    """

    def __init__(
        self,
        *,
        finder: dict[str, Any],
        window_start: int,
        window_end: int,
        stripe_conn_id: str = StripeHook.default_conn_name,
        source: str = "auto",
        poll_interval: float = 60.0,
        deadline: float | None = None,
        wait_for_match: bool = True,
        clock_lead: int | None = None,
    ) -> None:
        super().__init__()
        self.finder = finder
        self.window_start = int(window_start)
        self.window_end = int(window_end)
        self.stripe_conn_id = stripe_conn_id
        self.source = source
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.wait_for_match = wait_for_match
        self.clock_lead = None if clock_lead is None else int(clock_lead)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_stripe_automation.triggers.objects.StripeObjectsTrigger",
            {
                "finder": self.finder,
                "window_start": self.window_start,
                "window_end": self.window_end,
                "stripe_conn_id": self.stripe_conn_id,
                "source": self.source,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "wait_for_match": self.wait_for_match,
                "clock_lead": self.clock_lead,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import stripe

        from airflow_stripe_automation.errors import retryable_errors, translate

        window = Window(self.window_start, self.window_end)
        try:
            finder = Finder.from_dict(self.finder)
            hook = StripeHook(stripe_conn_id=self.stripe_conn_id)
            await hook.aget_conn()  # reads the connection once, without blocking the loop
        except Exception as err:
            yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})
            return

        clock = StripeClock(self.clock_lead)
        if self.wait_for_match:
            await asyncio.sleep(self.pause(time.time()))
        polls = 0
        while True:
            polls += 1
            try:
                found = await asyncio.to_thread(self._poll, hook, finder, window, clock)
            except retryable_errors() as err:
                self.log.warning(
                    "Stripe did not answer poll %d (%s: %s); trying again.", polls, type(err).__name__, err
                )
            except stripe.StripeError as err:
                yield TriggerEvent({"status": "error", "message": str(translate(err, f"finding {finder.what}"))})
                return
            except FinderError as err:
                yield TriggerEvent({"status": "error", "message": str(err)})
                return
            else:
                if found.matches or not self.wait_for_match:
                    first = found.matches[0]["id"] if found.matches else None
                    if first:
                        self.log.info(
                            "Found %s in %s (poll %d, from %s): %s …", finder.what, window, polls, found.source, first
                        )
                    else:
                        self.log.info("No %s in %s (from %s); not waiting for one.", finder.what, window, found.source)
                    yield TriggerEvent(
                        {
                            "status": "success",
                            "source": found.source,
                            "window": [window.start, window.end],
                            "polls": polls,
                            "first": first,
                        }
                    )
                    return
                self.log.info("No %s in %s yet (poll %d, from %s).", finder.what, window, polls, found.source)

            now = time.time()
            if self.deadline is not None and now >= self.deadline:
                yield TriggerEvent(
                    {
                        "status": "timeout",
                        "message": f"no {finder.what} in {window} after {polls} polls; the sensor's timeout passed",
                    }
                )
                return
            await asyncio.sleep(self.pause(now))

    def phase(self) -> float:
        """
        Seconds into each poll interval (counted from the unix epoch) at which this trigger polls.

        From the trigger's id, which the triggerer sets before it runs the trigger (a row of the
        metadata DB: unique, kept across triggerer restarts). A trigger without one (run outside a
        triggerer) takes a hash of its kwargs: as stable, but only randomly spread.
        """
        trigger_id = getattr(self, "trigger_id", None)
        if isinstance(trigger_id, int):
            fraction = (trigger_id * _SPREAD) % 1.0
        else:
            kwargs = json.dumps(self.serialize()[1], sort_keys=True, default=str).encode()
            fraction = int.from_bytes(hashlib.sha256(kwargs).digest()[:8], "big") / 2**64
        return fraction * self.poll_interval

    def pause(self, now: float) -> float:
        """
        Seconds to wait before the next poll: until this trigger's next moment, never past the deadline.

        The next moment is the first ``phase + k × poll_interval`` after ``now``, so a poll that took
        long does not push the later ones back, and the pause is never longer than the interval.

        :param now: the time (unix seconds) the pause starts
        """
        if self.poll_interval <= 0:
            return 0.0
        phase = self.phase()
        pause = (math.floor((now - phase) / self.poll_interval) + 1) * self.poll_interval + phase - now
        if self.deadline is not None:
            pause = min(pause, self.deadline - now)
        return max(pause, 0.0)

    def _poll(self, hook: StripeHook, finder: Finder, window: Window, clock: StripeClock) -> Found:
        """One poll, in a worker thread: read up to the first match, then close the connection it opened."""
        try:
            return finder.find(hook.get_conn(), window, self.source, limit=1, clock=clock)
        finally:
            # The SDK keeps a session (and its keep-alive sockets) per client and thread; closing it
            # here, in the thread that polled, leaves nothing open while the trigger sleeps.
            hook.close_connections()
