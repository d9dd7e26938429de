"""Refunds of captured charges: create, retrieve, update (metadata), cancel, list, and a charge's refunds.

As at Stripe: a refund names a ``charge`` or a ``payment_intent`` (its successful charge), never
both; ``amount`` defaults to what remains refundable (``amount - amount_refunded``); asking for
more is a 400 ``amount_too_large`` on ``amount``; a fully refunded charge answers
``charge_already_refunded``, a disputed one ``charge_disputed``, a failed or uncaptured one
``charge_not_refundable`` (an uncaptured PaymentIntent is canceled, not refunded). A card refund
succeeds at once with a ``refund`` balance transaction (``-amount``, no fee returned) and updates
the charge (``amount_refunded``, ``refunded`` when nothing is left, ``refunds``); events
``charge.refunded`` (with ``previous_attributes``) and ``refund.created``; an update emits
``refund.updated`` and ``charge.refund.updated``. A charge that becomes fully refunded makes its
early fraud warnings non-actionable (see :mod:`.radar`).
"""

from __future__ import annotations

from typing import Any

from .. import currencies, errors
from ..params import LIST_SCHEMA, boolean, currency, enum, integer, merge_metadata, metadata, string
from ..registry import Ctx, ResourceFamily
from ..templates import clone
from . import radar

family = ResourceFamily("refunds")
family.object_type("refund", indexes=("charge", "payment_intent"))

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CREATE = {
    "amount": integer(1),
    "charge": string,
    "currency": currency,
    "customer": string,
    "instructions_email": string,
    "metadata": metadata,
    "origin": enum("customer_balance"),
    "payment_intent": string,
    "reason": enum(*REASONS),
    "refund_application_fee": boolean,
    "reverse_transfer": boolean,
}


def refundable(charge: dict[str, Any]) -> int:
    return charge["amount"] - charge["amount_refunded"]


def _charge_to_refund(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    if p.get("charge") and p.get("payment_intent"):
        raise errors.invalid(
            "You cannot specify both `charge` and `payment_intent`: a refund is for one of them.", "payment_intent"
        )
    if p.get("charge"):
        return store.require("charge", p["charge"], "charge")
    if p.get("payment_intent"):
        pi = store.require("payment_intent", p["payment_intent"], "payment_intent")
        charge = store.get("charge", pi["latest_charge"])
        if charge is None or charge["status"] != "succeeded":
            raise errors.invalid(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.", "payment_intent"
            )
        return charge
    if p.get("customer") or p.get("origin"):
        raise errors.invalid(
            "Refunds of a customer's cash balance (customer, origin=customer_balance) are not supported by the "
            "local Stripe server: refund a charge or a payment_intent.",
            "origin" if p.get("origin") else "customer",
        )
    raise errors.invalid("One of the following params should be provided for this request: charge or payment_intent.")


def _check_refundable(charge: dict[str, Any], amount: int | None) -> int:
    """The amount to refund, or Stripe's error for a charge that cannot take it."""
    if charge["status"] != "succeeded":
        raise errors.invalid(
            f"Charge {charge['id']} has failed and cannot be refunded.", "charge", "charge_not_refundable"
        )
    if charge["disputed"]:
        raise errors.invalid(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.", "charge", "charge_disputed"
        )
    if charge["refunded"] or refundable(charge) <= 0:
        raise errors.invalid(f"Charge {charge['id']} has already been refunded.", "charge", "charge_already_refunded")
    if not charge["captured"]:
        raise errors.invalid(
            f"Charge {charge['id']} has not been captured and cannot be refunded: cancel its PaymentIntent "
            f"({charge['payment_intent']}) to release the authorization instead.",
            "charge",
            "charge_not_refundable",
        )
    left = refundable(charge)
    if amount is None:
        return left
    if amount > left:
        raise errors.invalid(
            f"Refund amount ({currencies.display(amount, charge['currency'])}) is greater than unrefunded amount on charge "
            f"({currencies.display(left, charge['currency'])})",
            "amount",
            "amount_too_large",
        )
    return amount


def refunds_list(store, charge: dict[str, Any]) -> dict[str, Any]:
    """The ``refunds`` sublist Stripe embeds in a charge: its 10 newest refunds."""
    data, has_more = store.page("refund", where={"charge": charge["id"]}, limit=10)
    return {"object": "list", "data": clone(data), "has_more": has_more, "url": f"/v1/charges/{charge['id']}/refunds"}


@family.post("/v1/refunds")
def create_refund(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate(CREATE)
    store = ctx.store
    charge = _charge_to_refund(ctx, p)
    if p.get("currency") and p["currency"] != charge["currency"]:
        raise errors.invalid(
            f"The refund currency ({p['currency']}) must match the charge currency ({charge['currency']}).", "currency"
        )
    amount = _check_refundable(charge, p.get("amount"))
    refund_id = store.new_id("refund")
    txn = store.create(
        "balance_transaction",
        amount=-amount,
        available_on=store.now(),
        currency=charge["currency"],
        description="REFUND FOR CHARGE" + (f" ({charge['description']})" if charge["description"] else ""),
        exchange_rate=None,
        fee=0,
        fee_details=[],
        net=-amount,
        reporting_category="refund",
        source=refund_id,
        status="available",
        type="refund",
        balance_type="payments",
    )
    refund = store.build(
        "refund",
        id=refund_id,
        amount=amount,
        balance_transaction=txn["id"],
        charge=charge["id"],
        currency=charge["currency"],
        customer=charge["customer"],
        customer_account=None,
        destination_details={"card": {"type": "refund"}, "type": "card"},
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        payment_intent=charge["payment_intent"],
        payment_method=charge["payment_method"],
        reason=p.get("reason"),
        receipt_number=None,
        source_transfer_reversal=None,
        status="succeeded",
        transfer_reversal=None,
    )
    store.insert("refund", refund)
    refunded = charge["amount_refunded"] + amount
    previous = store.update(
        charge,
        {
            "amount_refunded": refunded,
            "refunded": refunded >= charge["amount"],
            "refunds": refunds_list(store, charge),
        },
    )
    ctx.emit("charge.refunded", charge, previous)
    ctx.emit("refund.created", refund)
    if charge["refunded"]:
        radar.charge_settled(ctx, charge)
    return refund


@family.get("/v1/refunds/{id}")
def retrieve_refund(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("refund", ctx.args["id"])


@family.post("/v1/refunds/{id}")
def update_refund(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    refund = store.require("refund", ctx.args["id"])
    p = ctx.validate({"metadata": metadata})
    if "metadata" not in p:
        return refund
    previous = store.update(
        refund, {"metadata": merge_metadata(refund["metadata"], p["metadata"], p["metadata"] is None)}
    )
    if previous:
        charge = store.get("charge", refund["charge"])
        if charge is not None:
            store.update(charge, {"refunds": refunds_list(store, charge)})
        ctx.emit("charge.refund.updated", refund, previous)
        ctx.emit("refund.updated", refund, previous)
    return refund


@family.post("/v1/refunds/{id}/cancel")
def cancel_refund(ctx: Ctx) -> dict[str, Any]:
    refund = ctx.store.require("refund", ctx.args["id"])
    ctx.validate({})
    raise errors.invalid(
        f"You can only cancel refunds with a status of requires_action; refund {refund['id']} has a status of "
        f"{refund['status']}."
    )


@family.get("/v1/refunds")
def list_refunds(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**LIST_SCHEMA, "charge": string, "payment_intent": string})
    return ctx.page("refund", q, where={"charge": q.get("charge"), "payment_intent": q.get("payment_intent")})


@family.get("/v1/charges/{charge}/refunds")
def list_charge_refunds(ctx: Ctx) -> dict[str, Any]:
    charge = ctx.store.require("charge", ctx.args["charge"])
    q = ctx.validate(LIST_SCHEMA)
    return ctx.page("refund", q, where={"charge": charge["id"]})


@family.get("/v1/charges/{charge}/refunds/{id}")
def retrieve_charge_refund(ctx: Ctx) -> dict[str, Any]:
    charge = ctx.store.require("charge", ctx.args["charge"])
    ctx.validate({})
    refund = ctx.store.require("refund", ctx.args["id"])
    if refund["charge"] != charge["id"]:
        raise errors.no_such("refund", refund["id"])
    return refund
