"""Wait a grace period without holding a worker slot (recipe R5: 7 days of manual outreach before cancelling)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum

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
    return days * 86400


def _moment(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
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

    :param delay: how long to wait: a timedelta or a number of days (templated)
    :param start: when the delay starts: unix seconds, ISO 8601 or a datetime; default now (templated)
    """

    template_fields: Sequence[str] = (*StripeBaseOperator.template_fields, "delay", "start")
    batchable = False  # one wait per object, from that object's own start

    def __init__(self, *, delay: timedelta | float | str, start: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay
        self.start = start

    def execute(self, context: Context) -> dict[str, Any]:
        start = time.time() if is_unset(self.start) else _moment(self.start)
        until = start + _seconds(self.delay)
        about = self.stripe_object.get("id") or self.stripe_object.get("invoice") if self.stripe_object else None
        if until <= time.time():
            self.log.info("Delay over already (%s); going on.", pendulum.from_timestamp(until).to_iso8601_string())
            return self._result(until, about)
        self.log.info("Waiting until %s (about %s), in the triggerer.", pendulum.from_timestamp(until), about)
        self.defer(
            trigger=WaitUntilTrigger(moment=until, state={"about": about}),
            method_name="execute_complete",
            kwargs={"about": about},
        )
        raise AssertionError("defer() does not return")  # pragma: no cover

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        event = event or {}
        about = (event.get("state") or {}).get("about", kwargs.get("about"))
        return self._result(float(event.get("moment", time.time())), about)

    @staticmethod
    def _result(until: float, about: Any) -> dict[str, Any]:
        return {"waited_until": pendulum.from_timestamp(until).to_iso8601_string(), "about": about}
