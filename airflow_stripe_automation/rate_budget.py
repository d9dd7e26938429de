"""The rate budget: how fast one Stripe client may call Stripe, and how it waits after a ``429``.

Stripe allows about 25 requests a second in test mode and 100 in live mode per account, and
answers the rest with ``429 rate_limit`` (nothing done). Every client the hook builds carries a
:class:`RateBudget` (the connection's ``max_requests_per_second``, defaulting to those limits) that
spaces its requests out before they leave, and retries a ``429`` that still comes back after a
:class:`RateLimitBackoff` pause, resending the same request with the same idempotency key.

A budget belongs to one hook, so to one task process (each task builds one hook) or one trigger.
Airflow's pool :data:`STRIPE_POOL` bounds how many such tasks run at once, so the rate the fleet
can reach is at most the pool's slots × the budget: size them so that product stays under Stripe's
limit (4 slots × 6 requests/s in test mode; 4 × 25 in live mode).

Nothing here imports the SDK: DAG files may import :data:`STRIPE_POOL` at parse time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

STRIPE_POOL = "stripe_api"
"""The Airflow pool of tasks that call Stripe; create it (``airflow pools set stripe_api 4 "…"``) before using it."""

TEST_MODE_REQUESTS_PER_SECOND = 25.0
"""Stripe's documented rate limit for test-mode keys (``sk_test_…``, ``rk_test_…``)."""

LIVE_MODE_REQUESTS_PER_SECOND = 100.0
"""Stripe's documented rate limit for live-mode keys (``sk_live_…``, ``rk_live_…``)."""


def default_requests_per_second(livemode: bool) -> float:
    """
    Return Stripe's documented limit for a key mode, the budget a connection gets unless it sets one.

    :param livemode: whether the key is a live-mode key
    """
    return LIVE_MODE_REQUESTS_PER_SECOND if livemode else TEST_MODE_REQUESTS_PER_SECOND


class RateBudget:
    """
    Let through at most ``per_second`` requests a second on average, with a burst of ``burst``: a token bucket.

    :meth:`reserve` takes the next request's token even when the bucket is empty (the debt is what
    the caller waits for), so concurrent callers are served in the order they asked and none waits
    longer than its turn. Thread-safe; the clock is monotonic, so a moved wall clock changes nothing.

    The burst defaults to a quarter of a second's worth (at least one request): a task making a few
    calls never waits, while a sustained run is spaced evenly. A burst as large as the server's own
    (Stripe's: about a second's worth) would leave Stripe's bucket no slack, and the jitter of a
    request's travel time alone would then turn into 429s.

    :param per_second: the budget, requests a second (positive)
    :param burst: how many requests may leave at once after a quiet spell (at least 1)
    :param clock: monotonic seconds (injectable for tests)
    :param sleep: how :meth:`acquire` waits (injectable for tests)
    """

    def __init__(
        self,
        per_second: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if not (isinstance(per_second, int | float) and math.isfinite(per_second) and per_second > 0):
            raise ValueError(f"a rate budget must be a positive number of requests a second, got {per_second!r}")
        if burst is not None and not (math.isfinite(burst) and burst >= 1):
            raise ValueError(f"a rate budget's burst must be at least one request, got {burst!r}")
        self.per_second = float(per_second)
        self.burst = float(burst) if burst is not None else max(1.0, self.per_second / 4)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # The bucket's state, filled on the first reservation: tokens left (negative: reserved ahead)
        # at the moment ``_last``.
        self._tokens: float | None = None
        self._last = 0.0
        self.reserved = 0  # requests let through
        self.delayed = 0  # of which had to wait for their turn
        self.waited = 0.0  # seconds spent waiting, in all

    def reserve(self) -> float:
        """Take one request's token and return how many seconds to wait before sending it (0: at once)."""
        with self._lock:
            now = self._clock()
            if self._tokens is None:
                tokens = self.burst
            else:
                tokens = min(self.burst, self._tokens + (now - self._last) * self.per_second)
            self._tokens = tokens - 1.0
            self._last = now
            wait = -self._tokens / self.per_second if self._tokens < 0 else 0.0
            self.reserved += 1
            if wait > 0:
                self.delayed += 1
                self.waited += wait
            return wait

    def acquire(self) -> float:
        """Wait (blocking) until the next request may leave; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    async def acquire_async(self) -> float:
        """Wait without blocking the event loop until the next request may leave; return the seconds waited."""
        import asyncio

        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"RateBudget(per_second={self.per_second:g}, burst={self.burst:g})"


@dataclass(frozen=True)
class RateLimitBackoff:
    """
    How long to wait after a ``429`` before sending the same request again, and how many times.

    Exponential with jitter: before attempt ``n + 1`` the wait is drawn from ``[d/2, d)`` with
    ``d = min(cap, base × 2^(n-1))`` (0.5 s, 1 s, 2 s, 4 s by default), so clients that were refused
    together do not come back together. A ``Retry-After`` header is honoured: the wait is at least
    what it asks; one longer than ``max_retry_after`` is not waited out in the task (the 429 surfaces
    and Airflow's retry policy takes over, holding no worker slot).

    :param attempts: attempts in all, the first included (at least 1)
    :param base: the first wait's upper bound, seconds
    :param cap: the largest wait drawn, seconds
    :param max_retry_after: the longest ``Retry-After`` waited out, seconds
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 60.0

    def delay(
        self, attempt: int, retry_after: str | None = None, jitter: float = 1.0, now: float | None = None
    ) -> float | None:
        """
        Return the seconds to wait after attempt ``attempt`` answered 429, or None to give up.

        :param attempt: the attempt that was refused, counted from 1
        :param retry_after: the response's ``Retry-After`` header, if any
        :param jitter: a number in ``[0, 1)`` (``random.random()``), chooses the wait within its range
        :param now: the wall clock (unix seconds) a ``Retry-After`` date is read against; default now
        """
        if attempt >= self.attempts:
            return None
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        wait = ceiling / 2 + ceiling / 2 * min(max(jitter, 0.0), 1.0)
        asked = parse_retry_after(retry_after, time.time() if now is None else now)
        if asked is not None:
            if asked > self.max_retry_after:
                return None
            wait = max(wait, asked)
        return wait


def parse_retry_after(value: str | None, now: float) -> float | None:
    """
    Read a ``Retry-After`` header: seconds, or an HTTP date; None when absent or unreadable.

    :param value: the header's value
    :param now: the wall clock (unix seconds) a date is read against
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
