"""Subscriptions: start one for a new customer (R8), cancel one after dunning (R5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.idempotency import MARK_METADATA_KEY
from airflow_stripe_automation.objects import summarize
from airflow_stripe_automation.operators.base import (
    StripeWriteOperator,
    is_unset,
    plain,
    validate_count,
    validate_flag,
    validate_id,
    validate_metadata,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from stripe.params import (
        SubscriptionCancelParams,
        SubscriptionCancelParamsCancellationDetails,
        SubscriptionCreateParams,
    )

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


class StripeCreateSubscriptionOperator(StripeWriteOperator):
    """
    Subscribe a customer to a price, once per customer (R8's optional "create a subscription").

    The customer is the object acted on: the subscription carries the action's mark, and a replay
    finds it among the customer's subscriptions instead of subscribing again. With no ``price_id``
    the task is skipped: the action is optional in recipes (downstream tasks that must run anyway
    use ``trigger_rule="none_failed"``).

    :param customer_id: the customer, ``cus_…`` (templated)
    :param price_id: the recurring price, ``price_…``; empty: skip (templated)
    :param quantity: how many units (templated)
    :param trial_period_days: days of free trial before the first payment (templated)
    :param metadata: metadata for the subscription (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "customer_id",
        "price_id",
        "quantity",
        "trial_period_days",
        "metadata",
    )
    template_fields_renderers = {"metadata": "json"}
    action = "subscription"

    def __init__(
        self,
        *,
        customer_id: str,
        price_id: str | None = None,
        quantity: int | str = 1,
        trial_period_days: int | str | None = None,
        metadata: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.price_id = price_id
        self.quantity = quantity
        self.trial_period_days = trial_period_days
        self.metadata = metadata

    def validate(self) -> dict[str, Any]:
        customer = validate_id(self.customer_id, "cus_", "customer_id")
        if is_unset(self.price_id):
            raise AirflowSkipException("no price_id given: no subscription to create")
        price = validate_id(self.price_id, "price_", "price_id")
        trial = (
            None if is_unset(self.trial_period_days) else validate_count(self.trial_period_days, "trial_period_days")
        )
        metadata = validate_metadata(self.metadata, ours=[MARK_METADATA_KEY])
        return {
            "customer": customer,
            "price": price,
            "quantity": validate_count(self.quantity, "quantity"),
            "trial_period_days": trial,
            "metadata": metadata,
        }

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["customer"]

    def describe(self, inputs: dict[str, Any]) -> str:
        return f"a subscription of {inputs['customer']} to {inputs['price']} (x{inputs['quantity']})"

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        listing = self.hook.get_conn().v1.subscriptions.list(
            params={"customer": inputs["customer"], "status": "all", "limit": 100}
        )
        for listed in listing.auto_paging_iter():
            sub = plain(listed)
            if key.is_marked(sub):
                return sub
        return None

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        params: SubscriptionCreateParams = {
            "customer": inputs["customer"],
            "items": [{"price": inputs["price"], "quantity": inputs["quantity"]}],
            "metadata": {**inputs["metadata"], **key.metadata()},
        }
        if inputs["trial_period_days"]:
            params["trial_period_days"] = inputs["trial_period_days"]
        return plain(self.hook.get_conn().v1.subscriptions.create(params=params, options=self.request_options(key)))

    def result(self, obj: Any) -> dict[str, Any]:
        return summarize(obj)


class StripeCancelSubscriptionOperator(StripeWriteOperator):
    """
    Cancel a subscription now, once.

    The subscription's own state is the mark: the operator reads it first, and a subscription that
    has already ended (canceled by an earlier try, a replay, the customer or the dashboard) is
    returned as it is, with no write. One that ends between that read and the cancel (the SDK
    resending a cancel whose answer was lost — a DELETE has no idempotency key — or another run
    canceling it at the same moment) counts as already done, not as Stripe refusing the cancel.

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
        subscription = plain(self.hook.get_conn().v1.subscriptions.retrieve(inputs["subscription"]))
        return {**inputs, "current": summarize(subscription), "recurring": _recurring(subscription)}

    def money_at_stake(self, inputs: dict[str, Any]) -> tuple[int, str] | None:
        # What the business stops collecting: the subscription's amount per period.
        recurring = inputs.get("recurring")
        return (recurring["amount"], recurring["currency"]) if recurring else None

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
        params: SubscriptionCancelParams = {}
        if inputs["invoice_now"] is not None:
            params["invoice_now"] = inputs["invoice_now"]
        if inputs["prorate"] is not None:
            params["prorate"] = inputs["prorate"]
        details: SubscriptionCancelParamsCancellationDetails = {}
        if inputs["comment"]:
            details["comment"] = inputs["comment"]
        if inputs["feedback"]:
            details["feedback"] = inputs["feedback"]
        if details:
            params["cancellation_details"] = details
        import stripe

        from airflow_stripe_automation.hooks.http_client import WriteAnswer

        client = self.hook.get_conn().v1
        try:
            canceled = plain(
                client.subscriptions.cancel(inputs["subscription"], params=params, options=self.request_options(key))
            )
        except stripe.InvalidRequestError as err:
            # A cancel (a DELETE: no idempotency key at Stripe) that meets an ended subscription was done
            # meanwhile: by this try's own request whose answer was lost and which the SDK resent, or by
            # another run over the same subscription. That is this action done, not a refusal.
            current = summarize(client.subscriptions.retrieve(inputs["subscription"]))
            if current["status"] not in ENDED_STATUSES:
                raise
            self.log.info(
                "Subscription %s was %s meanwhile (a lost answer resent, or another run): not canceling it again.",
                current["id"],
                current["status"],
            )
            self.hook.http_client.last_write = WriteAnswer(request_id=err.request_id, replayed=True)
            return current
        self.log.info("Subscription %s is %s.", canceled["id"], canceled["status"])
        return summarize(canceled)

    def result(self, obj: Any) -> dict[str, Any]:
        return {k: obj.get(k) for k in ("id", "status", "canceled_at", "ended_at", "customer", "cancellation_reason")}


def _recurring(subscription: dict[str, Any]) -> dict[str, Any] | None:
    """The subscription's amount per period (its items' prices times quantities), or ``None`` if unpriced."""
    currency = subscription.get("currency")
    total = 0
    for item in (subscription.get("items") or {}).get("data") or ():
        price = item.get("price") or {}
        if price.get("unit_amount") is None:
            return None  # a tiered or metered price: no single amount to compare
        total += int(price["unit_amount"]) * int(item.get("quantity") or 1)
    return {"amount": total, "currency": currency} if currency else None
