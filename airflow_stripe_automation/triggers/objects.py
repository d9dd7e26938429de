"""The trigger every deferrable Stripe sensor shares: poll a finder over a window until something matches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_stripe_automation.finders import Finder, FinderError
from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.windows import Window


class StripeObjectsTrigger(BaseTrigger):
    """
    Poll Stripe until the finder matches an object in the window, or the deadline passes; never writes.

    A poll stops at the first match (a page of the list, one request): the trigger only tells the
    sensor that its wait is over, and the sensor reads the window itself when it resumes, pushing
    its batches as it reads. So the event stays small however large the sweep (an event is stored in
    the metadata DB and passes through the scheduler), and no match is carried twice.

    The finder's list calls run in a worker thread (the SDK blocks), so the triggerer's event loop
    never waits on Stripe. Transient errors (rate limits, connection errors, 5xx) are logged and the
    next poll tries again; any other error ends the wait with an ``error`` event. Only the connection
    id is serialised, never the key.

    Yields one event: ``{"status": "success", "source": ..., "window": [start, end], "polls": n,
    "first": id}`` (``first`` is the id of a match, None when ``wait_for_match`` is off and nothing
    matched), ``{"status": "timeout", "message": ...}`` or ``{"status": "error", "message": ...}``.

    :param finder: the finder, as :meth:`Finder.to_dict` gives it
    :param window_start: the window's first second (unix seconds)
    :param window_end: the first second after the window
    :param stripe_conn_id: the Stripe connection to read with
    :param source: ``"auto"``, ``"events"`` or ``"list"`` (see :mod:`airflow_stripe_automation.finders`)
    :param poll_interval: seconds between polls
    :param deadline: unix time after which the wait ends with a ``timeout`` event (None: no deadline)
    :param wait_for_match: when False, the first poll's result is returned even if empty
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
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import stripe

        from airflow_stripe_automation.errors import retryable_errors, translate

        window = Window(self.window_start, self.window_end)
        try:
            finder = Finder.from_dict(self.finder)
            client = await StripeHook(stripe_conn_id=self.stripe_conn_id).aget_conn()
        except Exception as err:
            yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})
            return

        polls = 0
        while True:
            polls += 1
            try:
                # A poll stops at the first match: the sensor reads the window itself.
                found = await asyncio.to_thread(finder.find, client, window, self.source, limit=1)
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
            pause = self.poll_interval if self.deadline is None else min(self.poll_interval, self.deadline - now)
            await asyncio.sleep(max(pause, 0))
