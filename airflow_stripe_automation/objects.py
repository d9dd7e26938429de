"""Small, JSON-ready summaries of Stripe objects: what conditions, mails and mapped tasks downstream need.

Operators and sensors return these instead of whole objects, so XComs stay small and the same field
names (``amount``, ``currency``, ``customer``, ``status``, ``interval``…) mean the same thing
whichever task produced them.
"""

from __future__ import annotations

from typing import Any

from airflow_stripe_automation.conditions import get_field

# Object type -> the fields kept besides id/object (dotted paths are flattened to their last part
# unless renamed in _RENAMED).
_FIELDS: dict[str, tuple[str, ...]] = {
    "payment_intent": (
        "amount",
        "amount_received",
        "currency",
        "customer",
        "status",
        "description",
        "latest_charge",
        "created",
        "metadata",
        "receipt_email",
        "last_payment_error.decline_code",
    ),
    "charge": (
        "amount",
        "amount_refunded",
        "amount_captured",
        "currency",
        "customer",
        "status",
        "paid",
        "refunded",
        "payment_intent",
        "description",
        "created",
        "metadata",
        "receipt_email",
        "billing_details.email",
        "outcome.risk_level",
    ),
    "invoice": (
        "number",
        "amount_due",
        "amount_paid",
        "amount_remaining",
        "currency",
        "customer",
        "customer_email",
        "customer_name",
        "status",
        "due_date",
        "created",
        "attempt_count",
        "hosted_invoice_url",
        "collection_method",
        "metadata",
        "parent.subscription_details.subscription",  # invoice.subscription until 2025-03-31.basil
        "lines.data.0.pricing.price_details.price",
        "billing_reason",
        "status_transitions.paid_at",
    ),
    "subscription": (
        "customer",
        "status",
        "currency",
        "created",
        "canceled_at",
        "cancel_at",
        "cancel_at_period_end",
        "ended_at",
        "latest_invoice",
        "metadata",
        "items.data.0.price.id",
        "items.data.0.price.unit_amount",
        "items.data.0.price.recurring.interval",
        "items.data.0.price.product",
        "items.data.0.current_period_end",
        "cancellation_details.reason",
    ),
    "customer": (
        "email",
        "name",
        "phone",
        "address",
        "shipping",
        "balance",
        "currency",
        "created",
        "metadata",
        "invoice_settings.default_payment_method",
    ),
    "refund": ("amount", "currency", "charge", "payment_intent", "status", "reason", "created", "metadata"),
    "radar.early_fraud_warning": ("charge", "payment_intent", "fraud_type", "actionable", "created"),
    "payment_link": ("url", "active", "metadata", "created"),
    "customer_balance_transaction": (
        "amount",
        "currency",
        "customer",
        "ending_balance",
        "type",
        "description",
        "created",
        "metadata",
    ),
    "billing.credit_grant": (
        "customer",
        "amount.monetary.value",
        "amount.monetary.currency",
        "name",
        "category",
        "created",
        "metadata",
    ),
}
_RENAMED = {
    "last_payment_error.decline_code": "decline_code",
    "billing_details.email": "billing_email",
    "outcome.risk_level": "risk_level",
    "parent.subscription_details.subscription": "subscription",
    "lines.data.0.pricing.price_details.price": "price",
    "items.data.0.price.id": "price",
    "items.data.0.price.unit_amount": "amount",
    "items.data.0.price.recurring.interval": "interval",
    "items.data.0.price.product": "product",
    "items.data.0.current_period_end": "current_period_end",
    "cancellation_details.reason": "cancellation_reason",
    "status_transitions.paid_at": "paid_at",
    "invoice_settings.default_payment_method": "default_payment_method",
    "amount.monetary.value": "amount",
    "amount.monetary.currency": "currency",
}


def plain(obj: Any) -> dict[str, Any]:
    """Return an SDK object as a plain dict (SDK objects are not dicts: no ``.get``, not JSON-ready)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def ref_id(value: Any) -> Any:
    """The id of a reference, whether Stripe sent the id or (expanded) the object."""
    return value.get("id") if isinstance(value, dict) and "id" in value and "object" in value else value


def summarize(obj: Any) -> dict[str, Any]:
    """
    Return the summary of a Stripe object (a plain dict or an SDK object).

    :param obj: the object, as returned by the API
    """
    data = plain(obj)
    kind = data.get("object", "")
    out: dict[str, Any] = {"id": data.get("id"), "object": kind}
    for path in _FIELDS.get(kind, ("amount", "currency", "customer", "status", "created", "metadata")):
        name = _RENAMED.get(path, path.rsplit(".", 1)[-1])
        value = ref_id(get_field(data, path))
        if name in out and value is None:
            continue
        out[name] = value
    return out
