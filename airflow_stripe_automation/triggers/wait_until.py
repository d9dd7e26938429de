"""Wake a deferred task at a given moment, handing its state back in the event (dunning retries between attempts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Longest single sleep: the moment is re-checked at least this often, so a changed clock is noticed.
_MAX_SLEEP = 60.0


class WaitUntilTrigger(BaseTrigger):
    """
    Sleep until ``moment``, then yield ``{"status": "due", "moment": …, "state": state}``; never calls Stripe.

    The task's own state (e.g. the number of payment attempts made) travels in the event as well as
    in the deferral's ``kwargs``: the scheduler merges ``kwargs`` with the event, but ``dag.test()``
    resumes the task with the event alone. Running it again after the moment yields at once.

    :param moment: when to wake the task, in unix seconds
    :param state: a JSON-serialisable dict handed back in the event
    """

    def __init__(self, *, moment: float, state: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.moment = float(moment)
        self.state = dict(state or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_stripe_automation.triggers.wait_until.WaitUntilTrigger",
            {"moment": self.moment, "state": self.state},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while (remaining := self.moment - time.time()) > 0:
            await asyncio.sleep(min(remaining, _MAX_SLEEP))
        yield TriggerEvent({"status": "due", "moment": self.moment, "state": self.state})
