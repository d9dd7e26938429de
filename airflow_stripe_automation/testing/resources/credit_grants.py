"""Billing credit grants: create, retrieve, update (``expires_at``, metadata), list, void, expire.

As at Stripe: a grant gives a customer ``amount[monetary][value]`` minor units of ``currency``
(``amount[type]=monetary``, the only type) for metered usage (``applicability_config[scope]``
is ``price_type=metered`` or a list of ``prices``, not both); ``category`` defaults to ``paid``,
``priority`` to 50, ``effective_at`` to now; ``expires_at`` (optional) must come after
``effective_at``. ``customer`` is returned as an id (expandable). Voiding sets ``voided_at``
(once); expiring sets ``expires_at`` to now (once, not after voiding). Every change refreshes
``updated`` and emits ``billing.credit_grant.updated``; creation emits ``.created``.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..params import (
    LIST_SCHEMA,
    array,
    currency,
    enum,
    integer,
    merge_metadata,
    metadata,
    needs,
    require,
    string,
)
from ..registry import Ctx, ResourceFamily

family = ResourceFamily("credit_grants")
TYPE = "billing.credit_grant"
family.object_type(TYPE, label="billing.credit_grant", prefix="credgr", indexes=("customer",))


def _timestamp(value: Any, param: str) -> int | None:
    return None if value == "" else integer(0)(value, param)


def _price(value: Any, param: str) -> str:
    if not isinstance(value, dict) or set(value) - {"id"}:
        raise errors.invalid(f"Invalid hash: {param} must be a hash with an id", param)
    require(value, "id")
    return string(value["id"], f"{param}[id]")


CREATE = {
    "amount": needs({"type": enum("monetary"), "monetary": {"currency": currency, "value": integer(1)}}, "type"),
    "applicability_config": needs({"scope": {"price_type": enum("metered"), "prices": array(_price)}}, "scope"),
    "category": enum("paid", "promotional"),
    "customer": string,
    "customer_account": string,
    "effective_at": integer(0),
    "expires_at": integer(0),
    "metadata": metadata,
    "name": string,
    "priority": integer(0, 100),
}


def _missing(name: str) -> errors.StripeError:
    return errors.missing_param(name)


def _scope(ctx: Ctx, config: dict[str, Any] | None) -> dict[str, Any]:
    scope = (config or {}).get("scope")
    if config is None:
        raise _missing("applicability_config")
    if not scope:
        raise _missing("applicability_config[scope]")
    if "price_type" in scope and "prices" in scope:
        raise errors.invalid(
            "You may only specify one of these parameters: price_type, prices.", "applicability_config[scope][prices]"
        )
    if "prices" in scope:
        prices = scope["prices"]
        if not prices or len(prices) > 20:
            raise errors.invalid("Provide between 1 and 20 prices.", "applicability_config[scope][prices]")
        for i, price_id in enumerate(prices):
            param = f"applicability_config[scope][prices][{i}][id]"
            price = ctx.store.get("price", price_id) if "price" in ctx.store.types else None
            if price is None:
                raise errors.no_such("price", price_id, param)
            if (price.get("recurring") or {}).get("usage_type") != "metered":
                raise errors.invalid(
                    f"Price {price_id} is not a metered price: credit grants apply to metered prices.", param
                )
        return {"prices": [{"id": price_id} for price_id in prices]}
    if "price_type" not in scope:
        raise _missing("applicability_config[scope][price_type]")
    return {"price_type": scope["price_type"]}


@family.post("/v1/billing/credit_grants")
def create_grant(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate(CREATE)
    store = ctx.store
    amount = p.get("amount")
    if amount is None:
        raise _missing("amount")
    if "type" not in amount:
        raise _missing("amount[type]")
    monetary = amount.get("monetary")
    if not monetary:
        raise _missing("amount[monetary]")
    require(monetary, "currency", "value")
    scope = _scope(ctx, p.get("applicability_config"))
    if p.get("customer_account"):
        raise errors.no_such("account", p["customer_account"], "customer_account")
    if not p.get("customer"):
        raise _missing("customer")
    customer = store.require("customer", p["customer"], "customer")
    now = store.now()
    effective_at = p.get("effective_at", now)
    expires_at = p.get("expires_at")
    if expires_at is not None and expires_at <= effective_at:
        raise errors.invalid("expires_at must be after effective_at.", "expires_at")
    if p.get("name") is not None and len(p["name"]) > 100:
        raise errors.invalid("Invalid string: name must be at most 100 characters", "name")
    grant = store.create(
        TYPE,
        amount={"monetary": {"currency": monetary["currency"], "value": monetary["value"]}, "type": "monetary"},
        applicability_config={"scope": scope},
        category=p.get("category", "paid"),
        customer=customer["id"],
        customer_account=None,
        effective_at=effective_at,
        expires_at=expires_at,
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        name=p.get("name"),
        priority=p.get("priority", 50),
        test_clock=customer["test_clock"],
        updated=now,
        voided_at=None,
    )
    ctx.emit(f"{TYPE}.created", grant)
    return grant


def _change(ctx: Ctx, grant: dict[str, Any], changes: dict[str, Any], now: int | None = None) -> dict[str, Any]:
    previous = ctx.store.update(grant, changes)
    if previous:
        previous.update(ctx.store.update(grant, {"updated": ctx.store.now() if now is None else now}))
        ctx.emit(f"{TYPE}.updated", grant, previous)
    return grant


@family.get("/v1/billing/credit_grants/{id}")
def retrieve_grant(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require(TYPE, ctx.args["id"])


@family.post("/v1/billing/credit_grants/{id}")
def update_grant(ctx: Ctx) -> dict[str, Any]:
    grant = ctx.store.require(TYPE, ctx.args["id"])
    p = ctx.validate({"expires_at": _timestamp, "metadata": metadata})
    changes: dict[str, Any] = {}
    if "expires_at" in p:
        if grant["voided_at"] is not None:
            raise errors.invalid("You cannot update the expiry of a voided credit grant.", "expires_at")
        if p["expires_at"] is not None and p["expires_at"] <= (grant["effective_at"] or grant["created"]):
            raise errors.invalid("expires_at must be after effective_at.", "expires_at")
        changes["expires_at"] = p["expires_at"]
    if "metadata" in p:
        changes["metadata"] = merge_metadata(grant["metadata"], p["metadata"], p["metadata"] is None)
    return _change(ctx, grant, changes)


@family.post("/v1/billing/credit_grants/{id}/void")
def void_grant(ctx: Ctx) -> dict[str, Any]:
    grant = ctx.store.require(TYPE, ctx.args["id"])
    ctx.validate({})
    if grant["voided_at"] is not None:
        raise errors.invalid(f"The credit grant {grant['id']} has already been voided.")
    now = ctx.store.now()
    return _change(ctx, grant, {"voided_at": now}, now)


@family.post("/v1/billing/credit_grants/{id}/expire")
def expire_grant(ctx: Ctx) -> dict[str, Any]:
    grant = ctx.store.require(TYPE, ctx.args["id"])
    ctx.validate({})
    now = ctx.store.now()
    if grant["voided_at"] is not None:
        raise errors.invalid(f"The credit grant {grant['id']} has been voided and cannot be expired.")
    if grant["expires_at"] is not None and grant["expires_at"] <= now:
        raise errors.invalid(f"The credit grant {grant['id']} has already expired.")
    return _change(ctx, grant, {"expires_at": now}, now)


@family.get("/v1/billing/credit_grants")
def list_grants(ctx: Ctx) -> dict[str, Any]:
    schema = {k: v for k, v in LIST_SCHEMA.items() if k != "created"}
    q = ctx.validate({**schema, "customer": string, "customer_account": string})
    return ctx.page(TYPE, q, where={"customer": q.get("customer"), "customer_account": q.get("customer_account")})
