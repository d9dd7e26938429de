"""Which window a sensor searches: explicit since/until, the data interval, or the run before it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from airflow_stripe_automation.windows import InvalidWindowError, Window, resolve_window, to_timestamp

JAN1 = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00+01:00",
        "2026-01-01T00:00:00",
        "2026-01-01",
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1),
        date(2026, 1, 1),
        JAN1,
        str(JAN1),
        f" {JAN1} ",
        float(JAN1),
    ],
)
def test_moments_are_read_as_unix_seconds(value):
    assert to_timestamp(value) == JAN1


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", True, [JAN1], {"gte": JAN1}])
def test_unreadable_moments_are_refused_naming_the_field(value):
    with pytest.raises(InvalidWindowError, match="until must be an ISO 8601"):
        to_timestamp(value, "until")


def _context(start=None, end=None, previous_end=None, logical_date=None, run_after=None, conf=None):
    ctx = {"dag_run": SimpleNamespace(logical_date=logical_date, run_after=run_after, conf=conf or {})}
    if start is not None:
        ctx.update(data_interval_start=start, data_interval_end=end, prev_data_interval_end_success=previous_end)
    return ctx


def test_the_data_interval_is_the_window_by_default():
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    window, why = resolve_window(_context(start, end))
    assert window == Window(JAN1, JAN1 + DAY)
    assert why == "the run's data interval"
    assert str(window) == "[2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z)"


def test_since_and_until_replace_the_data_interval_and_rendered_nones_do_not():
    ctx = _context(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    assert resolve_window(ctx, "2026-01-01T00:00:00Z", JAN1 + 7 * DAY)[0] == Window(JAN1, JAN1 + 7 * DAY)
    # {{ dag_run.conf.get('since') }} renders "None" when the conf has no since
    assert resolve_window(ctx, "None", "")[0] == resolve_window(ctx)[0]
    window, why = resolve_window(ctx, since="2026-02-01")
    assert window == Window(JAN1 + 31 * DAY, to_timestamp("2026-03-02"))
    assert why == "since given; the rest from the run's data interval"


def test_an_empty_interval_starts_at_the_previous_successful_runs_end():
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    ctx = _context(moment, moment, previous_end=datetime(2026, 1, 1, 12, tzinfo=UTC))
    window, why = resolve_window(ctx)
    assert window == Window(JAN1 + DAY // 2, JAN1 + DAY)
    assert "previous successful run" in why


def test_an_empty_interval_without_an_earlier_run_looks_back():
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    window, why = resolve_window(_context(moment, moment, logical_date=moment), lookback=timedelta(hours=6))
    assert window == Window(JAN1 + DAY - 6 * 3600, JAN1 + DAY)
    assert why == "the run's data interval is empty and no earlier successful run: the last 6 hours"


def test_a_run_without_logical_date_ends_its_window_at_run_after_and_says_why_it_looks_back():
    ctx = _context(run_after=datetime(2026, 1, 2, tzinfo=UTC))
    window, why = resolve_window(ctx)
    assert window == Window(JAN1, JAN1 + DAY)
    assert why == (
        "the run has no logical date, so Airflow names no previous successful run: the last 1 day "
        "(give since in the run's conf, or a logical date, to choose)"
    )


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(InvalidWindowError, match=r"since \(2026-01-02T00:00:00Z\) must be before until"):
        resolve_window(_context(run_after=datetime(2026, 1, 3)), "2026-01-02", "2026-01-01")


def test_contains_is_half_open():
    window = Window(10, 20)
    assert [window.contains(t) for t in (9, 10, 19, 20, None)] == [False, True, True, False, False]


def test_the_run_conf_replays_a_window_unless_the_sensor_says_otherwise():
    ctx = _context(
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
        conf={"since": "2026-01-01T00:00:00Z", "until": JAN1 + DAY},
    )
    assert resolve_window(ctx) == (Window(JAN1, JAN1 + DAY), "since from the run conf and until from the run conf")
    assert resolve_window(ctx, until=JAN1 + 2 * DAY)[0] == Window(JAN1, JAN1 + 2 * DAY)  # the sensor's own wins
    assert resolve_window(ctx, from_conf=False)[0] == Window(to_timestamp("2026-03-01"), to_timestamp("2026-03-02"))


def test_an_unreadable_conf_bound_names_the_run_conf():
    ctx = _context(run_after=datetime(2026, 1, 3, tzinfo=UTC), conf={"since": "last week"})
    with pytest.raises(InvalidWindowError, match="the run conf's since must be an ISO 8601"):
        resolve_window(ctx)
