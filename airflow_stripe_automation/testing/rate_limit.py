"""Stripe's request rate limit, optional on the local server: a token bucket over real time.

Stripe allows about 25 requests per second in test mode and 100 in live mode and answers the rest
with ``429`` (``rate_limit``). The local server has no limit unless asked (``--rate-limit 25``,
``LocalStripeServer(rate_limit=25)`` or ``set_rate_limit(25)``), so callers that pace themselves
can be tested and benchmarked. The bucket holds one second's worth of requests (at least one) and
refills continuously; it runs on real (monotonic) time, not on the server clock a test moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """Admit at most ``per_second`` requests a second on average, with a burst of one second's worth.

    :param per_second: the limit; ``None`` admits everything
    :param now: the time source (monotonic seconds)
    """

    def __init__(self, per_second: float | None = None, now: Callable[[], float] = time.monotonic) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError(f"a rate limit must be positive, got {per_second!r}")
        self.per_second = per_second
        self._now = now
        self._capacity = max(1.0, per_second or 0.0)
        self._tokens = self._capacity
        self._last = now()
        self.refused = 0

    def admit(self) -> bool:
        """Take one request's token; False (and count it) when the bucket is empty."""
        if self.per_second is None:
            return True
        moment = self._now()
        self._tokens = min(self._capacity, self._tokens + (moment - self._last) * self.per_second)
        self._last = moment
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.refused += 1
        return False
