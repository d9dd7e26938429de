"""Failures a test asks for: the next N matching requests get a 429/500/... or are slowed down.

A fault may first let some matching requests through (``after``): "the second metadata write of
this customer fails" is ``fail_next(500, path="/v1/customers/cus_1", method="POST", after=1)``.

Injected failures happen before the endpoint runs (as a rate limit or an outage would), so nothing
changes and no idempotent result is saved: a retry with the same key executes normally. This is
what makes the SDK's retry behaviour (``max_network_retries``, ``Stripe-Should-Retry``) testable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Fault:
    remaining: int
    status: int | None = None  # None: no error, only ``delay``
    delay: float = 0.0
    method: str | None = None
    path: str | None = None  # exact path, or a prefix ending with "*"
    message: str | None = None
    should_retry: bool | None = None
    after: int = 0  # let this many matching requests through first ("fail the second metadata write")

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def __len__(self) -> int:
        """How many faults are still waiting for a request (a test can tell one has been met)."""
        return len(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault that applies to this request, consuming one of its uses."""
        for fault in self._faults:
            if fault.matches(method, path):
                if fault.after > 0:  # this one passes (another pending fault may still apply)
                    fault.after -= 1
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None
