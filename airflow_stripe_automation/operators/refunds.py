"""Refunds of a charge or a payment intent (recipe R4: refund what a dispute would cost more than)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.idempotency import MARK_METADATA_KEY, ActionKey
from airflow_stripe_automation.money import InvalidMoneyError, format_money, parse_minor_units, validate_amount
from airflow_stripe_automation.operators.base import (
    StripeWriteOperator,
    is_unset,
    plain,
    validate_id,
    validate_metadata,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from stripe.params import RefundCreateParams

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


class StripeRefundOperator(StripeWriteOperator):
    """
    Refund a charge or a payment intent, in full (default) or in part — once per charge.

    The charge is the object acted on: a retry, a re-run or a replay over the same charge finds the
    refund this task made (by its mark) and refunds nothing more. Asking for more than what is left
    refundable fails before any write.

    :param charge_id: the charge to refund, ``ch_…`` (templated); or give ``payment_intent_id``
    :param payment_intent_id: the payment intent whose charge to refund, ``pi_…`` (templated)
    :param amount: minor units to refund; default: everything still refundable (templated)
    :param reason: ``duplicate``, ``fraudulent``, ``requested_by_customer``, or empty for
        "unspecified" (templated)
    :param metadata: metadata for the refund (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "charge_id",
        "payment_intent_id",
        "amount",
        "reason",
        "metadata",
    )
    template_fields_renderers = {"metadata": "json"}
    action = "refund"

    def __init__(
        self,
        *,
        charge_id: str | None = None,
        payment_intent_id: str | None = None,
        amount: int | str | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.charge_id = charge_id
        self.payment_intent_id = payment_intent_id
        self.amount = amount
        self.reason = reason
        self.metadata = metadata

    def validate(self) -> dict[str, Any]:
        charge = validate_id(self.charge_id, "ch_", "charge_id", required=False)
        intent = validate_id(self.payment_intent_id, "pi_", "payment_intent_id", required=False)
        if bool(charge) == bool(intent):
            raise StripeInputError("give exactly one of charge_id (ch_…) or payment_intent_id (pi_…)")
        reason = (self.reason or "").strip() or None
        if reason == "unspecified":
            reason = None
        if reason and reason not in REFUND_REASONS:
            raise StripeInputError(f"reason must be one of {', '.join(REFUND_REASONS)} or empty, got {reason!r}")
        amount = None if is_unset(self.amount) else self.amount
        if amount is not None:
            try:  # the currency is the charge's, checked once the charge is read
                amount = parse_minor_units(amount)
            except InvalidMoneyError as err:
                raise StripeInputError(str(err)) from None
        metadata = validate_metadata(self.metadata, ours=[MARK_METADATA_KEY])
        return {"charge": charge, "payment_intent": intent, "amount": amount, "reason": reason, "metadata": metadata}

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["charge"] or inputs["payment_intent"]

    def prepare(self, inputs: dict[str, Any], context: Context) -> dict[str, Any]:
        client = self.hook.get_conn()
        charge_id = inputs["charge"]
        if not charge_id:
            intent = plain(client.v1.payment_intents.retrieve(inputs["payment_intent"]))
            charge_id = intent.get("latest_charge")
            if not charge_id:
                raise StripeInputError(f"payment intent {inputs['payment_intent']} has no charge to refund")
        charge = plain(client.v1.charges.retrieve(charge_id))
        refundable = (charge.get("amount_captured") or 0) - (charge.get("amount_refunded") or 0)
        if inputs["amount"] is not None:
            try:
                validate_amount(inputs["amount"], charge["currency"])
            except InvalidMoneyError as err:
                raise StripeInputError(str(err)) from None
        return {
            **inputs,
            "charge_obj": charge,
            "currency": charge["currency"],
            "refundable": refundable,
            "refund_amount": inputs["amount"] if inputs["amount"] is not None else refundable,
        }

    def money_at_stake(self, inputs: dict[str, Any]) -> tuple[int, str]:
        return inputs["refund_amount"], inputs["currency"]

    def describe(self, inputs: dict[str, Any]) -> str:
        target = inputs["charge"] or inputs["payment_intent"]
        if "currency" not in inputs:
            return f"a refund of {target}"
        return (
            f"a refund of {format_money(inputs['refund_amount'], inputs['currency'])} on {target}"
            if inputs["refund_amount"]
            else f"a refund on {target}"
        )

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        refunds = self.hook.get_conn().v1.refunds.list(params={"charge": inputs["charge_obj"]["id"], "limit": 100})
        for listed in refunds.auto_paging_iter():
            refund = plain(listed)
            if key.is_marked(refund):
                return refund
        return None

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        charge = inputs["charge_obj"]
        if charge.get("status") != "succeeded" or not charge.get("amount_captured"):
            raise StripeInputError(f"charge {charge['id']} has no captured payment to refund")
        if inputs["refundable"] <= 0:
            raise StripeInputError(f"charge {charge['id']} is already fully refunded")
        if inputs["refund_amount"] > inputs["refundable"]:
            raise StripeInputError(
                f"cannot refund {format_money(inputs['refund_amount'], inputs['currency'])}: only "
                f"{format_money(inputs['refundable'], inputs['currency'])} of {charge['id']} is left refundable"
            )
        params: RefundCreateParams = {
            "charge": charge["id"],
            "amount": inputs["refund_amount"],
            "metadata": {**inputs["metadata"], **key.metadata()},
        }
        if inputs["reason"]:
            params["reason"] = inputs["reason"]
        refund = plain(self.hook.get_conn().v1.refunds.create(params=params, options=self.request_options(key)))
        self.log.info("Refund %s is %s.", refund["id"], refund["status"])
        return refund

    def result(self, obj: Any) -> dict[str, Any]:
        return {k: obj.get(k) for k in ("id", "status", "amount", "currency", "charge", "payment_intent", "reason")}
