"""Stripe's error responses: one exception type that handlers raise and the app renders.

The SDK picks its exception class from the HTTP status and ``error.type`` (400/404 ->
InvalidRequestError, 401 -> AuthenticationError, 402 -> CardError, 429 -> RateLimitError,
``idempotency_error`` -> IdempotencyError), so both must be right for code above to behave as in
production. Constructors below spell Stripe's own messages and codes.
"""

from __future__ import annotations

from typing import Any

_DOC = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API error: ``status`` is the HTTP status, ``fields`` the body under ``"error"``."""

    def __init__(self, status: int, type_: str, message: str, *, headers: dict[str, str] | None = None, **fields: Any):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.fields: dict[str, Any] = {"type": type_, "message": message}
        code = fields.get("code")
        if code and "doc_url" not in fields:
            fields["doc_url"] = _DOC + code.replace("_", "-")
        self.fields.update({k: v for k, v in fields.items() if v is not None})

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        error = dict(self.fields)
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None, status: int = 400, **extra) -> StripeError:
    return StripeError(status, "invalid_request_error", message, param=param, code=code, **extra)


def unknown_param(name: str) -> StripeError:
    return invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def missing_param(name: str) -> StripeError:
    return invalid(f"Missing required param: {name}.", name, "parameter_missing")


def no_such(label: str, object_id: str, param: str = "id", status: int | None = None) -> StripeError:
    """``resource_missing``: 404 when the id was in the path, 400 when it was a parameter."""
    if status is None:
        status = 404 if param == "id" else 400
    return invalid(f"No such {label}: '{object_id}'", param, "resource_missing", status=status)


def unexpected_state(message: str, code: str, **extra) -> StripeError:
    return invalid(message, code=code, **extra)


def unrecognized_url(method: str, path: str) -> StripeError:
    return invalid(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )


def authentication(message: str) -> StripeError:
    return StripeError(401, "invalid_request_error", message)


def idempotency(message: str, status: int = 400) -> StripeError:
    return StripeError(status, "idempotency_error", message, code="idempotency_error", doc_url=None)


def idempotency_key_in_use(message: str) -> StripeError:
    """A second request on a key whose first request is still running: Stripe's 409 (the SDK retries it)."""
    return StripeError(409, "invalid_request_error", message, code="idempotency_key_in_use")


def card_error(code: str, message: str, decline_code: str | None = None, **extra) -> StripeError:
    return StripeError(402, "card_error", message, code=code, decline_code=decline_code, **extra)


def injected(status: int, message: str | None = None, should_retry: bool | None = None) -> StripeError:
    """A failure chosen by a test (rate limit, outage) with the body Stripe sends for that status."""
    headers = {} if should_retry is None else {"Stripe-Should-Retry": "true" if should_retry else "false"}
    if status == 429:
        return StripeError(
            429,
            "invalid_request_error",
            message
            or "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            code="rate_limit",
            headers=headers,
        )
    if status == 409:
        return StripeError(
            409,
            "invalid_request_error",
            message
            or "This object cannot be accessed right now because another API request or Stripe process is "
            "currently accessing it. If you see this error intermittently, retry the request.",
            code="lock_timeout",
            headers=headers,
        )
    if status >= 500:
        return StripeError(status, "api_error", message or "An unknown error occurred", headers=headers)
    return StripeError(status, "invalid_request_error", message or f"Injected failure ({status}).", headers=headers)
