"""Wait a grace period without holding a worker slot (recipe R5: 7 days of manual outreach before cancelling)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_stripe_automation.batches import BatchReport
from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.base import StripeBaseOperator, is_unset
from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


def _seconds(delay: Any) -> float:
    if isinstance(delay, timedelta):
        return delay.total_seconds()
    if isinstance(delay, bool):
        raise StripeInputError(f"delay must be a timedelta or a number of days, got {delay!r}")
    try:
        days = float(delay)
    except (TypeError, ValueError):
        raise StripeInputError(f"delay must be a timedelta or a number of days, got {delay!r}") from None
    if days < 0:
        raise StripeInputError(f"delay must not be negative, got {delay!r}")
    if not math.isfinite(days):
        raise StripeInputError(f"delay must be a finite number of days, got {delay!r}")
    return days * 86400


def _moment(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[0-9]+(\.[0-9]*)?", text):  # ASCII digits: '²'.isdigit() is true
            return float(text)
        try:
            parsed = pendulum.parse(text)
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            parsed = None
        if isinstance(parsed, datetime):  # not a bare duration ("P1D"), which has no moment
            return parsed.timestamp()
    raise StripeInputError(f"start must be a unix time, an ISO 8601 moment or a datetime, got {value!r}")


class StripeDelayOperator(StripeBaseOperator):
    """
    Wait ``delay`` after ``start`` (default: when the task starts), deferred: no worker slot is held.

    Used between steps that must re-read Stripe afterwards, e.g. R5's grace period between the last
    dunning attempt and the cancellation: the steps after it read the invoice again, so one paid
    during the wait is left alone. ``condition`` (on ``stripe_object``) skips the wait — and,
    through Airflow's trigger rules, the steps after it — e.g. when the retries already got paid.

    Given a batch, each object's own end (its ``start`` + ``delay``) is worked out and logged, and
    the task waits until the latest of them: the steps after it act on the batch together, so every
    object waits at least its own delay (a grace period is a minimum) and none is acted on early.
    Objects skipped by ``condition`` do not wait.

    :param delay: how long to wait: a timedelta or a number of days (templated)
    :param start: when the delay starts: unix seconds, ISO 8601 or a datetime; default now (templated)
    """

    template_fields: Sequence[str] = (*StripeBaseOperator.template_fields, "delay", "start")

    def __init__(self, *, delay: timedelta | float | str, start: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay
        self.start = start

    def execute_one(self, context: Context) -> dict[str, Any]:
        until = self._until()
        about = self._about()
        if until <= time.time():
            self.log.info("Delay over already (%s); going on.", _iso(until))
            return self._result(until, about)
        self.log.info("Waiting until %s (about %s), in the triggerer.", _iso(until), about)
        self.defer(
            trigger=WaitUntilTrigger(moment=until, state={"about": about}),
            method_name="execute_complete",
            kwargs={"about": about},
        )
        raise AssertionError("defer() does not return")  # pragma: no cover

    def _execute_batch(self, context: Context, batch: list[Any]) -> list[Any]:
        """Work out each object's end, then wait (deferred) until the latest; the report travels in the deferral."""
        report = self._act_on_batch(context, batch, self._end_of_one)
        ends = [r["until"] for r in report.results if r is not None]
        for result in report.results:
            if result is not None:
                result["waited_until"] = _iso(result.pop("until"))
        latest = max(ends, default=0.0)
        if latest <= time.time():
            self.log.info("Every delay of the batch is over already; going on.")
            return self._finish_batch(context, batch, report)
        waiting = [r["about"] for r in report.results if r is not None]
        self.log.info(
            "Waiting until %s, the latest end of the %d objects waiting, in the triggerer.", _iso(latest), len(waiting)
        )
        state = {"about": waiting, "report": report.as_state()}
        # Both ways, as for one object: the scheduler resumes with the kwargs, dag.test() with the event.
        self.defer(trigger=WaitUntilTrigger(moment=latest, state=state), method_name="execute_complete", kwargs=state)
        raise AssertionError("defer() does not return")  # pragma: no cover

    def _end_of_one(self, context: Context) -> dict[str, Any]:
        """One object of a batch: when its delay ends (logged), as a result still to be waited for."""
        until, about = self._until(), self._about()
        self.log.info("%s: delay ends %s.", about, _iso(until))
        return {"until": until, "about": about}

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        event = event or {}
        state = {**kwargs, **(event.get("state") or {})}
        if "report" in state:  # a batch: every object has waited its delay
            batch = self._batch_objects()
            report = BatchReport.from_state(state["report"])
            return self._finish_batch(context, batch if batch is not None else [], report)
        return self._result(float(event.get("moment", time.time())), state.get("about"))

    def _until(self) -> float:
        start = time.time() if is_unset(self.start) else _moment(self.start)
        return start + _seconds(self.delay)

    def _about(self) -> Any:
        obj = self.stripe_object if isinstance(self.stripe_object, Mapping) else None
        return (obj.get("id") or obj.get("invoice")) if obj else None

    @staticmethod
    def _result(until: float, about: Any) -> dict[str, Any]:
        return {"waited_until": _iso(until), "about": about}


def _iso(moment: float) -> str:
    return pendulum.from_timestamp(moment).to_iso8601_string()
