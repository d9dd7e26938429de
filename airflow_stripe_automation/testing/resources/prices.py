"""Prices: create (for a ``product`` or with inline ``product_data``), retrieve, update, list, search.

Per-unit prices only (``unit_amount`` or ``unit_amount_decimal``), one-time or recurring
(``recurring[interval]`` day/week/month/year, ``interval_count`` up to 3 years), with
``transform_quantity`` and ``lookup_key`` (unique; ``transfer_lookup_key`` moves it). A one-time
price may instead let the customer choose what to pay: ``custom_unit_amount[enabled]=true`` with
optional ``minimum`` / ``maximum`` / ``preset`` (minor units); it has ``unit_amount`` and
``unit_amount_decimal`` null and ``custom_unit_amount`` ``{maximum, minimum, preset}``, sells only
through payment links, and is refused by invoice items and subscriptions (:func:`check_purchasable`). As at Stripe,
the amounts and currency of a price never change after creation, ``tax_behavior`` can only be set
once, prices cannot be deleted (archive them with ``active=false``), and the list returns active
prices unless ``active=false`` is asked for. Tiered prices, multi-currency
``currency_options`` and metered (``usage_type=metered``) prices are refused with a 400 naming the
parameter, not silently ignored. Other families use the helpers here: :func:`amount` (what a
quantity of a price costs), :func:`check_data` / :func:`create_inline` (``price_data``).

``POST /v1/products`` is here too: it may create the product's default price
(``default_price_data``), and this module builds on :mod:`.products`, not the other way round.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from .. import currencies, errors, search
from ..params import (
    LIST_SCHEMA,
    anything,
    array,
    boolean,
    check_minimum,
    currency,
    enum,
    integer,
    merge_metadata,
    metadata,
    needs,
    statement_descriptor,
    string,
    unsupported,
    validate,
)
from ..registry import Ctx, ResourceFamily
from . import products

family = ResourceFamily("prices")
family.object_type("price", indexes=("product",))

SEARCH_FIELDS = {
    "currency": "token",
    "lookup_key": "token",
    "metadata": "metadata",
    "product": "token",
    "type": "token",
    "created": "number",
}
INTERVALS = ("day", "week", "month", "year")
_MAX_DAYS = {"day": 3 * 365, "week": 156, "month": 36, "year": 3}  # Stripe: at most three years


def decimal_amount(value: Any, param: str) -> Decimal:
    text = string(value, param)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise errors.invalid(f"Invalid decimal: {text}", param) from None
    exponent = number.as_tuple().exponent  # "n", "N" or "F" for NaN and infinity
    if not isinstance(exponent, int) or number < 0 or -exponent > 12:
        raise errors.invalid(f"Invalid decimal: {text} (a non-negative number with at most 12 decimals)", param)
    return number


def _unit_amount(value: Any, param: str) -> int:
    number = integer(minimum=0)(value, param)
    if number > currencies.MAXIMUM_AMOUNT:
        raise errors.invalid(
            f"This value must be less than or equal to {currencies.MAXIMUM_AMOUNT}.", param, "amount_too_large"
        )
    return number


_RECURRING = needs(
    {
        "interval": enum(*INTERVALS),
        "interval_count": integer(1),
        "meter": unsupported("metered prices"),
        "trial_period_days": integer(0, 730),
        "usage_type": enum("licensed", "metered"),
    },
    "interval",
)
_TRANSFORM = needs({"divide_by": integer(1), "round": enum("down", "up")}, "divide_by", "round")
_CUSTOM = needs(
    {"enabled": boolean, "maximum": _unit_amount, "minimum": _unit_amount, "preset": _unit_amount}, "enabled"
)
_AMOUNTS = {
    "currency": currency,
    "unit_amount": _unit_amount,
    "unit_amount_decimal": decimal_amount,
    "custom_unit_amount": _CUSTOM,
    "currency_options": unsupported("multi-currency prices: a price has one currency here"),
    "tax_behavior": enum("exclusive", "inclusive", "unspecified"),
    "metadata": metadata,
}
CREATE = {
    **_AMOUNTS,
    "active": boolean,
    "billing_scheme": enum("per_unit", "tiered"),
    "lookup_key": string,
    "nickname": string,
    "product": string,
    "product_data": needs(
        {
            "active": boolean,
            "id": string,
            "metadata": metadata,
            "name": string,
            "statement_descriptor": statement_descriptor,
            "tax_code": string,
            "tax_details": anything,
            "unit_label": string,
        },
        "name",
    ),
    "recurring": _RECURRING,
    "tiers": unsupported("tiered prices: prices are per unit here"),
    "tiers_mode": unsupported("tiered prices: prices are per unit here"),
    "transfer_lookup_key": boolean,
    "transform_quantity": _TRANSFORM,
}
# price_data on subscription items / invoice items (inline prices): a product id, no product_data
INLINE = {k: v for k, v in _AMOUNTS.items() if k not in ("custom_unit_amount", "currency_options", "metadata")}
INLINE |= {"product": string, "product_data": unsupported("inline product_data"), "recurring": _RECURRING}
# default_price_data on a product
DEFAULT_PRICE = {**_AMOUNTS, "recurring": _RECURRING}


def _check_recurring(recurring: dict[str, Any] | None, param: str) -> None:
    if recurring is None:
        return
    if not recurring.get("interval"):
        raise errors.missing_param(f"{param}[interval]")
    count = recurring.get("interval_count", 1)
    if count > _MAX_DAYS[recurring["interval"]]:
        raise errors.invalid(
            "The maximum billing period is three years (3 years, 36 months, 156 weeks or 1095 days).",
            f"{param}[interval_count]",
        )
    if recurring.get("usage_type") == "metered":
        raise errors.invalid(
            "The local Stripe server does not support metered prices (usage_type=metered, billing meters).",
            f"{param}[usage_type]",
        )


def _check_amounts(p: dict[str, Any], prefix: str = "") -> None:
    def name(key: str) -> str:
        return f"{prefix}[{key}]" if prefix else key

    if not p.get("currency"):
        raise errors.missing_param(name("currency"))
    if "custom_unit_amount" in p:
        _check_custom(p, name)
        return
    if "unit_amount" in p and "unit_amount_decimal" in p:
        raise errors.invalid(
            f"You may only specify one of these parameters: {name('unit_amount')}, {name('unit_amount_decimal')}.",
            name("unit_amount_decimal"),
        )
    if "unit_amount" not in p and "unit_amount_decimal" not in p:
        raise errors.missing_param(name("unit_amount"))


def _check_custom(p: dict[str, Any], name) -> None:
    """A "customer chooses what to pay" price: no fixed amount, one-time, preset within minimum..maximum."""
    for fixed in ("unit_amount", "unit_amount_decimal"):
        if fixed in p:
            raise errors.invalid(
                f"You may only specify one of these parameters: {name(fixed)}, {name('custom_unit_amount')}.",
                name("custom_unit_amount"),
            )
    custom = p["custom_unit_amount"] or {}
    if "enabled" not in custom:
        raise errors.missing_param(f"{name('custom_unit_amount')}[enabled]")
    if not custom["enabled"]:
        raise errors.invalid(
            "custom_unit_amount[enabled] must be true: to charge a fixed amount, omit custom_unit_amount and "
            "pass unit_amount.",
            f"{name('custom_unit_amount')}[enabled]",
        )
    low, high, preset = custom.get("minimum"), custom.get("maximum"), custom.get("preset")
    if low is not None:
        check_minimum(low, p["currency"], f"{name('custom_unit_amount')}[minimum]")
    if low is not None and high is not None and low > high:
        raise errors.invalid(
            "custom_unit_amount[minimum] must be less than or equal to custom_unit_amount[maximum].",
            f"{name('custom_unit_amount')}[minimum]",
        )
    if preset is not None and ((low is not None and preset < low) or (high is not None and preset > high)):
        raise errors.invalid(
            "custom_unit_amount[preset] must be between custom_unit_amount[minimum] and custom_unit_amount[maximum].",
            f"{name('custom_unit_amount')}[preset]",
        )
    if p.get("recurring") is not None:
        raise errors.invalid(
            "Prices with custom_unit_amount cannot be recurring: custom unit amounts are only supported for "
            "one-time prices.",
            name("recurring"),
        )


def is_custom(price: dict[str, Any]) -> bool:
    """Whether the customer chooses what to pay for this price (``custom_unit_amount``)."""
    return price.get("custom_unit_amount") is not None


def _fields(p: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Price fields from validated parameters."""
    custom = None
    if "custom_unit_amount" in p:
        given = p["custom_unit_amount"]
        custom = {key: given.get(key) for key in ("maximum", "minimum", "preset")}
        unit, text = None, None
    elif "unit_amount_decimal" in p:
        exact = p["unit_amount_decimal"]
        unit = int(exact) if exact == exact.to_integral_value() else None
        text = format(exact.normalize(), "f") if exact else "0"
    else:
        unit = p["unit_amount"]
        text = str(unit)
    recurring = p.get("recurring")
    return {
        "billing_scheme": "per_unit",
        "currency": p["currency"],
        "custom_unit_amount": custom,
        "lookup_key": p.get("lookup_key"),
        "metadata": {k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        "nickname": p.get("nickname"),
        "product": product_id,
        "recurring": None
        if recurring is None
        else {
            "interval": recurring["interval"],
            "interval_count": recurring.get("interval_count", 1),
            "meter": None,
            "usage_type": recurring.get("usage_type", "licensed"),
            "trial_period_days": recurring.get("trial_period_days"),
        },
        "tax_behavior": p.get("tax_behavior", "unspecified"),
        "tiers_mode": None,
        "transform_quantity": p.get("transform_quantity"),
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": unit,
        "unit_amount_decimal": text,
    }


def _lookup_owner(store, key: str) -> dict[str, Any] | None:
    owner = store.private("__price_lookup_keys__").get(key)
    return store.get("price", owner) if owner else None


def _check_lookup_key(store, key: str | None, transfer: bool, price_id: str | None = None) -> None:
    if key is None:
        return
    if len(key) > 200:
        raise errors.invalid("Invalid lookup_key: must be at most 200 characters", "lookup_key")
    owner = _lookup_owner(store, key)
    if owner is not None and owner["id"] != price_id and not transfer:
        raise errors.invalid(
            f"A price (`{owner['id']}`) already uses that lookup key. Pass transfer_lookup_key=true to move it "
            "to this price.",
            "lookup_key",
        )


def _take_lookup_key(ctx: Ctx, price: dict[str, Any], key: str | None) -> None:
    if key is None:
        return
    store = ctx.store
    owner = _lookup_owner(store, key)
    if owner is not None and owner["id"] != price["id"]:
        previous = store.update(owner, {"lookup_key": None})
        ctx.emit("price.updated", owner, previous)
    store.private("__price_lookup_keys__")[key] = price["id"]


def _validated_transform(p: dict[str, Any]) -> None:
    transform = p.get("transform_quantity")
    if transform is not None and (not transform.get("divide_by") or not transform.get("round")):
        missing = "divide_by" if not transform.get("divide_by") else "round"
        raise errors.missing_param(f"transform_quantity[{missing}]")


def create(ctx: Ctx, p: dict[str, Any], product: dict[str, Any], *, inline: bool = False) -> dict[str, Any]:
    """Store a price from validated parameters (checks done) and emit ``price.created``."""
    store = ctx.store
    price = store.build("price", active=p.get("active", not inline), **_fields(p, product["id"]))
    store.insert("price", price)
    prices = store.private(product["id"])
    prices["prices"] = prices.get("prices", 0) + 1
    if inline:
        store.private(price["id"])["inline"] = True
    else:
        _take_lookup_key(ctx, price, p.get("lookup_key"))
        ctx.emit("price.created", price)
    return price


def check_inline(store, data: dict[str, Any], param: str) -> dict[str, Any]:
    """Validate ``default_price_data`` (a product's first price); the validated parameters."""
    p = validate(data, DEFAULT_PRICE, param)
    _check_amounts(p, param)
    _check_recurring(p.get("recurring"), f"{param}[recurring]")
    return p


def check_data(store, data: Any, param: str, *, recurring: bool) -> dict[str, Any]:
    """Validate ``price_data`` (an inline price for a subscription item or invoice item)."""
    if not isinstance(data, dict):
        raise errors.invalid(f"Invalid hash: {param} must be a hash", param)
    p = validate(data, INLINE, param)
    _check_amounts(p, param)
    if not p.get("product"):
        raise errors.missing_param(f"{param}[product]")
    store.require("product", p["product"], f"{param}[product]")
    if recurring and not p.get("recurring"):
        raise errors.missing_param(f"{param}[recurring]")
    if not recurring and p.get("recurring"):
        raise errors.unknown_param(f"{param}[recurring]")
    _check_recurring(p.get("recurring"), f"{param}[recurring]")
    return p


def create_inline(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """An inline price from :func:`check_data` parameters: inactive and absent from price lists, as at Stripe."""
    return create(ctx, p, ctx.store.require("product", p["product"]), inline=True)


@family.post("/v1/prices")
def create_price(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    p = ctx.validate(CREATE)
    if p.get("billing_scheme") == "tiered":
        raise errors.invalid("The local Stripe server does not support tiered prices.", "billing_scheme")
    _check_amounts(p)
    if p.get("product") and p.get("product_data"):
        raise errors.invalid("You may only specify one of these parameters: product, product_data.", "product_data")
    if not p.get("product") and not p.get("product_data"):
        raise errors.missing_param("product")
    _check_recurring(p.get("recurring"), "recurring")
    _validated_transform(p)
    _check_lookup_key(store, p.get("lookup_key"), p.get("transfer_lookup_key", False))
    if p.get("nickname") is not None and len(p["nickname"]) > 250:
        raise errors.invalid("Invalid nickname: must be at most 250 characters", "nickname")
    if p.get("product"):
        product = store.require("product", p["product"], "product")
    else:
        data = p["product_data"]
        products.check_new(store, data, "product_data")
        product = products.build(store, data)
        store.insert("product", product)
        ctx.emit("product.created", product)
    return create(ctx, p, product)


@family.post("/v1/products")
def create_product(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate(products.CREATE)
    store = ctx.store
    products.check_new(store, p)
    price_data = p.get("default_price_data")
    price_params = None
    if price_data is not None:
        if not isinstance(price_data, dict):
            raise errors.invalid("Invalid hash: default_price_data must be a hash", "default_price_data")
        price_params = check_inline(store, price_data, "default_price_data")
    product = products.build(store, p)
    store.insert("product", product)
    ctx.emit("product.created", product)
    if price_params is not None:
        price = create(ctx, price_params, product)
        previous = store.update(product, {"default_price": price["id"]})
        ctx.emit("product.updated", product, previous)
    return product


@family.get("/v1/prices/search")
def search_prices(ctx: Ctx) -> dict[str, Any]:
    return search.run(ctx, "price", "prices", SEARCH_FIELDS)


@family.get("/v1/prices/{id}")
def retrieve_price(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("price", ctx.args["id"])


@family.post("/v1/prices/{id}")
def update_price(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    price = store.require("price", ctx.args["id"])
    p = ctx.validate(
        {
            "active": boolean,
            "currency_options": unsupported("multi-currency prices: a price has one currency here"),
            "lookup_key": lambda v, n: None if v == "" else string(v, n),
            "metadata": metadata,
            "nickname": lambda v, n: None if v == "" else string(v, n),
            "tax_behavior": enum("exclusive", "inclusive", "unspecified"),
            "transfer_lookup_key": boolean,
        }
    )
    if "tax_behavior" in p and price["tax_behavior"] not in ("unspecified", p["tax_behavior"]):
        raise errors.invalid(
            f"The tax_behavior of a price can only be set once; it cannot be changed from {price['tax_behavior']}.",
            "tax_behavior",
        )
    if "lookup_key" in p:
        _check_lookup_key(store, p["lookup_key"], p.get("transfer_lookup_key", False), price["id"])
    changes: dict[str, Any] = {k: p[k] for k in ("active", "nickname", "tax_behavior") if k in p}
    if "metadata" in p:
        changes["metadata"] = merge_metadata(price["metadata"], p["metadata"], p["metadata"] is None)
    if "lookup_key" in p:
        old = price["lookup_key"]
        if old is not None and old != p["lookup_key"]:
            store.private("__price_lookup_keys__").pop(old, None)
        _take_lookup_key(ctx, price, p["lookup_key"])
        changes["lookup_key"] = p["lookup_key"]
    previous = store.update(price, changes)
    if previous:
        ctx.emit("price.updated", price, previous)
    return price


@family.get("/v1/prices")
def list_prices(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate(
        {
            **LIST_SCHEMA,
            "active": boolean,
            "currency": currency,
            "lookup_keys": array(string),
            "product": string,
            "recurring": {"interval": enum(*INTERVALS), "meter": string, "usage_type": enum("licensed", "metered")},
            "type": enum("one_time", "recurring"),
        }
    )
    keys = q.get("lookup_keys")
    if keys is not None and len(keys) > 10:
        raise errors.invalid("You can specify up to 10 lookup_keys.", "lookup_keys")
    recurring = q.get("recurring") or {}
    store = ctx.store

    def predicate(price: dict[str, Any]) -> bool:
        if store.private(price["id"]).get("inline"):
            return False
        if keys is not None and price["lookup_key"] not in keys:
            return False
        for key in ("interval", "usage_type"):
            if key in recurring and (price["recurring"] or {}).get(key) != recurring[key]:
                return False
        return not ("meter" in recurring and (price["recurring"] or {}).get("meter") != recurring["meter"])

    where = {
        "product": q.get("product"),
        "currency": q.get("currency"),
        "type": q.get("type"),
        "active": q.get("active", True),  # "Returns a list of your active prices" unless active=false
    }
    return ctx.page("price", q, where=where, predicate=predicate)


# -- amounts, for invoices and subscriptions ---------------------------------------------------


def unit_decimal(price: dict[str, Any]) -> Decimal:
    """The unit amount; for a custom-amount price, its ``preset`` (or 0) - what a payment link shows first."""
    if is_custom(price):
        return Decimal(price["custom_unit_amount"]["preset"] or 0)
    return Decimal(price["unit_amount_decimal"])


def billed_quantity(price: dict[str, Any], quantity: int) -> int:
    transform = price.get("transform_quantity")
    if not transform:
        return quantity
    rounding = ROUND_CEILING if transform["round"] == "up" else ROUND_FLOOR
    return int((Decimal(quantity) / Decimal(transform["divide_by"])).to_integral_value(rounding))


def amount(price: dict[str, Any], quantity: int) -> int:
    """What ``quantity`` units of a per-unit price cost, in the currency's minor unit."""
    total = unit_decimal(price) * billed_quantity(price, quantity)
    return int(total.to_integral_value(ROUND_HALF_EVEN))


def interval_phrase(price: dict[str, Any]) -> str:
    """``month`` / ``3 months`` / ``year``: how Stripe names a recurring price's period."""
    recurring = price["recurring"] or {}
    count = recurring.get("interval_count", 1)
    interval = recurring.get("interval", "")
    return interval if count == 1 else f"{count} {interval}s"


def line_description(price: dict[str, Any], product: dict[str, Any] | None, quantity: int) -> str:
    """``1 × T-shirt (at $20.00 / month)``, the description Stripe gives a subscription line."""
    name = product["name"] if product else price["product"]
    at = currencies.display(unit_decimal(price), price["currency"])
    if price["recurring"]:
        at += f" / {interval_phrase(price)}"
    return f"{quantity} × {name} (at {at})"


def check_purchasable(price: dict[str, Any], param: str, *, recurring: bool) -> None:
    """The 400s Stripe gives for an inactive price, a custom-amount price or one of the wrong type."""
    if not price["active"]:
        raise errors.invalid(
            f"The price specified ({price['id']}) is inactive. This field only accepts active prices.", param
        )
    if is_custom(price):
        raise errors.invalid(
            f"The price specified ({price['id']}) has a custom_unit_amount (the customer chooses what to pay); "
            "such prices can only be used in Checkout Sessions and Payment Links, not here.",
            param,
        )
    wanted = "recurring" if recurring else "one_time"
    if price["type"] != wanted:
        raise errors.invalid(
            f"The price specified is set to `type={price['type']}` but this field only accepts prices with "
            f"`type={wanted}`.",
            param,
        )
