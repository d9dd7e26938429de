"""PaymentIntents: create (optionally confirming), retrieve, update, confirm, capture, cancel, list, search.

A confirmation is one payment attempt with the PaymentMethod's test-card behaviour:

- success: a succeeded charge (captured, with a balance transaction, unless ``capture_method=manual``:
  then ``requires_capture``); events ``charge.succeeded`` then ``payment_intent.succeeded``
  (or ``payment_intent.amount_capturable_updated``).
- decline: a failed charge, the intent back to ``requires_payment_method`` with
  ``last_payment_error`` (and ``payment_method`` cleared); events ``charge.failed`` and
  ``payment_intent.payment_failed``; the response is Stripe's 402 ``card_error`` carrying
  ``payment_intent``, ``charge``, ``decline_code``. The intent and charge stay (and the 402 is an
  idempotent result).
- 3D Secure card: on-session -> ``requires_action`` (``payment_intent.requires_action``);
  off-session (or ``error_on_requires_action``) -> declined with ``authentication_required``.
"""

from __future__ import annotations

import secrets
from typing import Any

from .. import errors, search
from ..params import (
    LIST_SCHEMA,
    anything,
    array,
    boolean,
    check_minimum,
    currency,
    email,
    enum,
    integer,
    merge_metadata,
    metadata,
    needs,
    nullable_string,
    require,
    shipping,
    statement_descriptor,
    string,
    unsupported,
    validate,
)
from ..params import (
    amount as amount_param,
)
from ..registry import Ctx, ResourceFamily
from ..test_cards import AUTHENTICATION_MESSAGE
from . import charges, payment_methods

family = ResourceFamily("payment_intents")
family.object_type("payment_intent", indexes=("customer",))

SEARCH_FIELDS = {
    "amount": "number",
    "created": "number",
    "currency": "token",
    "customer": "token",
    "metadata": "metadata",
    "status": "token",
}
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


def _off_session(value: Any, param: str) -> bool:
    if value in ("one_off", "recurring"):
        return True
    return boolean(value, param)


def _transfer_data(value: Any, param: str) -> dict[str, Any] | None:
    """``transfer_data``: ``destination`` (an account id) required, ``amount`` an integer."""
    if value == "":
        return None
    if not isinstance(value, dict):
        raise errors.invalid(f"Invalid hash: {param} must be a hash", param)
    data = validate(value, {"amount": integer(1), "destination": string}, param)
    if not data.get("destination"):
        raise errors.missing_param(f"{param}[destination]")
    return data


_TRANSFER_DATA = _transfer_data
_CONFIRM_COMMON = {
    "capture_method": enum("automatic", "automatic_async", "manual"),
    "confirmation_token": string,
    "error_on_requires_action": boolean,
    "excluded_payment_method_types": anything,
    "mandate": string,
    "mandate_data": needs(anything, "customer_acceptance"),
    "off_session": _off_session,
    "payment_details": anything,
    "payment_method": string,
    "payment_method_data": needs(anything, "type"),
    "payment_method_options": anything,
    "radar_options": anything,
    "receipt_email": email,
    "return_url": string,
    "setup_future_usage": enum("off_session", "on_session", nullable=True),
    "shipping": shipping(),
    "use_stripe_sdk": boolean,
    "amount_details": anything,
    "hooks": anything,
    "allowed_payment_method_types": anything,
}
CREATE = {
    **_CONFIRM_COMMON,
    "amount": lambda v, p: amount_param(v, p),
    "application_fee_amount": integer(0),
    "automatic_payment_methods": needs({"enabled": boolean, "allow_redirects": enum("always", "never")}, "enabled"),
    "confirm": boolean,
    "confirmation_method": enum("automatic", "manual"),
    "currency": currency,
    "customer": string,
    "customer_account": string,
    "description": nullable_string,
    "metadata": metadata,
    "on_behalf_of": string,
    "payment_method_configuration": string,
    "payment_method_types": array(string),
    "statement_descriptor": statement_descriptor,
    "statement_descriptor_suffix": statement_descriptor,
    "transfer_data": _TRANSFER_DATA,
    "transfer_group": string,
}
CONFIRM = {**_CONFIRM_COMMON, "client_secret": string, "amount_to_confirm": unsupported("partial confirmation")}
UPDATE = {
    "amount": lambda v, p: amount_param(v, p),
    "amount_details": anything,
    "application_fee_amount": integer(0),
    "capture_method": enum("automatic", "automatic_async", "manual"),
    "currency": currency,
    "customer": string,
    "customer_account": string,
    "description": nullable_string,
    "excluded_payment_method_types": anything,
    "hooks": anything,
    "metadata": metadata,
    "payment_details": anything,
    "payment_method": string,
    "payment_method_configuration": string,
    "payment_method_data": needs(anything, "type"),
    "payment_method_options": anything,
    "payment_method_types": array(string),
    "receipt_email": email,
    "setup_future_usage": enum("off_session", "on_session", nullable=True),
    "shipping": shipping(),
    "statement_descriptor": statement_descriptor,
    "statement_descriptor_suffix": statement_descriptor,
    "transfer_data": _TRANSFER_DATA,
    "transfer_group": string,
    "allowed_payment_method_types": anything,
}
_UPDATABLE_AFTER_CONFIRM = {"description", "metadata", "receipt_email", "shipping"}


def _missing_payment_method(pi: dict[str, Any]) -> errors.StripeError:
    who = f" with {pi['customer']}" if pi.get("customer") else ""
    return errors.invalid(
        f"You cannot confirm this PaymentIntent{who} because it's missing a payment method. To confirm it, "
        "provide a `payment_method` (one attached to the customer, or a test card such as pm_card_visa).",
        "payment_method",
        "parameter_missing",
    )


def _card_failure(ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any], code: str, decline_code: str, message: str, card):
    """Record a declined attempt and raise Stripe's 402 for it."""
    charge = charges.create_charge(ctx, pi, pm, failure=card, code=code, message=message)
    error = {
        "charge": charge["id"],
        "code": code,
        "decline_code": decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": message,
        "payment_method": dict(pm),
        "type": "card_error",
    }
    ctx.store.update(
        pi,
        {
            "status": "requires_payment_method",
            "last_payment_error": error,
            "latest_charge": charge["id"],
            "payment_method": None,
            "next_action": None,
        },
    )
    ctx.emit("payment_intent.payment_failed", pi)
    raise errors.card_error(
        code, message, decline_code, charge=charge["id"], payment_intent=dict(pi), payment_method=dict(pm)
    )


def _attempt(ctx: Ctx, pi: dict[str, Any], pm_ref: str, off_session: bool, error_on_requires_action: bool) -> None:
    """One confirmation of ``pi`` with an already validated PaymentMethod reference."""
    store = ctx.store
    pm = payment_methods.resolve(store, pm_ref)
    card = payment_methods.card_of(store, pm)
    store.update(pi, {"payment_method": pm["id"], "last_payment_error": None})
    if card.behaviour in ("decline", "decline_charges"):
        assert card.code and card.decline_code and card.message  # every declining card in CARDS has all three
        _card_failure(ctx, pi, pm, card.code, card.decline_code, card.message, card)
    if card.behaviour == "authenticate":
        if off_session or error_on_requires_action:
            _card_failure(
                ctx, pi, pm, "authentication_required", "authentication_required", AUTHENTICATION_MESSAGE, card
            )
        store.update(
            pi,
            {
                "status": "requires_action",
                "next_action": {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": "", "source": pm["id"]},
                },
            },
        )
        ctx.emit("payment_intent.requires_action", pi)
        return
    manual = pi["capture_method"] == "manual"
    charge = charges.create_charge(ctx, pi, pm, capture=not manual)
    if pm["customer"] is None:
        store.private(pm["id"])["consumed"] = True
    if pi["setup_future_usage"] and pi["customer"] and pm["customer"] is None:
        customer = store.get("customer", pi["customer"])
        if customer is not None:
            store.private(pm["id"]).pop("consumed", None)
            payment_methods.attach(ctx, pm["id"], customer, "payment_method")
    if manual:
        store.update(
            pi,
            {
                "status": "requires_capture",
                "amount_capturable": pi["amount"],
                "latest_charge": charge["id"],
                "next_action": None,
            },
        )
        ctx.emit("payment_intent.amount_capturable_updated", pi)
    else:
        store.update(
            pi,
            {
                "status": "succeeded",
                "amount_received": pi["amount"],
                "latest_charge": charge["id"],
                "next_action": None,
            },
        )
        ctx.emit("payment_intent.succeeded", pi)


@family.post("/v1/payment_intents")
def create_payment_intent(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate(CREATE)
    require(p, "amount", "currency")
    check_minimum(p["amount"], p["currency"])
    store = ctx.store
    customer_id = p.get("customer")
    if customer_id:
        store.require("customer", customer_id, "customer")
    confirm = p.get("confirm", False)
    if "off_session" in p and not confirm:
        raise errors.invalid("You may only specify `off_session` when `confirm=true`.", "off_session")
    if "error_on_requires_action" in p and not confirm:
        raise errors.invalid(
            "You may only specify `error_on_requires_action` when `confirm=true`.", "error_on_requires_action"
        )
    pm_ref = p.get("payment_method")
    if pm_ref:
        payment_methods.check_usable(store, pm_ref, customer_id)
    types = p.get("payment_method_types")
    automatic = p.get("automatic_payment_methods")
    if types and automatic and automatic.get("enabled"):
        raise errors.invalid(
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
            "payment_method_types",
        )
    pi_id = store.new_id("payment_intent")
    pi = store.build(
        "payment_intent",
        id=pi_id,
        amount=p["amount"],
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        application=None,
        application_fee_amount=p.get("application_fee_amount"),
        automatic_payment_methods=None if types else {"enabled": True, **(automatic or {})},
        canceled_at=None,
        cancellation_reason=None,
        capture_method=p.get("capture_method", "automatic_async"),
        client_secret=f"{pi_id}_secret_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}",
        confirmation_method=p.get("confirmation_method", "automatic"),
        currency=p["currency"],
        customer=customer_id,
        description=p.get("description"),
        last_payment_error=None,
        latest_charge=None,
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        next_action=None,
        on_behalf_of=p.get("on_behalf_of"),
        payment_method=None,
        payment_method_configuration_details=None,
        payment_method_options={
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        payment_method_types=types or ["card"],
        processing=None,
        receipt_email=p.get("receipt_email"),
        review=None,
        setup_future_usage=p.get("setup_future_usage"),
        shipping=p.get("shipping"),
        source=None,
        statement_descriptor=p.get("statement_descriptor"),
        statement_descriptor_suffix=p.get("statement_descriptor_suffix"),
        status="requires_payment_method",
        transfer_data=p.get("transfer_data"),
        transfer_group=p.get("transfer_group"),
        excluded_payment_method_types=p.get("excluded_payment_method_types"),
        customer_account=p.get("customer_account"),
        managed_payments=None,
    )
    if confirm and not pm_ref:
        raise _missing_payment_method(pi)
    if pm_ref and not confirm:
        pm = payment_methods.resolve(store, pm_ref)
        pi.update(payment_method=pm["id"], status="requires_confirmation")
    store.insert("payment_intent", pi)
    ctx.emit("payment_intent.created", pi)
    if confirm and pm_ref:  # (confirm without a payment method was refused above)
        _attempt(ctx, pi, pm_ref, p.get("off_session", False), p.get("error_on_requires_action", False))
    return pi


@family.get("/v1/payment_intents/search")
def search_payment_intents(ctx: Ctx) -> dict[str, Any]:
    return search.run(ctx, "payment_intent", "payment_intents", SEARCH_FIELDS)


@family.get("/v1/payment_intents/{id}")
def retrieve_payment_intent(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({"client_secret": string})
    return ctx.store.require("payment_intent", ctx.args["id"])


@family.post("/v1/payment_intents/{id}")
def update_payment_intent(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    pi = store.require("payment_intent", ctx.args["id"])
    p = ctx.validate(UPDATE)
    if pi["status"] not in CONFIRMABLE and set(p) - _UPDATABLE_AFTER_CONFIRM:
        raise errors.unexpected_state(
            f"You cannot update this PaymentIntent because it has a status of {pi['status']}. Only the fields "
            f"{', '.join(sorted(_UPDATABLE_AFTER_CONFIRM))} can be updated once a PaymentIntent was confirmed.",
            "payment_intent_unexpected_state",
        )
    customer_id = p.get("customer") or pi["customer"]
    if p.get("customer"):
        store.require("customer", p["customer"], "customer")
    if p.get("payment_method"):
        payment_methods.check_usable(store, p["payment_method"], customer_id)
    currency_code = p.get("currency", pi["currency"])
    if "amount" in p or "currency" in p:
        check_minimum(p.get("amount", pi["amount"]), currency_code)
    changes: dict[str, Any] = {
        k: p[k]
        for k in (
            "amount",
            "currency",
            "customer",
            "description",
            "receipt_email",
            "setup_future_usage",
            "shipping",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "transfer_group",
            "application_fee_amount",
            "capture_method",
            "payment_method_types",
        )  # fmt: skip
        if k in p
    }
    if "metadata" in p:
        changes["metadata"] = merge_metadata(pi["metadata"], p["metadata"], p["metadata"] is None)
    if p.get("payment_method"):
        changes["payment_method"] = payment_methods.resolve(store, p["payment_method"])["id"]
        changes["status"] = "requires_confirmation"
    store.update(pi, changes)  # Stripe has no payment_intent.updated event
    return pi


@family.post("/v1/payment_intents/{id}/confirm")
def confirm_payment_intent(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    pi = store.require("payment_intent", ctx.args["id"])
    p = ctx.validate(CONFIRM)
    if pi["status"] == "succeeded":
        raise errors.unexpected_state(
            "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.",
            "payment_intent_unexpected_state",
            payment_intent=dict(pi),
        )
    if pi["status"] not in CONFIRMABLE:
        raise errors.unexpected_state(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}. Only a PaymentIntent "
            f"with one of the following statuses may be confirmed: {', '.join(CONFIRMABLE)}.",
            "payment_intent_unexpected_state",
            payment_intent=dict(pi),
        )
    pm_ref = p.get("payment_method") or pi["payment_method"]
    if not pm_ref:
        raise _missing_payment_method(pi)
    payment_methods.check_usable(store, pm_ref, pi["customer"])
    changes: dict[str, Any] = {
        k: p[k] for k in ("receipt_email", "setup_future_usage", "shipping", "capture_method") if k in p
    }
    store.update(pi, changes)
    _attempt(ctx, pi, pm_ref, p.get("off_session", False), p.get("error_on_requires_action", False))
    return pi


@family.post("/v1/payment_intents/{id}/capture")
def capture_payment_intent(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    pi = store.require("payment_intent", ctx.args["id"])
    p = ctx.validate(
        {
            "amount_to_capture": integer(1),
            "application_fee_amount": integer(0),
            "final_capture": boolean,
            "metadata": metadata,
            "statement_descriptor": statement_descriptor,
            "statement_descriptor_suffix": statement_descriptor,
            "transfer_data": _TRANSFER_DATA,
            "amount_details": anything,
            "hooks": anything,
            "payment_details": anything,
        }
    )
    if pi["status"] != "requires_capture":
        raise errors.unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be captured: requires_capture.",
            "payment_intent_unexpected_state",
            payment_intent=dict(pi),
        )
    amount = p.get("amount_to_capture", pi["amount_capturable"])
    if amount > pi["amount_capturable"]:
        raise errors.invalid(
            f"The amount to capture ({amount}) cannot be greater than the amount capturable "
            f"({pi['amount_capturable']}).",
            "amount_to_capture",
            "amount_too_large",
        )
    charges.capture(ctx, store.require("charge", pi["latest_charge"]), amount)
    changes: dict[str, Any] = {"status": "succeeded", "amount_received": amount, "amount_capturable": 0}
    if "metadata" in p:
        changes["metadata"] = merge_metadata(pi["metadata"], p["metadata"], p["metadata"] is None)
    store.update(pi, changes)
    ctx.emit("payment_intent.succeeded", pi)
    return pi


@family.post("/v1/payment_intents/{id}/cancel")
def cancel_payment_intent(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    pi = store.require("payment_intent", ctx.args["id"])
    p = ctx.validate({"cancellation_reason": enum("duplicate", "fraudulent", "requested_by_customer", "abandoned")})
    if pi["status"] not in CANCELABLE:
        raise errors.unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a PaymentIntent "
            f"with one of the following statuses may be canceled: {', '.join(CANCELABLE)}.",
            "payment_intent_unexpected_state",
            payment_intent=dict(pi),
        )
    if pi["status"] == "requires_capture":
        charges.release(ctx, store.require("charge", pi["latest_charge"]))
    store.update(
        pi,
        {
            "status": "canceled",
            "canceled_at": store.now(),
            "cancellation_reason": p.get("cancellation_reason"),
            "amount_capturable": 0,
            "next_action": None,
        },
    )
    ctx.emit("payment_intent.canceled", pi)
    return pi


@family.get("/v1/payment_intents")
def list_payment_intents(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**LIST_SCHEMA, "customer": string, "customer_account": string})
    return ctx.page(
        "payment_intent", q, where={"customer": q.get("customer"), "customer_account": q.get("customer_account")}
    )
