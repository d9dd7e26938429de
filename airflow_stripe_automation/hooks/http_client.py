"""The HTTP client the hook gives its ``stripe.StripeClient``: the SDK's own, paced by a rate budget, retrying 429.

Stripe-python 16 retries connection errors, 409 and 5xx (``max_network_retries``), but a ``429``
only when Stripe adds ``Stripe-Should-Retry: true``, which its rate limiter does not send
(``HTTPClient._should_retry``). This client wraps the SDK's default one: every attempt, the SDK's
retries included, first waits its turn in the :class:`~airflow_stripe_automation.rate_budget.RateBudget`;
a ``429`` that comes back anyway is sent again after a
:class:`~airflow_stripe_automation.rate_budget.RateLimitBackoff` pause, with the same headers and
so the same ``Idempotency-Key`` (a 429 did nothing at Stripe, so resending is safe even for a write).
When the attempts run out, the last 429 goes back to the SDK, which raises ``stripe.RateLimitError``
as it would without us, and :mod:`airflow_stripe_automation.errors` treats it as before.

Building one also turns the SDK's two INFO lines per request ("Request to Stripe api", "Stripe API
response", on the ``stripe`` logger) into DEBUG lines (:class:`PerRequestLinesAtDebug`): in a
triggerer polling for a thousand sensors they were most of its CPU. The ``stripe`` logger is the
process's, so this holds for every stripe-python client in a process where the provider built one;
set that logger to DEBUG to see the lines again. Its warnings and errors are left as they are.

Imported by the hook when it builds its client, never at DAG parse time (it imports the SDK).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import stripe
from stripe._http_client import new_http_client_async_fallback

from airflow_stripe_automation.rate_budget import RateBudget, RateLimitBackoff
from airflow_stripe_automation.windows import http_date

log = logging.getLogger(__name__)

RATE_LIMITED = 429


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A response header by name, whatever its case (requests and httpx give case-insensitive maps; a plain dict may not)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


@dataclass(frozen=True)
class WriteAnswer:
    """
    What Stripe's answer to a write says about it, beyond its body.

    :param request_id: Stripe's ``Request-Id``, which its support and dashboard logs find the request by
    :param replayed: Stripe answered with the first response to this idempotency key (``Idempotent-Replayed``):
        the write was made before, by an earlier try
    """

    request_id: str | None
    replayed: bool


#: The start of the SDK's per-request INFO lines (``stripe._api_requestor``, logfmt: the message comes first).
_PER_REQUEST_LINES = ("message='Request to Stripe api'", "message='Stripe API response'")


class PerRequestLinesAtDebug(logging.Filter):
    """
    On the ``stripe`` logger: log the SDK's per-request INFO lines at DEBUG; pass everything else.

    The SDK logs them with ``logger.info`` whatever the logger's level, so the level check has
    passed by the time a filter sees one: the record is relabelled DEBUG and kept only when the
    logger would log DEBUG (handlers then judge it by its new level).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith(_PER_REQUEST_LINES):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def per_request_lines_at_debug() -> None:
    """Install :class:`PerRequestLinesAtDebug` on the ``stripe`` logger, once however often it is called."""
    sdk_log = logging.getLogger("stripe")
    if not any(isinstance(f, PerRequestLinesAtDebug) for f in sdk_log.filters):
        sdk_log.addFilter(PerRequestLinesAtDebug())


class BudgetedHTTPClient(stripe.HTTPClient):
    """
    Send every request through ``inner`` within ``budget``, and resend it after a backoff when Stripe answers 429.

    :param budget: the rate budget every attempt waits for
    :param inner: the client that talks HTTP (default: the SDK's, as ``StripeClient`` builds it)
    :param backoff: how long to wait after a 429, and how many attempts in all
    :param sleep: how the blocking path waits after a 429 (injectable for tests)
    :param jitter: a number in ``[0, 1)`` per wait (injectable for tests)
    """

    name = "budgeted"

    def __init__(
        self,
        budget: RateBudget,
        inner: stripe.HTTPClient | None = None,
        *,
        backoff: RateLimitBackoff | None = None,
        sleep: Callable[[float], object] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__()
        per_request_lines_at_debug()
        self.budget = budget
        # The SDK's own pairing (what StripeClient builds when given no http_client): a sync client
        # with an async fallback. The fallback's factory is not re-exported at stripe's top level.
        self.inner = inner or stripe.new_default_http_client(async_fallback_client=new_http_client_async_fallback())
        self.backoff = backoff or RateLimitBackoff()
        self._sleep = sleep
        self._jitter = jitter
        self.rate_limited = 0  # 429s seen, retried or not
        self.retried = 0  # of which were sent again
        #: the latest write's answer, for the operator's log line (the SDK's objects are made plain)
        self.last_write: WriteAnswer | None = None
        #: Stripe's clock minus ours, seconds, from the latest answer's ``Date`` header (None: no answer yet)
        self.stripe_lead: float | None = None

    # -- one attempt: wait for the budget, then send ---------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        self.budget.acquire()
        return self.inner.request(method, url, headers, post_data)

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        # Paced, not retried on 429: a refused stream would have to be drained and closed first, and
        # the provider streams nothing (only file downloads do).
        self.budget.acquire()
        return self.inner.request_stream(method, url, headers, post_data)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        await self.budget.acquire_async()
        return await self.inner.request_async(method, url, headers, post_data)

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[Any, int, Mapping[str, str]]:
        await self.budget.acquire_async()
        return await self.inner.request_stream_async(method, url, headers, post_data)

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return self.inner.sleep_async(secs)

    def close(self) -> None:
        self.inner.close()

    async def close_async(self) -> None:
        await self.inner.close_async()

    # -- a request: the SDK's retries (connection errors, 409, 5xx) inside, ours (429) around ------
    def request_with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: Any = None,
        max_network_retries: int | None = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        attempt = 1
        while True:
            response = super().request_with_retries(method, url, headers, post_data, max_network_retries, _usage=_usage)
            wait = self._after(response, method, url, attempt)
            if wait is None:
                return response
            self._sleep(wait)
            attempt += 1

    async def request_with_retries_async(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: Any = None,
        max_network_retries: int | None = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Any]:
        attempt = 1
        while True:
            response = await super().request_with_retries_async(
                method, url, headers, post_data, max_network_retries, _usage=_usage
            )
            wait = self._after(response, method, url, attempt)
            if wait is None:
                return response
            await self.sleep_async(wait)
            attempt += 1

    def _after(self, response: tuple[Any, int, Any], method: str, url: str, attempt: int) -> float | None:
        """Seconds to wait before sending the request again, or None to hand ``response`` back; logs a 429."""
        _, status, headers = response
        stripe_time = http_date(_header(headers, "Date"))
        if stripe_time is not None:
            self.stripe_lead = stripe_time - time.time()
        if status != RATE_LIMITED:
            if method.lower() != "get":
                self.last_write = WriteAnswer(
                    request_id=_header(headers, "Request-Id"),
                    replayed=(_header(headers, "Idempotent-Replayed") or "").lower() == "true",
                )
            return None
        self.rate_limited += 1
        if (_header(headers, "Stripe-Should-Retry") or "").lower() == "false":
            return None  # Stripe says a retry would not help; the SDK honours that too
        where = f"{method.upper()} {urlsplit(url).path}"  # the path only: a query may hold customer data
        retry_after = _header(headers, "Retry-After")
        wait = self.backoff.delay(attempt, retry_after, self._jitter())
        if wait is None:
            if attempt >= self.backoff.attempts:
                log.warning("Stripe rate limit (429) on %s; giving up after %d attempts", where, attempt)
            else:
                log.warning(
                    "Stripe rate limit (429) on %s; Retry-After %s is longer than a task waits (%g s): "
                    "leaving it to the task's retry",
                    where,
                    retry_after,
                    self.backoff.max_retry_after,
                )
            return None
        self.retried += 1
        log.warning(
            "Stripe rate limit (429) on %s; retrying in %.1f s (attempt %d of %d)",
            where,
            wait,
            attempt + 1,
            self.backoff.attempts,
        )
        return wait
