"""Customers: create, retrieve, update (metadata merge), delete, list, search.

As at Stripe: metadata keys merge on update, a key sent as "" is removed, ``metadata=""`` clears
all; ``invoice_settings[default_payment_method]`` must name a PaymentMethod attached to this
customer; a deleted customer is retrievable as ``{"id", "object", "deleted": true}`` but can no
longer be updated and leaves lists; ``payment_method`` on create attaches that payment method;
``tax_id_data`` on create adds tax IDs (see :mod:`.tax_ids`); setting ``balance`` records an
``initial`` / ``adjustment`` customer balance transaction (see :mod:`.customer_balance`).
"""

from __future__ import annotations

import random
import string
from typing import Any

from .. import errors, search
from ..params import (
    LIST_SCHEMA,
    anything,
    array,
    boolean,
    email,
    enum,
    integer,
    merge_metadata,
    metadata,
    nullable_string,
    shipping,
)
from ..params import (
    string as string_param,
)
from ..registry import Ctx, ResourceFamily
from ..templates import fixture
from . import customer_balance, payment_methods, tax_ids

family = ResourceFamily("customers")
family.object_type("customer", indexes=("email",))

_ADDRESS = {k: nullable_string for k in ("city", "country", "line1", "line2", "postal_code", "state")}
_INVOICE_SETTINGS = {
    "custom_fields": anything,
    "default_payment_method": nullable_string,
    "footer": nullable_string,
    "rendering_options": {
        "amount_tax_display": enum("exclude_tax", "include_inclusive_tax", nullable=True),
        "template": nullable_string,
    },
}
_COMMON = {
    "address": _ADDRESS,
    "balance": integer(),
    "business_name": nullable_string,
    "cash_balance": anything,
    "description": nullable_string,
    "email": email,
    "individual_name": nullable_string,
    "invoice_prefix": string_param,
    "invoice_settings": _INVOICE_SETTINGS,
    "metadata": metadata,
    "name": nullable_string,
    "next_invoice_sequence": integer(1),
    "phone": nullable_string,
    "preferred_locales": array(string_param),
    "shipping": shipping(carrier=False),
    "source": string_param,
    "tax": anything,
    "tax_exempt": enum("none", "exempt", "reverse", nullable=True),
    "validate": boolean,
}
CREATE = {**_COMMON, "payment_method": string_param, "tax_id_data": tax_ids.validate_data, "test_clock": string_param}
UPDATE = {**_COMMON, "default_source": nullable_string}
SEARCH_FIELDS = {"email": "text", "name": "text", "phone": "text", "metadata": "metadata", "created": "number"}
_PLAIN = ("balance", "description", "email", "name", "phone", "next_invoice_sequence", "preferred_locales")


def _no_sources() -> errors.StripeError:
    return errors.invalid(
        "Sources (tok_..., src_...) are not supported by the local Stripe server: use PaymentMethods "
        "(payment_method=pm_card_visa).",
        "source",
    )


def _invoice_prefix(value: str | None) -> str:
    if value is None:
        return "".join(random.choices(string.ascii_uppercase + string.digits, k=8))
    if not (3 <= len(value) <= 12) or not value.isalnum() or value.upper() != value:
        raise errors.invalid("Invoice prefix must be 3-12 uppercase letters or numbers.", "invoice_prefix")
    return value


def _shipping(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return value  # complete already: params.shipping fills in what was not sent


def _rendering_options(value: dict[str, Any] | None, current: dict[str, Any] | None = None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"amount_tax_display": None, "template": None} | (current or {}) | value


def respond(ctx: Ctx, customer: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The customer with the includable lists asked for in ``expand[]`` (``tax_ids``, ``subscriptions``).

    Stripe leaves them out unless asked; they hold the customer's first 10 tax ids / subscriptions
    that are not canceled, as ``GET /v1/customers/{id}/tax_ids`` and ``GET /v1/subscriptions?customer=`` would.
    """
    if customer.get("deleted"):
        return customer
    wanted = {p[len(prefix) :] for p in ctx.expand if p.startswith(prefix)}
    extra: dict[str, Any] = {}
    cid = customer["id"]
    if "tax_ids" in wanted:
        found, more = ctx.store.page("tax_id", where={"customer": cid}, limit=10)
        extra["tax_ids"] = {"object": "list", "data": found, "has_more": more, "url": f"/v1/customers/{cid}/tax_ids"}
    if "subscriptions" in wanted:
        found, more = ctx.store.page(
            "subscription", where={"customer": cid}, limit=10, predicate=lambda s: s["status"] != "canceled"
        )
        extra["subscriptions"] = {
            "object": "list",
            "data": found,
            "has_more": more,
            "url": f"/v1/customers/{cid}/subscriptions",
        }
    # included, not expanded: the generic expansion must not see these paths themselves
    ctx.expand[:] = [p for p in ctx.expand if p not in (prefix + "tax_ids", prefix + "subscriptions")]
    return {**customer, **extra} if extra else customer


@family.post("/v1/customers")
def create_customer(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate(CREATE)
    if p.get("source"):
        raise _no_sources()
    store = ctx.store
    if p.get("test_clock") and store.lookup(p["test_clock"]) is None:
        raise errors.no_such("test_clock", p["test_clock"], "test_clock")
    settings = p.get("invoice_settings") or {}
    pm_ref = p.get("payment_method")
    if pm_ref:
        payment_methods.check_attachable(store, pm_ref, None, "payment_method")
    default_pm = settings.get("default_payment_method")
    if default_pm and default_pm != pm_ref:
        raise _not_attached(default_pm)
    customer = store.build(
        "customer",
        address={k: None for k in _ADDRESS} | p["address"] if p.get("address") else None,
        balance=p.get("balance", 0),
        currency=None,
        default_source=None,
        delinquent=False,
        description=p.get("description"),
        discount=None,
        email=p.get("email"),
        invoice_prefix=_invoice_prefix(p.get("invoice_prefix")),
        invoice_settings={
            "custom_fields": settings.get("custom_fields"),
            "default_payment_method": None,
            "footer": settings.get("footer"),
            "rendering_options": _rendering_options(settings.get("rendering_options")),
        },
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        name=p.get("name"),
        next_invoice_sequence=p.get("next_invoice_sequence", 1),
        phone=p.get("phone"),
        preferred_locales=p.get("preferred_locales") or [],
        shipping=_shipping(p.get("shipping")),
        tax_exempt=p.get("tax_exempt") or "none",
        test_clock=p.get("test_clock"),
    )
    store.insert("customer", customer)
    ctx.emit("customer.created", customer)
    customer_balance.balance_set(ctx, customer, 0, initial=True)
    for checked in p.get("tax_id_data") or []:
        tax_ids.add(ctx, customer, checked)
    if pm_ref:
        pm = payment_methods.attach(ctx, pm_ref, customer, "payment_method")
        if default_pm:
            previous = store.update(
                customer, {"invoice_settings": {**customer["invoice_settings"], "default_payment_method": pm["id"]}}
            )
            ctx.emit("customer.updated", customer, previous)
    return respond(ctx, customer)


def _not_attached(pm_id: str) -> errors.StripeError:
    return errors.invalid(
        f"The customer does not have a payment method with the ID {pm_id}. The payment method must be "
        "attached to the customer.",
        "invoice_settings[default_payment_method]",
    )


@family.get("/v1/customers/search")
def search_customers(ctx: Ctx) -> dict[str, Any]:
    return search.run(ctx, "customer", "customers", SEARCH_FIELDS)


@family.get("/v1/customers/{id}")
def retrieve_customer(ctx: Ctx) -> dict[str, Any]:
    object_id = ctx.args["id"]
    ctx.validate({})
    if object_id in ctx.store.deleted and ctx.store.kind_of(object_id) == "customer":
        stub = ctx.store.lookup(object_id)  # a deleted object keeps its stub
        if stub is not None:
            return stub
    return respond(ctx, ctx.store.require("customer", object_id))


@family.post("/v1/customers/{id}")
def update_customer(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    customer = store.require("customer", ctx.args["id"])
    p = ctx.validate(UPDATE)
    if p.get("source") or p.get("default_source"):
        raise _no_sources()
    changes: dict[str, Any] = {k: p[k] for k in _PLAIN if k in p}
    if "preferred_locales" in changes and changes["preferred_locales"] is None:
        changes["preferred_locales"] = []
    if "address" in p:
        changes["address"] = (
            None if p["address"] is None else {k: None for k in _ADDRESS} | (customer["address"] or {}) | p["address"]
        )
    if "shipping" in p:
        changes["shipping"] = _shipping(p["shipping"])
    if "invoice_prefix" in p:
        changes["invoice_prefix"] = _invoice_prefix(p["invoice_prefix"])
    if "tax_exempt" in p:
        changes["tax_exempt"] = p["tax_exempt"] or "none"
    if "metadata" in p:
        changes["metadata"] = merge_metadata(customer["metadata"], p["metadata"], p["metadata"] is None)
    if "invoice_settings" in p:
        settings = dict(customer["invoice_settings"])
        for key, value in (p["invoice_settings"] or {}).items():
            if key == "default_payment_method" and value is not None:
                pm = store.get("payment_method", value)
                if pm is None or pm["customer"] != customer["id"]:
                    raise _not_attached(value)
            if key == "rendering_options":
                value = _rendering_options(value, settings.get("rendering_options"))
            settings[key] = value
        changes["invoice_settings"] = settings
    old_balance = customer["balance"]
    previous = store.update(customer, changes)
    if previous:
        ctx.emit("customer.updated", customer, previous)
    if "balance" in previous:
        customer_balance.balance_set(ctx, customer, old_balance)
    return respond(ctx, customer)


@family.delete("/v1/customers/{id}")
def delete_customer(ctx: Ctx) -> dict[str, Any]:
    customer = ctx.store.require("customer", ctx.args["id"])
    ctx.validate({})
    stub = fixture("deleted_customer") | {"id": customer["id"], "object": "customer", "deleted": True}
    ctx.store.delete(customer, stub)
    ctx.emit("customer.deleted", customer)
    return stub


@family.get("/v1/customers")
def list_customers(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**LIST_SCHEMA, "email": string_param, "test_clock": string_param})
    page = ctx.page("customer", q, where={"email": q.get("email"), "test_clock": q.get("test_clock")})
    paths = list(ctx.expand)
    data = []
    for customer in page["data"]:
        ctx.expand[:] = paths
        data.append(respond(ctx, customer, "data."))
    page["data"] = data
    return page
