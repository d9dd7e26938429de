"""Faults a test asks for: the next N requests matching a method and path fail, lose their answer, or stall.

Four kinds, each for the next ``count`` matching ``/v1`` requests (``path`` exact, or a pattern
where ``*`` stands for any text: ``/v1/invoices/*/send``; ``method`` optional), and each may first let some matching requests through
(``after``: "the second metadata write of this customer fails" is
``fail_next(500, path="/v1/customers/cus_1", method="POST", after=1)``):

``fail`` (:meth:`~.server.LocalStripeServer.fail_next`, a ``status``)
    Answer 429, 500, 503 (or 409, 400…) *before the write*, as a rate limit or an outage would:
    nothing changes and no idempotent result is saved, so a retry with the same key executes
    normally. What makes the SDK's retry behaviour (``max_network_retries``,
    ``Stripe-Should-Retry``) testable.
``drop`` (:meth:`~.server.LocalStripeServer.drop_next`)
    *Apply the write, then drop the connection* without an answer, as when Stripe's response is
    lost on the way back: the object exists, the events are emitted, the idempotent result is
    saved (a retry with the same key within 24 h is answered ``Idempotent-Replayed``), the request
    log records the status the handler gave — and the client sees the connection reset (the SDK
    raises ``stripe.APIConnectionError``, or retries it when ``max_network_retries`` allows).
``stall`` (:meth:`~.server.LocalStripeServer.stall_next`)
    Hold the request ``delay`` seconds *after its idempotency key is reserved and before the
    write*, longer than the client waits: the client times out (``APIConnectionError``) while the
    server goes on and applies the write when the stall ends. A retry sent during the stall gets
    Stripe's 409 for a key in use; one sent after it is replayed. (``slow_next`` is the same
    delay, meant to stay within the client's timeout.)

Faults apply only to ``/v1`` requests over HTTP (not ``server.call()``); a reset drops the pending
ones. Each fault met is counted (:attr:`FaultQueue.met`), so a suite can report how many it injected.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

#: the kinds of fault (see the module's docstring)
FAIL, DROP, STALL = "fail", "drop", "stall"


@dataclass
class Fault:
    """
    One injected fault, for the next ``remaining`` matching requests.

    :param remaining: how many matching requests it still applies to
    :param status: ``fail``: the HTTP status answered before the write (None: no error)
    :param delay: seconds the request is held after its key is reserved (``stall``, ``slow_next``)
    :param method: only requests of this method (None: any)
    :param path: only this path, exactly, or a pattern where ``*`` stands for any text, ``/`` included
        (``/v1/customers/*``, ``/v1/invoices/*/send``) (None: any)
    :param message: ``fail``: the error message instead of Stripe's usual one
    :param code: ``fail``: the error's ``code`` (``resource_missing``, ``parameter_invalid_integer``…)
    :param should_retry: ``fail``: the ``Stripe-Should-Retry`` header (None: not sent)
    :param after: let this many matching requests through first
    :param drop: apply the write, then drop the connection without an answer
    """

    remaining: int
    status: int | None = None  # None: no error, only ``delay`` or ``drop``
    delay: float = 0.0
    method: str | None = None
    path: str | None = None  # exact path, or a pattern where "*" stands for any text ("/v1/invoices/*/send")
    message: str | None = None
    code: str | None = None
    should_retry: bool | None = None
    after: int = 0  # let this many matching requests through first ("fail the second metadata write")
    drop: bool = False

    @property
    def kind(self) -> str:
        """``fail``, ``drop`` or ``stall`` (a delay, whether or not it outlasts the client's timeout)."""
        if self.status:
            return FAIL
        return DROP if self.drop else STALL

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path is None:
            return True
        return fnmatchcase(path, self.path) if "*" in self.path else path == self.path


class FaultQueue:
    """The pending faults, first added first met; the caller holds the server's lock."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        #: what each fault met: ``{"kind", "method", "path", "request_id"}``, oldest first (a reset empties it)
        self.met: list[dict[str, str]] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError(f"a fault applies to at least one request, got count={fault.remaining}")
        if fault.status is None and not fault.drop and fault.delay <= 0:
            raise ValueError("a fault needs a status (fail), drop=True or a delay (stall)")
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()
        self.met.clear()

    def __len__(self) -> int:
        """How many faults are still waiting for a request (a test can tell one has been met)."""
        return len(self._faults)

    def take(self, method: str, path: str, request_id: str = "") -> Fault | None:
        """The first pending fault that applies to this request, consuming one of its uses."""
        for fault in self._faults:
            if fault.matches(method, path):
                if fault.after > 0:  # this one passes (another pending fault may still apply)
                    fault.after -= 1
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                self.met.append({"kind": fault.kind, "method": method, "path": path, "request_id": request_id})
                return fault
        return None
