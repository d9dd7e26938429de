"""The rate budget's token bucket and the 429 backoff, on a fake clock: nothing here sleeps for real."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from airflow_stripe_automation.rate_budget import (
    LIVE_MODE_REQUESTS_PER_SECOND,
    STRIPE_POOL,
    TEST_MODE_REQUESTS_PER_SECOND,
    RateBudget,
    RateLimitBackoff,
    default_requests_per_second,
    parse_retry_after,
)


class FakeClock:
    """A monotonic clock that moves only when told to, or when a caller "sleeps" on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pool_and_stripes_limits_are_named_once():
    assert STRIPE_POOL == "stripe_api"
    assert (TEST_MODE_REQUESTS_PER_SECOND, LIVE_MODE_REQUESTS_PER_SECOND) == (25, 100)
    assert default_requests_per_second(livemode=False) == 25 and default_requests_per_second(livemode=True) == 100


def test_a_burst_leaves_at_once_then_requests_are_spaced_by_the_rate():
    clock = FakeClock()
    budget = RateBudget(10, burst=3, clock=clock, sleep=clock.sleep)
    waits = [budget.acquire() for _ in range(6)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:] == pytest.approx([0.1, 0.1, 0.1])  # each waits for its own token, 1/10 s apart
    assert clock.now == pytest.approx(1000.3)
    assert (budget.reserved, budget.delayed, budget.waited) == (6, 3, pytest.approx(0.3))


def test_over_any_span_no_more_than_burst_plus_rate_times_span_leave():
    clock = FakeClock()
    budget = RateBudget(8, burst=2, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(100):
        budget.acquire()
        sent.append(clock.now)
        clock.now += 0.003  # the request's own travel time
    for i, start in enumerate(sent):
        for j in range(i, len(sent)):
            assert j - i + 1 <= 2 + 8 * (sent[j] - start) + 1e-9
    assert 100 / (sent[-1] - sent[0]) == pytest.approx(8, rel=0.05)


def test_a_quiet_spell_refills_the_bucket_up_to_the_burst_only():
    clock = FakeClock()
    budget = RateBudget(4, burst=2, clock=clock, sleep=clock.sleep)
    assert [budget.reserve() for _ in range(2)] == [0, 0]
    clock.now += 60  # a minute's quiet is worth two requests, not 240
    assert [budget.reserve() for _ in range(3)] == [0, 0, pytest.approx(0.25)]


def test_the_default_burst_is_a_quarter_second_of_requests_and_at_least_one():
    assert RateBudget(25).burst == 6.25
    assert RateBudget(100).burst == 25
    assert RateBudget(2).burst == 1
    assert repr(RateBudget(25)) == "RateBudget(per_second=25, burst=6.25)"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "25"])
def test_a_budget_must_be_a_positive_number(bad):
    with pytest.raises(ValueError, match="positive number of requests a second"):
        RateBudget(bad)
    with pytest.raises(ValueError, match="at least one request"):
        RateBudget(10, burst=0.5)


def test_concurrent_callers_each_get_their_own_turn():
    clock = FakeClock()
    lock = threading.Lock()
    budget = RateBudget(5, burst=1, clock=clock, sleep=lambda s: None)
    waits: list[float] = []

    def take() -> None:
        for _ in range(25):
            wait = budget.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the clock never moved: 100 reservations are one burst and then one fifth of a second apart each
    assert sorted(waits) == pytest.approx([i / 5 for i in range(100)])


def test_the_async_acquire_waits_without_blocking_the_loop(monkeypatch):
    clock = FakeClock()
    budget = RateBudget(10, burst=1, clock=clock)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)

    async def main() -> list[float]:
        return [await budget.acquire_async() for _ in range(3)]

    assert asyncio.run(main()) == pytest.approx([0, 0.1, 0.2])
    assert slept == pytest.approx([0.1, 0.2])


def test_backoff_doubles_with_jitter_and_stops_after_the_attempts():
    backoff = RateLimitBackoff(attempts=5, base=0.5, cap=8)
    assert [backoff.delay(n, jitter=0.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert [backoff.delay(n, jitter=0.999999) for n in (1, 2, 3, 4)] == pytest.approx([0.5, 1, 2, 4], rel=1e-5)
    assert backoff.delay(5) is None  # the fifth attempt was the last
    assert RateLimitBackoff(attempts=10, base=1, cap=3).delay(9, jitter=0.0) == 1.5  # capped


def test_backoff_honours_retry_after_up_to_a_bound():
    backoff = RateLimitBackoff(max_retry_after=60)
    assert backoff.delay(1, "3", jitter=0.0) == 3  # longer than the backoff: Stripe's word wins
    assert backoff.delay(1, "0", jitter=0.0) == 0.25  # shorter: the backoff still spaces the retry
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    in_ten = format_datetime(datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC), usegmt=True)
    assert backoff.delay(1, in_ten, jitter=0.0, now=now) == 10
    assert backoff.delay(1, "3600", jitter=0.0) is None  # an hour is for Airflow's retry, not a sleeping task
    assert backoff.delay(1, "soon", jitter=0.0) == 0.25  # unreadable: ignored


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("2", 2.0), (" 1.5 ", 1.5), ("-4", 0.0), ("nan", None), ("later", None)],
)
def test_retry_after_reads_seconds(value, seconds):
    assert parse_retry_after(value, now=0.0) == seconds
