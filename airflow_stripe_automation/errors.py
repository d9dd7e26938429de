"""Stripe errors as Airflow sees them: which fail the task now, which are worth a retry, and why.

Card declines, invalid requests, authentication and idempotency conflicts will not get better on
retry, so they become :class:`AirflowFailException` subclasses (no retry, whatever ``retries`` says).
Rate limits, connection errors and 5xx are retried: first by the hook's client (the SDK's
``max_network_retries`` for connection errors, 409 and 5xx; up to 5 attempts with backoff for a 429,
:mod:`airflow_stripe_automation.rate_budget`; same idempotency key), then by Airflow through
:class:`StripeRetryPolicy`, with a delay that suits them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import RetryDecision, RetryPolicy
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    import stripe
    from airflow.sdk import Context


class StripeInputError(AirflowFailException):
    """An input the operator refused before any call to Stripe."""


class StripeActionFailed(AirflowFailException):
    """Stripe refused the action for a reason a retry cannot fix."""

    def __init__(
        self, message: str, *, code: str | None = None, decline_code: str | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.decline_code = decline_code
        self.request_id = request_id


class StripeCardDeclined(StripeActionFailed):
    """The card was declined; the payment did not happen."""


class StripeBatchIncomplete(AirflowException):
    """Some objects of a batch failed, at least one for a reason a retry may fix; the others are done."""


class StripeBatchFailed(AirflowFailException):
    """Some objects of a batch failed for reasons a retry cannot fix; the others are done."""


def retryable_errors() -> tuple[type[Exception], ...]:
    """Stripe errors that may succeed on a later try (the SDK is imported lazily)."""
    import stripe

    return (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError)


def _describe(err: stripe.StripeError) -> dict[str, Any]:
    error = getattr(err, "error", None)
    return {
        "code": getattr(err, "code", None) or getattr(error, "code", None),
        "decline_code": getattr(error, "decline_code", None),
        "param": getattr(error, "param", None),
        "message": getattr(err, "user_message", None) or getattr(error, "message", None) or "no message",
        "request_id": getattr(err, "request_id", None),
    }


def translate(err: Exception, action: str) -> Exception:
    """
    Return the exception to raise for a Stripe error met while doing ``action``.

    Non-retryable errors become :class:`StripeActionFailed` (or :class:`StripeCardDeclined`) with
    Stripe's code, decline code and request id in the message; others are returned unchanged so the
    retry policy sees the original type. Messages come from Stripe's error body, which never holds the
    full API key.

    :param err: the exception raised by the SDK
    :param action: what was being done, for the message (e.g. "charge cus_123")
    """
    import stripe

    if not isinstance(err, stripe.StripeError) or isinstance(err, retryable_errors()):
        return err
    d = _describe(err)
    ref = f" [request {d['request_id']}]" if d["request_id"] else ""
    if isinstance(err, stripe.CardError):
        why = d["decline_code"] or d["code"]
        return StripeCardDeclined(
            f"Stripe declined {action}: {d['code']}"
            + (f" ({d['decline_code']})" if d["decline_code"] and d["decline_code"] != d["code"] else "")
            + f" — {d['message']}{ref}. Nothing was charged.",
            code=d["code"],
            decline_code=why,
            request_id=d["request_id"],
        )
    kind = {
        stripe.AuthenticationError: "authentication failed (check the connection's key)",
        stripe.PermissionError: "the key lacks permission",
        stripe.IdempotencyError: "idempotency conflict: the same key was used with other parameters",
    }.get(type(err), "invalid request")
    param = f" (param {d['param']})" if d["param"] else ""
    code = f" {d['code']}" if d["code"] else ""
    return StripeActionFailed(
        f"Stripe refused {action}: {kind}{code}{param} — {d['message']}{ref}",
        code=d["code"],
        request_id=d["request_id"],
    )


def default_retries() -> int:
    """
    Tries after the first for a Stripe task that does not say: ``[core] default_task_retries``, or 3.

    A retry policy only acts while the task has retries left, and Airflow's default is none, so a
    single 429 or 5xx past the client's own attempts would fail the task; 3 outlasts a rate-limit
    burst or a short outage (30 s, then 10-20-40 s backoff). It is the default of the operators'
    ``retries`` argument, so ``retries=``, ``default_args`` and ``.partial()`` work as for any
    operator.
    """
    from airflow.sdk import conf

    return conf.getint("core", "default_task_retries", fallback=0) or 3


class StripeRetryPolicy(RetryPolicy):
    """
    Retry what a retry can fix: rate limits after a pause, connection errors and 5xx with backoff.

    Everything else keeps the task's own retry settings. Non-retryable Stripe errors never reach
    this policy: they are raised as :class:`AirflowFailException`.

    :param rate_limit_delay: wait before retrying after HTTP 429
    :param server_error_delay: first wait after a connection error or 5xx; doubles per try
    """

    def __init__(
        self, rate_limit_delay: timedelta = timedelta(seconds=30), server_error_delay: timedelta = timedelta(seconds=10)
    ) -> None:
        self.rate_limit_delay = rate_limit_delay
        self.server_error_delay = server_error_delay

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Context | None = None
    ) -> RetryDecision:
        import stripe

        if isinstance(exception, stripe.RateLimitError):
            return RetryDecision.retry(self.rate_limit_delay, "Stripe rate limit (429); backing off")
        if isinstance(exception, retryable_errors()):
            delay = self.server_error_delay * (2 ** max(try_number - 1, 0))
            return RetryDecision.retry(delay, f"Stripe unreachable or 5xx ({type(exception).__name__})")
        if isinstance(exception, StripeBatchIncomplete):
            # Objects of the batch met outages or rate limits; the retry redoes only those, soon.
            delay = self.server_error_delay * (2 ** max(try_number - 1, 0))
            return RetryDecision.retry(delay, "some objects of the batch met a transient Stripe error")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {
            "rate_limit_delay": self.rate_limit_delay.total_seconds(),
            "server_error_delay": self.server_error_delay.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> StripeRetryPolicy:
        return cls(timedelta(seconds=data["rate_limit_delay"]), timedelta(seconds=data["server_error_delay"]))
