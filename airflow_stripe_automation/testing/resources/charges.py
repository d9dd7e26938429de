"""Charges (made by PaymentIntents) and the balance transactions their captures create.

A charge is created by a confirmation attempt (see :mod:`.payment_intents`), succeeded or failed,
with Stripe's ``outcome``, ``failure_code``/``failure_message`` and card details. A captured charge
gets a ``txn_`` balance transaction with Stripe's card fee (2.9% + 30 minor units), pending until
``available_on``. The API here: retrieve, update (description, metadata, ...), list, search;
refunds (``amount_refunded``, ``refunded``, ``refunds``) are made by :mod:`.refunds`.
"""

from __future__ import annotations

import random
import string
from typing import Any

from .. import search
from ..params import LIST_SCHEMA, anything, email, merge_metadata, metadata, needs, nullable_string, shipping
from ..params import string as string_param
from ..registry import Ctx, ResourceFamily
from ..templates import fixture
from ..test_cards import TestCard
from . import radar

family = ResourceFamily("charges")
family.object_type("charge", indexes=("customer", "payment_intent"))
family.object_type("balance_transaction", indexes=("source",))

SEARCH_FIELDS = {
    "amount": "number",
    "created": "number",
    "currency": "token",
    "customer": "token",
    "metadata": "metadata",
    "payment_intent": "token",
    "status": "token",
}
_TEXT = string.ascii_letters + string.digits


def _outcome(failure: TestCard | None, code: str | None = None) -> dict[str, Any]:
    if failure is None:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    reason = failure.decline_code if code != "authentication_required" else "authentication_required"
    generic = reason == "generic_decline"
    return {
        "advice_code": "do_not_try_again" if reason in ("lost_card", "stolen_card", "fraudulent") else None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network",
        "reason": reason,
        "risk_level": "normal",
        "risk_score": 32,
        "seller_message": "The bank did not return any further details with this decline."
        if generic
        else f"The bank returned the decline code `{reason}`.",
        "type": "issuer_declined",
    }


def _card_details(pm: dict[str, Any], amount: int) -> dict[str, Any]:
    details = fixture("charge")["payment_method_details"]
    card = details["card"]
    source = pm["card"]
    card.update(
        {k: source[k] for k in ("brand", "country", "exp_month", "exp_year", "fingerprint", "funding", "last4")}
    )
    card.update(
        amount_authorized=amount,
        authorization_code="".join(random.choices(string.digits, k=6)),
        checks=dict(source["checks"]),
        network=source["brand"],
        network_transaction_id="".join(random.choices(string.digits, k=15)),
        overcapture={"maximum_amount_capturable": amount, "status": "unavailable"},
        three_d_secure=None,
        wallet=None,
        regulated_status=source.get("regulated_status"),
    )
    return {"card": card, "type": "card"}


def create_charge(
    ctx: Ctx,
    pi: dict[str, Any],
    pm: dict[str, Any],
    *,
    failure: TestCard | None = None,
    code: str | None = None,
    message: str | None = None,
    capture: bool = True,
) -> dict[str, Any]:
    """Record one payment attempt of ``pi`` with ``pm``: succeeded (captured or not) or failed."""
    store = ctx.store
    charge_id = store.new_id("charge")
    ok = failure is None
    charge = store.build(
        "charge",
        id=charge_id,
        amount=pi["amount"],
        amount_captured=0,
        amount_refunded=0,
        application=None,
        application_fee=None,
        application_fee_amount=pi["application_fee_amount"],
        balance_transaction=None,
        billing_details=dict(pm["billing_details"]),
        calculated_statement_descriptor=(pi["statement_descriptor"] or "LOCAL STRIPE")[:22],
        captured=False,
        currency=pi["currency"],
        customer=pi["customer"],
        description=pi["description"],
        disputed=False,
        failure_balance_transaction=None,
        failure_code=None if ok else code,
        failure_message=None if ok else message,
        fraud_details={},
        metadata=dict(pi["metadata"]),
        on_behalf_of=None,
        outcome=_outcome(failure, code),
        paid=ok,
        payment_intent=pi["id"],
        payment_method=pm["id"],
        payment_method_details=_card_details(pm, pi["amount"]),
        receipt_email=pi["receipt_email"],
        receipt_number=None,
        receipt_url=f"https://pay.stripe.com/receipts/payment/local_{''.join(random.choices(_TEXT, k=40))}",
        refunded=False,
        refunds={"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{charge_id}/refunds"},
        review=None,
        shipping=pi["shipping"],
        source=None,
        source_transfer=None,
        statement_descriptor=pi["statement_descriptor"],
        statement_descriptor_suffix=pi["statement_descriptor_suffix"],
        status="succeeded" if ok else "failed",
        transfer_data=None,
        transfer_group=pi["transfer_group"],
    )
    store.insert("charge", charge)
    if ok and capture:
        _capture(store, charge, charge["amount"])
    ctx.emit("charge.succeeded" if ok else "charge.failed", charge)
    return charge


def card_fee(amount: int) -> int:
    return round(amount * 0.029) + 30


def _capture(store, charge: dict[str, Any], amount: int) -> None:
    fee = min(card_fee(amount), amount)
    txn = store.create(
        "balance_transaction",
        amount=amount,
        available_on=store.now() + 2 * 86400,
        currency=charge["currency"],
        description=charge["description"],
        exchange_rate=None,
        fee=fee,
        fee_details=[
            {
                "amount": fee,
                "application": None,
                "currency": charge["currency"],
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ],  # fmt: skip
        net=amount - fee,
        reporting_category="charge",
        source=charge["id"],
        status="pending",
        type="charge",
        balance_type="payments",
    )
    charge.update(
        captured=True,
        amount_captured=amount,
        amount_refunded=charge["amount"] - amount,
        refunded=False,
        balance_transaction=txn["id"],
    )


def capture(ctx: Ctx, charge: dict[str, Any], amount: int) -> None:
    """Capture an authorized charge (the rest of the authorization is released)."""
    before = {k: charge[k] for k in ("captured", "amount_captured", "amount_refunded", "balance_transaction")}
    _capture(ctx.store, charge, amount)
    ctx.emit("charge.captured", charge, {k: v for k, v in before.items() if charge[k] != v})


def release(ctx: Ctx, charge: dict[str, Any]) -> None:
    """Release an uncaptured authorization (its PaymentIntent was canceled)."""
    previous = ctx.store.update(charge, {"amount_refunded": charge["amount"], "refunded": True})
    ctx.emit("charge.refunded", charge, previous)
    radar.charge_settled(ctx, charge)


@family.get("/v1/charges/search")
def search_charges(ctx: Ctx) -> dict[str, Any]:
    return search.run(ctx, "charge", "charges", SEARCH_FIELDS)


@family.get("/v1/charges/{id}")
def retrieve_charge(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("charge", ctx.args["id"])


@family.post("/v1/charges/{id}")
def update_charge(ctx: Ctx) -> dict[str, Any]:
    charge = ctx.store.require("charge", ctx.args["id"])
    p = ctx.validate(
        {
            "customer": string_param,
            "description": nullable_string,
            "fraud_details": needs(anything, "user_report"),
            "metadata": metadata,
            "receipt_email": email,
            "shipping": shipping(),
            "transfer_group": string_param,
        }
    )
    changes: dict[str, Any] = {
        k: p[k] for k in ("description", "receipt_email", "shipping", "transfer_group") if k in p
    }
    if "metadata" in p:
        changes["metadata"] = merge_metadata(charge["metadata"], p["metadata"], p["metadata"] is None)
    if "fraud_details" in p:
        changes["fraud_details"] = p["fraud_details"] or {}
    if p.get("customer"):
        ctx.store.require("customer", p["customer"], "customer")
        changes["customer"] = p["customer"]
    previous = ctx.store.update(charge, changes)
    if previous:
        ctx.emit("charge.updated", charge, previous)
    return charge


@family.get("/v1/charges")
def list_charges(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate(
        {**LIST_SCHEMA, "customer": string_param, "payment_intent": string_param, "transfer_group": string_param}
    )
    where = {k: q.get(k) for k in ("customer", "payment_intent", "transfer_group")}
    return ctx.page("charge", q, where=where)
