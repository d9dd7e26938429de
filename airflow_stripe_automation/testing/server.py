"""``LocalStripeServer``: the local Stripe API in a background thread, and its controls for tests.

The server owns its event loop in a daemon thread, so synchronous test code (and the real
``stripe`` SDK) can talk to it over HTTP while the test controls it directly: reset, clock, the
request log, injected failures. The socket is bound in ``start()`` before the thread runs, so
``url`` is known at once; ``start()`` returns once ``GET /_testing/health`` answers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from .app import AppState, create_app
from .faults import Fault
from .rate_limit import RateLimiter
from .resources import radar

if TYPE_CHECKING:
    import stripe

DEFAULT_API_KEY = "sk_test_local_0000000000000000000000000000"


class LocalStripeServer:
    """A stateful, in-memory Stripe API on ``host:port`` (``port=0`` picks a free port)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, api_key: str = DEFAULT_API_KEY, rate_limit: float | None = None
    ) -> None:
        """
        :param host: the address to listen on
        :param port: the port; 0 picks a free one
        :param api_key: the key :meth:`client` uses (any ``sk_test_``/``rk_test_`` key is accepted)
        :param rate_limit: answer ``429`` beyond this many requests a second, as Stripe does (25 in
            test mode, 100 live); None: no limit
        """
        self.host = host
        self.port = port
        self.api_key = api_key
        self.state = AppState(rate_limit=rate_limit)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LocalStripeServer:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="local-stripe-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"local Stripe server did not start: {self._error!r}")
        self._wait_healthy(timeout)
        return self

    def _serve(self, sock: socket.socket) -> None:
        from aiohttp import web

        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            runner = web.AppRunner(create_app(self.state), access_log=None, handle_signals=False, shutdown_timeout=2.0)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
        except BaseException as exc:  # report to start() instead of dying silently
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_testing/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._ready.clear()

    def __enter__(self) -> LocalStripeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- clients --------------------------------------------------------------------------------
    def client(self, **kwargs: Any) -> stripe.StripeClient:
        """A ``stripe.StripeClient`` for this server (``max_network_retries=0`` unless given)."""
        import stripe

        kwargs.setdefault("max_network_retries", 0)
        url = self.url
        return stripe.StripeClient(
            self.api_key,
            base_addresses={"api": url, "connect": url, "files": url, "meter_events": url},
            **kwargs,
        )

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """Run an endpoint in this process, without HTTP: the fastest way to seed many objects.

        ``server.call("POST", "/v1/customers", {"email": "a@example.com"})`` makes the same customer
        and events as the SDK's request would, but nothing reaches the request log and no API key,
        rate limit, injected failure or idempotency key applies. Raises :class:`~.errors.StripeError`
        as the endpoint would answer; returns a copy of the response body.

        :param method: ``GET``, ``POST`` or ``DELETE``
        :param path: the URL path, e.g. ``/v1/invoices/in_123/finalize``
        :param params: the request parameters as Python values, as given to the SDK
        """
        return self.state.call(method, path, params)

    # -- controls -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Drop all state: objects, events, idempotency keys, request log, failures; real time again."""
        self.state.reset()

    def set_rate_limit(self, per_second: float | None) -> None:
        """Answer ``429 rate_limit`` beyond ``per_second`` requests a second (None: no limit) until the next reset."""
        with self.state.lock:
            self.state.limiter = RateLimiter(per_second)

    @property
    def rate_limited(self) -> int:
        """How many requests the rate limit has refused since it was set (or since the last reset)."""
        with self.state.lock:
            return self.state.limiter.refused

    def now(self) -> int:
        with self.state.lock:
            return self.state.store.now()

    def advance_clock(self, seconds: float = 0, days: float = 0) -> int:
        """Move server time forward; returns the new time. Families' time-based behaviour runs now."""
        delta = int(seconds + days * 86400)
        if delta < 0:
            raise ValueError("the clock only moves forward; use set_clock() to go back")
        with self.state.lock:
            self.state.store.move_clock(self.state.store.now() + delta)
            self.state.store.settle()
            return self.state.store.now()

    def set_clock(self, timestamp: int, *, pin: bool = False) -> int:
        """Move server time to ``timestamp``; with ``pin``, keep it there (time stops) until set again without."""
        with self.state.lock:
            clock = self.state.store.clock
            clock.pinned = None
            self.state.store.move_clock(int(timestamp))
            self.state.store.settle()
            if pin:
                clock.pinned = int(timestamp)
            return self.state.store.now()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded ``/v1`` requests, oldest first: method, path, params, idempotency_key, status, replayed, ..."""
        with self.state.lock:
            return self.state.requests.records()

    def write_requests(self) -> list[dict[str, Any]]:
        """The recorded non-GET requests (what changed, or tried to change, state)."""
        return [r for r in self.requests if r["method"] != "GET"]

    def fail_next(
        self,
        status: int = 500,
        count: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        message: str | None = None,
        should_retry: bool | None = None,
        after: int = 0,
        code: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching ``/v1`` requests with ``status`` (429, 500, 503, 409...), before the write.

        Nothing changes and no idempotent result is saved: a retry with the same key runs normally.
        ``path`` is exact or a pattern where ``*`` stands for any text (``/v1/invoices/*/send``);
        ``code`` sets the error's code; ``should_retry`` sets ``Stripe-Should-Retry``;
        ``after`` lets that many matching requests through first (``after=1``: the second one fails).
        For a write applied whose answer is lost see :meth:`drop_next`; for a timeout, :meth:`stall_next`.
        """
        with self.state.lock:
            self.state.faults.add(
                Fault(
                    remaining=count,
                    status=status,
                    method=method,
                    path=path,
                    message=message,
                    should_retry=should_retry,
                    after=after,
                    code=code,
                )
            )

    def slow_next(self, seconds: float, count: int = 1, *, path: str | None = None, method: str | None = None) -> None:
        """Delay the next ``count`` matching requests (after their idempotency key is taken)."""
        with self.state.lock:
            self.state.faults.add(Fault(remaining=count, delay=seconds, method=method, path=path))

    def drop_next(self, count: int = 1, *, path: str | None = None, method: str | None = None, after: int = 0) -> None:
        """Apply the next ``count`` matching ``/v1`` requests, then reset their connection without an answer.

        As when Stripe's response is lost: the object exists, its events are out, the idempotent
        result is saved (a retry with the same key within 24 h replays it), the request log has the
        handler's status; the client sees a connection reset (``stripe.APIConnectionError``).

        :param count: how many matching requests lose their answer
        :param path: exact, or a pattern where ``*`` stands for any text
        :param method: e.g. ``POST``; None: any
        :param after: let that many matching requests through first
        """
        with self.state.lock:
            self.state.faults.add(Fault(remaining=count, drop=True, method=method, path=path, after=after))

    def stall_next(
        self, seconds: float, count: int = 1, *, path: str | None = None, method: str | None = None, after: int = 0
    ) -> None:
        """Hold the next ``count`` matching requests ``seconds`` before the write: beyond a client's timeout.

        The idempotency key is reserved first, then the request waits, then the write is applied
        (the server goes on after the client has given up). A client whose timeout is shorter
        raises ``stripe.APIConnectionError``; its retry with the same key gets Stripe's 409 while
        the stall lasts and the saved result after it.

        :param seconds: how long the request is held
        :param count: how many matching requests stall
        :param path: exact, or a pattern where ``*`` stands for any text
        :param method: e.g. ``POST``; None: any
        :param after: let that many matching requests through first
        """
        with self.state.lock:
            self.state.faults.add(Fault(remaining=count, delay=seconds, method=method, path=path, after=after))

    @property
    def faults_met(self) -> list[dict[str, str]]:
        """The injected faults requests have met since the last reset: ``kind``, ``method``, ``path``, ``request_id``."""
        with self.state.lock:
            return [dict(m) for m in self.state.faults.met]

    def create_early_fraud_warning(
        self, charge_id: str, fraud_type: str = "made_with_stolen_card", actionable: bool = True
    ) -> dict[str, Any]:
        """What Stripe does when a card issuer reports fraud: a ``radar.early_fraud_warning`` on the charge.

        Emits ``radar.early_fraud_warning.created``; ``actionable`` is false anyway if the charge is
        already fully refunded or disputed. Raises :class:`~.errors.StripeError` for an unknown or
        unsuccessful charge or an unknown ``fraud_type``. Over HTTP: ``POST /_testing/early_fraud_warnings``.
        """
        with self.state.lock:
            try:
                warning = radar.create_warning(self.state.store, charge_id, fraud_type, actionable)
                return json.loads(json.dumps(warning))
            finally:
                self.state.store.settle()

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """All recorded events, oldest first (optionally of one type), without HTTP or retention."""
        with self.state.lock:
            found = [obj for _, obj in self.state.store.scan("event")]
        found.reverse()
        return [json.loads(json.dumps(e)) for e in found if type is None or e["type"] == type]
