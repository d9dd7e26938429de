"""Cancel a subscription (recipe R5: after the retries and the grace period, end the subscription)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.objects import summarize
from airflow_stripe_automation.operators.base import StripeWriteOperator, plain, validate_flag, validate_id

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_stripe_automation.idempotency import ActionKey

# The customer-facing reasons Stripe accepts in ``cancellation_details.feedback``.
CANCELLATION_FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
# Subscriptions in these states have ended: there is nothing left to cancel.
ENDED_STATUSES = ("canceled", "incomplete_expired")


class StripeCancelSubscriptionOperator(StripeWriteOperator):
    """
    Cancel a subscription now, once.

    The subscription's own state is the mark: the operator reads it first, and a subscription that
    has already ended (canceled by an earlier try, a replay, the customer or the dashboard) is
    returned as it is, with no write.

    :param subscription_id: the subscription to cancel, ``sub_…`` (templated)
    :param invoice_now: bill the pending usage and proration items in a final invoice now (Stripe's
        ``invoice_now``; default: Stripe's, no final invoice)
    :param prorate: credit the unused time of the current period (Stripe's ``prorate``; default:
        Stripe's, no proration)
    :param cancellation_comment: free-text reason, stored in ``cancellation_details.comment``
        (templated)
    :param cancellation_feedback: the customer's reason, one of Stripe's values
        (:data:`CANCELLATION_FEEDBACK`, e.g. ``too_expensive``), stored in
        ``cancellation_details.feedback`` (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "subscription_id",
        "cancellation_comment",
        "cancellation_feedback",
    )
    action = "cancel subscription"

    def __init__(
        self,
        *,
        subscription_id: str,
        invoice_now: bool | None = None,
        prorate: bool | None = None,
        cancellation_comment: str | None = None,
        cancellation_feedback: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.subscription_id = subscription_id
        self.invoice_now = invoice_now
        self.prorate = prorate
        self.cancellation_comment = cancellation_comment
        self.cancellation_feedback = cancellation_feedback

    def validate(self) -> dict[str, Any]:
        subscription = validate_id(self.subscription_id, "sub_", "subscription_id")
        feedback = (self.cancellation_feedback or "").strip() or None
        if feedback and feedback not in CANCELLATION_FEEDBACK:
            raise StripeInputError(
                f"cancellation_feedback must be one of {', '.join(CANCELLATION_FEEDBACK)}, got {feedback!r}"
            )
        if self.cancellation_comment is not None and not isinstance(self.cancellation_comment, str):
            raise StripeInputError("cancellation_comment must be text")
        return {
            "subscription": subscription,
            "invoice_now": validate_flag(self.invoice_now, "invoice_now"),
            "prorate": validate_flag(self.prorate, "prorate"),
            "comment": (self.cancellation_comment or "").strip() or None,
            "feedback": feedback,
        }

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["subscription"]

    def prepare(self, inputs: dict[str, Any], context: Context) -> dict[str, Any]:
        current = summarize(self.hook.get_conn().v1.subscriptions.retrieve(inputs["subscription"]))
        return {**inputs, "current": current}

    def describe(self, inputs: dict[str, Any]) -> str:
        current = inputs.get("current")
        if current and current["status"] in ENDED_STATUSES:
            return f"nothing: subscription {inputs['subscription']} is already {current['status']}"
        status = f" ({current['status']})" if current else ""
        return f"cancel subscription {inputs['subscription']}{status}"

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        current = inputs["current"]
        if current["status"] in ENDED_STATUSES:
            self.log.info(
                "Subscription %s is already %s (canceled_at %s): not canceling it again.",
                current["id"],
                current["status"],
                current.get("canceled_at"),
            )
            return current
        return None

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        params: dict[str, Any] = {}
        for name in ("invoice_now", "prorate"):
            if inputs[name] is not None:
                params[name] = inputs[name]
        details = {k: inputs[k] for k in ("comment", "feedback") if inputs[k]}
        if details:
            params["cancellation_details"] = details
        canceled = plain(
            self.hook.get_conn().v1.subscriptions.cancel(
                inputs["subscription"], params=params, options=self.request_options(key)
            )
        )
        self.log.info("Subscription %s is %s.", canceled["id"], canceled["status"])
        return summarize(canceled)

    def result(self, obj: Any) -> dict[str, Any]:
        return {k: obj.get(k) for k in ("id", "status", "canceled_at", "ended_at", "customer", "cancellation_reason")}
