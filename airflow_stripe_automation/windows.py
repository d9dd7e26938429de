"""Time windows that sensors search: ``[start, end)`` in unix seconds, and how a DAG run chooses its own.

A window is half-open, so consecutive data intervals never see the same moment twice. Which window a
run searches is decided by :func:`resolve_window`, in this order:

1. ``since`` / ``until`` given to the sensor, or else in the run's ``conf`` (every recipe accepts
   ``{"since": "2026-01-01T00:00:00Z", "until": …}`` to replay a window by hand): they win; a missing
   bound is taken from the rules below.
2. The run's data interval, when it is not empty (``CronDataIntervalTimetable``, backfills).
3. An empty or absent data interval (manual runs, Airflow 3.3's cron/delta trigger timetables, asset
   triggers): the window ends at the run's logical date (or ``run_after``) and starts at the end of
   the previous successful run's data interval, so consecutive runs cover time without gaps; with no
   previous successful run it starts ``lookback`` earlier.

The window is fixed for the whole run (every poke, the trigger, a reschedule see the same one): to
wait for objects that do not exist yet, give an ``until`` in the future.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

from airflow_stripe_automation.rendered import is_unset

_DIGITS = re.compile(r"^-?\d+$")


class InvalidWindowError(ValueError):
    """A ``since``/``until`` that cannot be read, or a window that ends before it starts."""


class RangeFilter(TypedDict, total=False):
    """A range filter on a timestamp as Stripe's list APIs take it (the SDK's ``…ListParamsCreated`` types)."""

    gt: int
    gte: int
    lt: int
    lte: int


@dataclass(frozen=True)
class Window:
    """
    The half-open time window ``[start, end)``, in unix seconds.

    :param start: the first second in the window
    :param end: the first second after it
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidWindowError(f"the window must end after it starts, got {self}")

    def contains(self, timestamp: Any) -> bool:
        """Return whether ``timestamp`` (unix seconds; None is never inside) lies in the window."""
        return isinstance(timestamp, int) and self.start <= timestamp < self.end

    def created(self) -> RangeFilter:
        """The range parameter Stripe's list APIs take (``created``, ``due_date``…)."""
        return {"gte": self.start, "lt": self.end}

    def shifted(self, seconds: int) -> Window:
        """The same window moved by ``seconds`` (negative: earlier)."""
        return Window(self.start + seconds, self.end + seconds)

    def __str__(self) -> str:
        return f"[{iso(self.start)}, {iso(self.end)})"


def http_date(value: str | None) -> float | None:
    """
    An HTTP ``Date`` header (Stripe's clock when it answered) as unix seconds; None when absent or unreadable.

    :param value: the header's value
    """
    from email.utils import parsedate_to_datetime  # only when Stripe answered: not on every DAG parse

    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def iso(timestamp: int) -> str:
    """Unix seconds as ISO 8601 in UTC (``2026-01-31T00:00:00Z``)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_timestamp(value: Any, field: str = "since") -> int:
    """
    Return a moment as unix seconds: an ISO 8601 string, a datetime or date, or unix seconds.

    Naive datetimes and ISO strings without an offset are read as UTC.

    :param value: the moment (``"2026-01-31T12:00:00Z"``, ``"2026-01-31"``, ``1769860800``, a datetime)
    :param field: the argument name, for the message
    """
    if isinstance(value, bool):
        raise InvalidWindowError(f"{field} must be an ISO 8601 date-time or unix seconds, got {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if isinstance(value, str):
        text = value.strip()
        if _DIGITS.match(text):
            return int(text)
        try:
            return to_timestamp(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")), field)
        except ValueError:
            pass
    raise InvalidWindowError(
        f"{field} must be an ISO 8601 date-time (e.g. 2026-01-31T00:00:00Z), a datetime or unix seconds, got {value!r}"
    )


def resolve_window(
    context: Mapping[str, Any],
    since: Any = None,
    until: Any = None,
    lookback: timedelta = timedelta(days=1),
    from_conf: bool = True,
) -> tuple[Window, str]:
    """
    Return the window a run searches and a sentence saying where it comes from (for the task log).

    :param context: the task's Airflow context
    :param since: an explicit start (rendered template value, datetime or unix seconds), or None
    :param until: an explicit end, or None
    :param lookback: how far back an empty data interval's window reaches when there is no previous
        successful run
    :param from_conf: read a bound not given from the run conf's ``since`` / ``until`` keys
    """
    conf = getattr(context.get("dag_run"), "conf", None) if from_conf else None
    bounds: dict[str, int | None] = {}
    explicit: list[str] = []
    for name, given in (("since", since), ("until", until)):
        bounds[name] = None
        if not is_unset(given):
            bounds[name] = to_timestamp(given, name)
            explicit.append(f"{name} given")
        elif isinstance(conf, Mapping) and not is_unset(conf.get(name)):
            bounds[name] = to_timestamp(conf[name], f"the run conf's {name}")
            explicit.append(f"{name} from the run conf")
    start, end = bounds["since"], bounds["until"]

    interval_start, interval_end = (
        _moment(context.get("data_interval_start")),
        _moment(context.get("data_interval_end")),
    )
    if interval_start is not None and interval_end is not None and interval_end > interval_start:
        why = "the run's data interval"
        start = interval_start if start is None else start
        end = interval_end if end is None else end
    else:
        dag_run = context.get("dag_run")
        anchor = (
            interval_end
            or _moment(getattr(dag_run, "logical_date", None))
            or _moment(getattr(dag_run, "run_after", None))
        )
        if end is None:
            if anchor is None:
                raise InvalidWindowError("the run has no data interval, logical date or run_after: give until")
            end = anchor
        if start is None:
            previous = _previous_end(context)
            if previous is not None and previous < end:
                start, why = previous, "the run's data interval is empty: since the previous successful run's end"
            else:
                start = end - int(lookback.total_seconds())
                if getattr(dag_run, "logical_date", None) is None:
                    # Airflow looks up "the previous successful run" by logical date: a run triggered
                    # without one (the REST API's "logical_date": null) has none, whatever ran before.
                    why = (
                        f"the run has no logical date, so Airflow names no previous successful run: the last "
                        f"{_span(lookback)} (give since in the run's conf, or a logical date, to choose)"
                    )
                else:
                    why = f"the run's data interval is empty and no earlier successful run: the last {_span(lookback)}"
        else:
            why = "the run's data interval is empty"
    if explicit:
        why = " and ".join(explicit) + ("" if len(explicit) == 2 else f"; the rest from {why}")
    if end <= start:
        raise InvalidWindowError(
            f"since ({iso(start)}) must be before until ({iso(end)}): the window [since, until) is empty"
        )
    return Window(start, end), why


def _span(length: timedelta) -> str:
    """``6 hours``, ``1 day``, ``90 minutes``: a lookback as a log line says it."""
    seconds = int(length.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def _moment(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return to_timestamp(value)
    except (InvalidWindowError, TypeError, ValueError, OverflowError):
        return None


def _previous_end(context: Mapping[str, Any]) -> int | None:
    # A lazy proxy that asks the API server; absent (or failing) outside a scheduled run.
    try:
        return _moment(context.get("prev_data_interval_end_success"))
    except Exception:
        return None
