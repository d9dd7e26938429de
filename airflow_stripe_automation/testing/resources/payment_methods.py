"""PaymentMethods: Stripe's test cards (``pm_card_*``), attach, detach, retrieve, update, list.

A ``pm_card_*`` id is a token, not a stored object: using it (attach, a PaymentIntent, retrieve)
creates a new ``pm_...`` card with that test card's brand and last4, and the server remembers the
card's behaviour (see :mod:`..test_cards`) for later charges. As at Stripe, attaching validates
the card (cards that always decline fail to attach; ``pm_card_chargeCustomerFail`` is the card
that attaches and then declines), a PaymentMethod detached from a customer cannot be used again,
and detaching a customer's default payment method clears ``invoice_settings.default_payment_method``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from .. import errors
from ..params import LIST_SCHEMA, anything, enum, merge_metadata, metadata, string, unsupported
from ..registry import Ctx, ResourceFamily
from ..test_cards import CARDS, TestCard

family = ResourceFamily("payment_methods")
family.object_type("payment_method", label="PaymentMethod", indexes=("customer",))

_EMPTY_ADDRESS = {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def card_of(store, pm: dict[str, Any]) -> TestCard:
    """The behaviour of a stored card (a plain succeeding Visa if it did not come from a token)."""
    return store.private(pm["id"]).get("card") or CARDS["pm_card_visa"]


def _fingerprint(card: TestCard) -> str:
    digest = hashlib.sha256(f"{card.brand}:{card.last4}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:16])


def materialize(store, token: str) -> dict[str, Any]:
    """A new stored PaymentMethod for a ``pm_card_*`` token."""
    card = CARDS[token]
    year = time.gmtime(store.now()).tm_year
    pm = store.create(
        "payment_method",
        allow_redisplay="unspecified",
        billing_details={"address": dict(_EMPTY_ADDRESS), "email": None, "name": None, "phone": None, "tax_id": None},
        card={
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": 12,
            "exp_year": year + 3,
            "fingerprint": _fingerprint(card),
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": "unregulated",
        },
        customer=None,
        customer_account=None,
        type="card",
    )
    store.private(pm["id"])["card"] = card
    return pm


def _peek(store, ref: str, param: str) -> tuple[dict[str, Any] | None, TestCard]:
    """(stored PaymentMethod or None for a token, its card) without creating anything."""
    if ref in CARDS:
        return None, CARDS[ref]
    pm = store.get("payment_method", ref)
    if pm is None:
        raise errors.no_such("PaymentMethod", ref, param)
    return pm, card_of(store, pm)


def resolve(store, ref: str, param: str = "payment_method") -> dict[str, Any]:
    """The PaymentMethod a parameter names, creating it if it is a test token."""
    pm, _ = _peek(store, ref, param)
    return pm if pm is not None else materialize(store, ref)


def consumed_error() -> errors.StripeError:
    return errors.invalid(
        "This PaymentMethod was previously used without being attached to a Customer or was detached from a "
        "Customer, and may not be used again.",
        "payment_method",
    )


def check_usable(store, ref: str, customer_id: str | None, param: str = "payment_method") -> TestCard:
    """Validate a PaymentMethod for a payment by ``customer_id`` (None: no customer); its card."""
    pm, card = _peek(store, ref, param)
    if pm is None:
        return card
    if store.private(pm["id"]).get("consumed"):
        raise consumed_error()
    if pm["customer"] is not None and pm["customer"] != customer_id:
        if customer_id is None:
            raise errors.invalid(
                f"The provided PaymentMethod {pm['id']} is attached to a Customer: to use it, also provide the "
                "`customer` parameter with that Customer's ID.",
                param,
            )
        raise errors.invalid(
            f"The provided PaymentMethod {pm['id']} belongs to a different Customer ({pm['customer']}) "
            f"than the one provided ({customer_id}).",
            param,
        )
    return card


def check_attachable(store, ref: str, customer: dict[str, Any] | None, param: str = "id") -> None:
    pm, card = _peek(store, ref, param)
    if pm is not None:
        if store.private(pm["id"]).get("consumed"):
            raise consumed_error()
        if pm["customer"] is not None and (customer is None or pm["customer"] != customer["id"]):
            raise errors.invalid("The payment method you provided has already been attached to a customer.", param)
    if card.behaviour == "decline":  # Stripe validates the card when attaching it
        assert card.code is not None and card.message is not None  # every declining card in CARDS has both
        raise errors.card_error(card.code, card.message, card.decline_code)


def attach(ctx: Ctx, ref: str, customer: dict[str, Any], param: str = "id") -> dict[str, Any]:
    check_attachable(ctx.store, ref, customer, param)
    pm = resolve(ctx.store, ref, param)
    if pm["customer"] == customer["id"]:
        return pm
    ctx.store.update(pm, {"customer": customer["id"]})
    ctx.emit("payment_method.attached", pm)
    return pm


#: the payment method types other than cards, each a hash of its own details on create
OTHER_TYPES = """acss_debit affirm afterpay_clearpay alipay alma amazon_pay au_becs_debit bacs_debit bancontact billie
bizum blik boleto cashapp crypto custom customer_balance eps fpx giropay grabpay ideal interac_present kakao_pay klarna
konbini kr_card link mb_way mobilepay multibanco naver_pay nz_bank_account oxxo p24 pay_by_bank payco paynow paypal
paypay payto pix promptpay revolut_pay samsung_pay satispay scalapay sepa_debit sequra sofort sunbit swish twint upi
us_bank_account wechat_pay zip""".split()
_CREATE = {
    "type": string,
    "card": {"token": string, "number": string, "exp_month": anything, "exp_year": anything, "cvc": anything},
    "billing_details": anything,
    "metadata": metadata,
    "allow_redisplay": enum("always", "limited", "unspecified"),
    "customer": unsupported("cloning a Connect platform's PaymentMethod"),
    "payment_method": unsupported("cloning a Connect platform's PaymentMethod"),
    "radar_options": unsupported("Radar sessions"),
    **{name: unsupported("card PaymentMethods only") for name in OTHER_TYPES},
}


@family.post("/v1/payment_methods")
def create_payment_method(ctx: Ctx) -> dict[str, Any]:
    """Only from Stripe's card test tokens (``card[token]=tok_visa``), as raw card numbers are refused."""
    p = ctx.validate(_CREATE)
    if not p.get("type"):
        raise errors.missing_param("type")
    if p["type"] != "card":
        raise errors.invalid(f"The local Stripe server only supports card PaymentMethods, not {p['type']}.", "type")
    card = p.get("card") or {}
    if card.get("number"):
        raise errors.invalid(
            "Sending credit card numbers directly to the Stripe API is generally unsafe. To continue processing "
            "use Stripe's test tokens instead (card[token]=tok_visa) or a test PaymentMethod such as pm_card_visa.",
            "card[number]",
        )
    token = card.get("token") or ""
    ref = "pm_card_" + token[len("tok_") :] if token.startswith("tok_") else token
    if ref not in CARDS:
        raise errors.no_such("token", token or "(none)", "card[token]")
    pm = materialize(ctx.store, ref)
    details = dict(pm["billing_details"])
    for key, value in (p.get("billing_details") or {}).items():
        details[key] = dict(_EMPTY_ADDRESS) | value if key == "address" and isinstance(value, dict) else value or None
    pm.update(
        billing_details=details,
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        allow_redisplay=p.get("allow_redisplay", "unspecified"),
    )
    return pm


@family.get("/v1/payment_methods/{id}")
def retrieve_payment_method(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return resolve(ctx.store, ctx.args["id"], "id")


@family.post("/v1/payment_methods/{id}")
def update_payment_method(ctx: Ctx) -> dict[str, Any]:
    pm = ctx.store.require("payment_method", ctx.args["id"])
    p = ctx.validate(
        {
            "allow_redisplay": enum("always", "limited", "unspecified"),
            "billing_details": anything,
            "card": {"exp_month": anything, "exp_year": anything, "networks": anything},
            "metadata": metadata,
            "us_bank_account": anything,
        }
    )
    if pm["customer"] is None:
        raise errors.invalid(
            "You must save this PaymentMethod to a customer before you can update it.",
            code="payment_method_unexpected_state",
        )
    changes: dict[str, Any] = {}
    if "metadata" in p:
        changes["metadata"] = merge_metadata(pm["metadata"], p["metadata"], p["metadata"] is None)
    if "allow_redisplay" in p:
        changes["allow_redisplay"] = p["allow_redisplay"]
    if p.get("billing_details"):
        details = dict(pm["billing_details"])
        for key, value in p["billing_details"].items():
            details[key] = (
                dict(_EMPTY_ADDRESS) | value if key == "address" and isinstance(value, dict) else value or None
            )
        changes["billing_details"] = details
    if p.get("card"):
        card = dict(pm["card"])
        for key in ("exp_month", "exp_year"):
            if key in p["card"]:
                card[key] = int(p["card"][key])
        changes["card"] = card
    previous = ctx.store.update(pm, changes)
    if previous:
        ctx.emit("payment_method.updated", pm, previous)
    return pm


@family.post("/v1/payment_methods/{id}/attach")
def attach_payment_method(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate({"customer": string, "customer_account": string})
    if not p.get("customer"):
        raise errors.missing_param("customer")
    customer = ctx.store.require("customer", p["customer"], "customer")
    return attach(ctx, ctx.args["id"], customer)


@family.post("/v1/payment_methods/{id}/detach")
def detach_payment_method(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    store = ctx.store
    pm = store.require("payment_method", ctx.args["id"])
    if pm["customer"] is None:
        raise errors.invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            code="payment_method_unexpected_state",
        )
    customer = store.get("customer", pm["customer"])
    previous = store.update(pm, {"customer": None})
    store.private(pm["id"])["consumed"] = True
    ctx.emit("payment_method.detached", pm, previous)
    if customer is not None and customer["invoice_settings"].get("default_payment_method") == pm["id"]:
        changed = store.update(
            customer, {"invoice_settings": {**customer["invoice_settings"], "default_payment_method": None}}
        )
        ctx.emit("customer.updated", customer, changed)
    return pm


_LIST = {**LIST_SCHEMA, "type": string, "allow_redisplay": enum("always", "limited", "unspecified")}


@family.get("/v1/payment_methods")
def list_payment_methods(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**_LIST, "customer": string, "customer_account": string})
    if q.get("customer"):
        ctx.store.require("customer", q["customer"], "customer")
    where = {"customer": q.get("customer"), "type": q.get("type"), "allow_redisplay": q.get("allow_redisplay")}
    return ctx.page("payment_method", q, where=where)


@family.get("/v1/customers/{customer}/payment_methods")
def list_customer_payment_methods(ctx: Ctx) -> dict[str, Any]:
    customer = ctx.store.require("customer", ctx.args["customer"], "customer", 404)
    q = ctx.validate(_LIST)
    where = {"customer": customer["id"], "type": q.get("type"), "allow_redisplay": q.get("allow_redisplay")}
    return ctx.page("payment_method", q, where=where)


@family.get("/v1/customers/{customer}/payment_methods/{id}")
def retrieve_customer_payment_method(ctx: Ctx) -> dict[str, Any]:
    customer = ctx.store.require("customer", ctx.args["customer"], "customer", 404)
    ctx.validate({})
    pm = ctx.store.get("payment_method", ctx.args["id"])
    if pm is None or pm["customer"] != customer["id"]:
        raise errors.no_such("PaymentMethod", ctx.args["id"])
    return pm
