"""Payment links: create, retrieve, update (``active``, metadata, ...), list (``active``), line items.

As at Stripe: ``line_items`` (1 to 20) each name an active ``price`` (an id this server stores) or
give ``price_data`` inline (``currency``, ``unit_amount`` or ``unit_amount_decimal``, ``product``
or ``product_data[name]``, optional ``recurring``), with a ``quantity``; all in one currency,
which becomes the link's ``currency``. An inline price (and a ``product_data`` product) is
created inactive and stays out of price lists (see :mod:`.prices`), as at Stripe. A link with a
recurring price is a subscription link: ``payment_intent_data`` and ``customer_creation`` are
refused there, ``subscription_data`` is refused without one. The ``url`` is
``https://buy.stripe.com/test_...``. ``GET /v1/payment_links/{id}/line_items`` lists ``item``
objects in order with their ``price`` expanded. Events ``payment_link.created`` / ``.updated``.
A "customer chooses what to pay" price (``custom_unit_amount``, see :mod:`.prices`) must be the
link's only line item, with quantity 1 and no ``adjustable_quantity``; its item's amounts are the
price's ``preset`` (or 0).
"""

from __future__ import annotations

import random
import re
import string as _string
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import errors, params
from ..params import (
    LIST_SCHEMA,
    anything,
    array,
    boolean,
    currency,
    enum,
    integer,
    merge_metadata,
    metadata,
    needs,
    nullable_string,
    statement_descriptor,
    string,
    unsupported,
)
from ..registry import Ctx, ResourceFamily
from ..templates import clone, fixture
from . import prices, products

family = ResourceFamily("payment_links")
family.object_type("payment_link")

_ALNUM = _string.ascii_letters + _string.digits
MAX_LINE_ITEMS = 20


def _hash(schema: params.Schema):
    def check(value: Any, param: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise errors.invalid(f"Invalid hash: {param} must be a hash", param)
        return params.validate(value, schema, param)

    return check


def _decimal(value: Any, param: str) -> Decimal:
    text = string(value, param)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise errors.invalid(f"Invalid decimal: {text}", param) from None
    exponent = number.as_tuple().exponent  # "n", "N" or "F" for NaN and infinity
    if not isinstance(exponent, int) or number < 0 or -exponent > 12:
        raise errors.invalid(f"Invalid decimal: {text} (a non-negative number with at most 12 decimals)", param)
    return number


_ADJUSTABLE = {"enabled": boolean, "maximum": integer(1, 999_999), "minimum": integer(0, 999_998)}
_PRICE_DATA = {
    "currency": currency,
    "product": string,
    "product_data": {
        "description": string,
        "images": array(string),
        "metadata": metadata,
        "name": string,
        "tax_code": string,
        "tax_details": anything,
        "unit_label": string,
    },
    "recurring": {"interval": enum("day", "week", "month", "year"), "interval_count": integer(1)},
    "tax_behavior": enum("exclusive", "inclusive", "unspecified"),
    "unit_amount": integer(0),
    "unit_amount_decimal": _decimal,
}
_LINE_ITEM = {"adjustable_quantity": _ADJUSTABLE, "price": string, "price_data": _PRICE_DATA, "quantity": integer(1)}
_AFTER_COMPLETION = needs(
    {
        "type": enum("hosted_confirmation", "redirect"),
        "hosted_confirmation": {"custom_message": string},
        "redirect": {"url": string},
    },
    "type",
)
_PAYMENT_INTENT_DATA = {
    "capture_method": enum("automatic", "automatic_async", "manual"),
    "description": string,
    "metadata": metadata,
    "setup_future_usage": enum("off_session", "on_session"),
    "statement_descriptor": statement_descriptor,
    "statement_descriptor_suffix": statement_descriptor,
    "transfer_group": string,
}
_SUBSCRIPTION_DATA = {
    "description": string,
    "invoice_settings": anything,
    "metadata": metadata,
    "trial_period_days": integer(1, 730),
    "trial_settings": anything,
}
_COMMON = {
    "after_completion": _AFTER_COMPLETION,
    "allow_promotion_codes": boolean,
    "automatic_tax": needs({"enabled": boolean, "liability": anything}, "enabled"),
    "billing_address_collection": enum("auto", "required"),
    "consent_collection": anything,
    "custom_fields": lambda v, p: _custom_fields(v, p),
    "custom_text": anything,
    "customer_creation": enum("always", "if_required"),
    "invoice_creation": needs({"enabled": boolean, "invoice_data": anything}, "enabled"),
    "metadata": metadata,
    "name_collection": unsupported("name collection"),
    "optional_items": unsupported("optional items"),
    "payment_intent_data": _PAYMENT_INTENT_DATA,
    "payment_method_collection": enum("always", "if_required"),
    "payment_method_options": anything,
    "payment_method_types": array(string),
    "phone_number_collection": needs({"enabled": boolean}, "enabled"),
    "shipping_address_collection": needs({"allowed_countries": array(string)}, "allowed_countries"),
    "shipping_options": unsupported("shipping rates: no ShippingRate objects here"),
    "submit_type": enum("auto", "book", "donate", "pay", "subscribe"),
    "subscription_data": _SUBSCRIPTION_DATA,
    "tax_id_collection": needs({"enabled": boolean, "required": enum("if_supported", "never")}, "enabled"),
}
CREATE = {
    **_COMMON,
    "application_fee_amount": unsupported("Connect application fees"),
    "application_fee_percent": unsupported("Connect application fees"),
    "currency": currency,
    "inactive_message": string,
    "line_items": array(_hash(_LINE_ITEM)),
    "managed_payments": {"enabled": boolean},
    "on_behalf_of": unsupported("Connect: no connected accounts here"),
    "restrictions": needs({"completed_sessions": needs({"limit": integer(1)}, "limit")}, "completed_sessions"),
    "transfer_data": unsupported("Connect transfers"),
}
UPDATE = {
    **_COMMON,
    "active": boolean,
    "inactive_message": nullable_string,
    "line_items": array(_hash({"id": string, "quantity": integer(1), "adjustable_quantity": _ADJUSTABLE})),
    "restrictions": needs({"completed_sessions": needs({"limit": integer(1)}, "limit")}, "completed_sessions"),
    "application_fee_amount": unsupported("Connect application fees"),
    "application_fee_percent": unsupported("Connect application fees"),
    "on_behalf_of": unsupported("Connect: no connected accounts here"),
    "transfer_data": unsupported("Connect transfers"),
}


def _random(n: int) -> str:
    return "".join(random.choices(_ALNUM, k=n))


# -- prices -----------------------------------------------------------------------------------


def _stored_price(ctx: Ctx, price_id: str, param: str) -> dict[str, Any]:
    price = ctx.store.require("price", price_id, param)
    if not price["active"]:
        raise errors.invalid(
            f"The price specified ({price_id}) is inactive. This field only accepts active prices.", param
        )
    return price


def _check_price_data(ctx: Ctx, data: dict[str, Any], param: str) -> dict[str, Any]:
    """Validated ``price_data`` (nothing stored): its product exists, or ``product_data`` is valid."""
    if not data.get("currency"):
        raise errors.missing_param(f"{param}[currency]")
    if "unit_amount" in data and "unit_amount_decimal" in data:
        raise errors.invalid(
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            f"{param}[unit_amount_decimal]",
        )
    if "unit_amount" not in data and "unit_amount_decimal" not in data:
        raise errors.missing_param(f"{param}[unit_amount]")
    if "product" in data and "product_data" in data:
        raise errors.invalid(
            "You may only specify one of these parameters: product, product_data.", f"{param}[product_data]"
        )
    if data.get("product"):
        ctx.store.require("product", data["product"], f"{param}[product]")
    elif data.get("product_data"):
        products.check_new(ctx.store, data["product_data"], f"{param}[product_data]")
    else:
        raise errors.missing_param(f"{param}[product_data]")
    recurring = data.get("recurring")
    if recurring is not None and not recurring.get("interval"):
        raise errors.missing_param(f"{param}[recurring][interval]")
    return data


def _create_inline(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    """The inline price (and product) of checked ``price_data``: inactive, out of the price list, as at Stripe."""
    store = ctx.store
    if data.get("product"):
        product = store.require("product", data["product"])
    else:
        product = products.build(store, {**data["product_data"], "active": False})
        store.insert("product", product)
        ctx.emit("product.created", product)
    return prices.create(ctx, data, product, inline=True)


def _product_name(ctx: Ctx, price: dict[str, Any]) -> str | None:
    product = ctx.store.lookup(price["product"])
    return product.get("name") if isinstance(product, dict) else None


# -- line items -------------------------------------------------------------------------------


def _check_custom_line(quantity: int, adjustable: dict[str, Any] | None, param: str) -> None:
    """Stripe: the line item of a custom-amount price has quantity 1 and no adjustable quantity."""
    if quantity != 1:
        raise errors.invalid(
            "The quantity of a line item with a custom_unit_amount price must be 1.", f"{param}[quantity]"
        )
    if adjustable and adjustable.get("enabled"):
        raise errors.invalid(
            "adjustable_quantity cannot be enabled on a line item with a custom_unit_amount price.",
            f"{param}[adjustable_quantity]",
        )


def _adjustable(value: dict[str, Any] | None, quantity: int, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if "enabled" not in value:
        raise errors.missing_param(f"{param}[enabled]")
    low, high = value.get("minimum"), value.get("maximum")
    if low is not None and high is not None and low > high:
        raise errors.invalid("The minimum must be less than or equal to the maximum.", f"{param}[minimum]")
    if value["enabled"] and not ((low if low is not None else 0) <= quantity <= (high if high is not None else 99)):
        raise errors.invalid("The quantity must be between the minimum and maximum adjustable quantity.", param)
    return {"enabled": value["enabled"], "maximum": high, "minimum": low}


def _item(price: dict[str, Any], quantity: int, adjustable: dict[str, Any] | None, name: str | None):
    total = prices.amount(price, quantity)
    item = fixture("item")
    item.update(
        id=f"li_{_random(24)}",
        adjustable_quantity=adjustable,
        amount_discount=0,
        amount_subtotal=total,
        amount_tax=0,
        amount_total=total,
        currency=price["currency"],
        description=name,
        metadata=None,
        price=price["id"],
        quantity=quantity,
    )
    return item


def _items(ctx: Ctx, link: dict[str, Any]) -> list[dict[str, Any]]:
    return ctx.store.private(link["id"])["line_items"]


def _render(ctx: Ctx, item: dict[str, Any]) -> dict[str, Any]:
    """A line item as Stripe lists it: its price expanded."""
    out = clone(item)
    out["price"] = clone(ctx.store.lookup(item["price"]))
    return out


# -- endpoints --------------------------------------------------------------------------------


def _after_completion(value: dict[str, Any] | None, current: dict[str, Any] | None = None) -> dict[str, Any]:
    if value is None:
        return current or {"hosted_confirmation": {"custom_message": None}, "type": "hosted_confirmation"}
    kind = value.get("type")
    if kind is None:
        raise errors.missing_param("after_completion[type]")
    if kind == "redirect":
        url = (value.get("redirect") or {}).get("url")
        if not url:
            raise errors.missing_param("after_completion[redirect][url]")
        if not re.match(r"https?://[^\s/]+", url):
            raise errors.invalid(f"Not a valid URL: {url}", "after_completion[redirect][url]", "url_invalid")
        return {"redirect": {"url": url}, "type": "redirect"}
    if "redirect" in value:
        raise errors.invalid(
            "after_completion[redirect] can only be set when after_completion[type] is redirect.",
            "after_completion[redirect]",
        )
    message = (value.get("hosted_confirmation") or {}).get("custom_message")
    return {"hosted_confirmation": {"custom_message": message}, "type": "hosted_confirmation"}


_LENGTHS = {"default_value": nullable_string, "maximum_length": integer(1, 255), "minimum_length": integer(1, 255)}
_CUSTOM_FIELD = {
    "key": string,
    "label": {"custom": string, "type": enum("custom")},
    "optional": boolean,
    "type": enum("dropdown", "numeric", "text"),
    "text": _LENGTHS,
    "numeric": _LENGTHS,
    "dropdown": {"default_value": nullable_string, "options": params.array_of({"label": string, "value": string})},
}


def _custom_fields(value: Any, param: str) -> list[dict[str, Any]]:
    """``custom_fields``: each with ``key``, ``label`` and ``type``, answered in full as Stripe does."""
    if value == "":
        return []
    out = []
    for i, field in enumerate(params.array_of(_CUSTOM_FIELD)(value, param)):
        name = f"{param}[{i}]"
        for key in ("key", "label", "type"):
            if not field.get(key):
                raise errors.missing_param(f"{name}[{key}]")
        if not field["label"].get("custom"):
            raise errors.missing_param(f"{name}[label][custom]")
        kind = field["type"]
        if kind == "dropdown" and not (field.get("dropdown") or {}).get("options"):
            raise errors.missing_param(f"{name}[dropdown][options]")
        defaults: dict[str, Any] = {"default_value": None}
        if kind == "dropdown":
            defaults["options"] = []
        else:
            defaults |= {"maximum_length": None, "minimum_length": None}
        out.append(
            {
                "key": field["key"],
                "label": {"custom": field["label"]["custom"], "type": "custom"},
                "optional": field.get("optional", False),
                "type": kind,
                kind: defaults | (field.get(kind) or {}),
            }
        )
    return out


def _payment_intent_data(value: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    data = current or {k: None for k in _PAYMENT_INTENT_DATA} | {"metadata": {}}
    data = dict(data)
    for key, item in value.items():
        data[key] = merge_metadata(data["metadata"], item, item is None) if key == "metadata" else item
    return data


def _subscription_data(value: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    data = dict(
        current
        or {
            "description": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": {"type": "self"},
            },
            "metadata": {},
            "trial_period_days": None,
            "trial_settings": None,
        }
    )
    for key, item in value.items():
        if key == "metadata":
            data[key] = merge_metadata(data["metadata"], item, item is None)
        elif key == "invoice_settings":
            data[key] = {**data["invoice_settings"], **(item or {})}
        else:
            data[key] = item
    return data


@family.post("/v1/payment_links")
def create_payment_link(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate(CREATE)
    store = ctx.store
    lines = p.get("line_items")
    if not lines:
        raise errors.missing_param("line_items")
    if len(lines) > MAX_LINE_ITEMS:
        raise errors.invalid(f"You may only specify up to {MAX_LINE_ITEMS} line items.", "line_items")
    plans: list[tuple[dict[str, Any], bool]] = []  # (stored price or checked price_data, whether price_data)
    for i, line in enumerate(lines):
        param = f"line_items[{i}]"
        if "price" in line and "price_data" in line:
            raise errors.invalid("You may only specify one of these parameters: price, price_data.", f"{param}[price]")
        if "quantity" not in line:
            raise errors.missing_param(f"{param}[quantity]")
        if "price" in line:
            price = _stored_price(ctx, line["price"], f"{param}[price]")
            if price["billing_scheme"] == "tiered":
                raise errors.invalid("Payment links only accept per-unit prices.", f"{param}[price]")
            if prices.is_custom(price):
                if len(lines) > 1:
                    raise errors.invalid(
                        "A price with custom_unit_amount must be the only line item on a payment link.", "line_items"
                    )
                _check_custom_line(line["quantity"], line.get("adjustable_quantity"), param)
            plans.append((price, False))
        elif "price_data" in line:
            plans.append((_check_price_data(ctx, line["price_data"] or {}, f"{param}[price_data]"), True))
        else:
            raise errors.missing_param(f"{param}[price]")
    line_currencies = [source["currency"] for source, _ in plans]
    link_currency = line_currencies[0]
    for i, code in enumerate(line_currencies):
        if code != link_currency:
            raise errors.invalid(
                "All prices on a payment link must use the same currency "
                f"(line_items[{i}] is in {code}, line_items[0] in {link_currency}).",
                f"line_items[{i}][price]",
            )
    if p.get("currency") and p["currency"] != link_currency:
        raise errors.invalid(
            f"The currency {p['currency']} is not supported by the prices on this payment link.", "currency"
        )
    recurring = any(source.get("recurring") for source, _ in plans)
    if recurring and "payment_intent_data" in p:
        raise errors.invalid(
            "You can not pass `payment_intent_data` for a payment link with recurring prices.", "payment_intent_data"
        )
    if recurring and "customer_creation" in p:
        raise errors.invalid(
            "`customer_creation` can only be used for payment links without recurring prices.", "customer_creation"
        )
    if not recurring and "subscription_data" in p:
        raise errors.invalid(
            "`subscription_data` can only be used for payment links with recurring prices.", "subscription_data"
        )
    after = _after_completion(p.get("after_completion"))
    adjustables = [
        _adjustable(line.get("adjustable_quantity"), line["quantity"], f"line_items[{i}][adjustable_quantity]")
        for i, line in enumerate(lines)
    ]
    limit = ((p.get("restrictions") or {}).get("completed_sessions") or {}).get("limit")
    if p.get("restrictions") is not None and limit is None:
        raise errors.missing_param("restrictions[completed_sessions][limit]")
    # everything is valid: store
    line_prices = [_create_inline(ctx, source) if inline else source for source, inline in plans]
    items = [
        _item(price, line["quantity"], adjustable, _product_name(ctx, price))
        for line, price, adjustable in zip(lines, line_prices, adjustables, strict=True)
    ]
    invoice = p.get("invoice_creation") or {}
    link = store.build(
        "payment_link",
        active=True,
        after_completion=after,
        allow_promotion_codes=p.get("allow_promotion_codes", False),
        application=None,
        application_fee_amount=None,
        application_fee_percent=None,
        automatic_tax={"enabled": bool((p.get("automatic_tax") or {}).get("enabled")), "liability": None},
        billing_address_collection=p.get("billing_address_collection", "auto"),
        consent_collection=p.get("consent_collection"),
        currency=link_currency,
        custom_fields=p.get("custom_fields") or [],
        custom_text=p.get("custom_text")
        or {"after_submit": None, "shipping_address": None, "submit": None, "terms_of_service_acceptance": None},
        customer_creation=p.get("customer_creation", "if_required"),
        inactive_message=p.get("inactive_message"),
        invoice_creation=None
        if recurring
        else {
            "enabled": bool(invoice.get("enabled")),
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": {"type": "self"},
                "metadata": {},
                "rendering_options": None,
            }
            | (invoice.get("invoice_data") or {}),
        },
        managed_payments=None
        if p.get("managed_payments") is None
        else {"enabled": bool(p["managed_payments"].get("enabled"))},
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        on_behalf_of=None,
        payment_intent_data=None
        if "payment_intent_data" not in p
        else _payment_intent_data(p["payment_intent_data"] or {}),
        payment_method_collection=p.get("payment_method_collection", "always"),
        payment_method_options=p.get("payment_method_options"),
        payment_method_types=p.get("payment_method_types"),
        phone_number_collection={"enabled": bool((p.get("phone_number_collection") or {}).get("enabled"))},
        restrictions=None if limit is None else {"completed_sessions": {"count": 0, "limit": limit}},
        shipping_address_collection=p.get("shipping_address_collection"),
        shipping_options=p.get("shipping_options") or [],
        submit_type=p.get("submit_type", "auto"),
        subscription_data=_subscription_data(p.get("subscription_data") or {}) if recurring else None,
        tax_id_collection={"enabled": False, "required": "never"} | (p.get("tax_id_collection") or {}),
        transfer_data=None,
        url=f"https://buy.stripe.com/test_{_random(20)}",
    )
    store.insert("payment_link", link)
    store.private(link["id"])["line_items"] = items
    ctx.emit("payment_link.created", link)
    return link


@family.get("/v1/payment_links/{id}")
def retrieve_payment_link(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("payment_link", ctx.args["id"])


@family.post("/v1/payment_links/{id}")
def update_payment_link(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    link = store.require("payment_link", ctx.args["id"])
    p = ctx.validate(UPDATE)
    recurring = link["subscription_data"] is not None
    if recurring and "payment_intent_data" in p:
        raise errors.invalid(
            "You can not pass `payment_intent_data` for a payment link with recurring prices.", "payment_intent_data"
        )
    if not recurring and "subscription_data" in p:
        raise errors.invalid(
            "`subscription_data` can only be used for payment links with recurring prices.", "subscription_data"
        )
    items = _items(ctx, link)
    by_id = {item["id"]: item for item in items}
    updates = []
    for i, line in enumerate(p.get("line_items") or []):
        param = f"line_items[{i}]"
        if not line.get("id"):
            raise errors.missing_param(f"{param}[id]")
        item = by_id.get(line["id"])
        if item is None:
            raise errors.invalid(f"No such line item on this payment link: '{line['id']}'", f"{param}[id]")
        quantity = line.get("quantity", item["quantity"])
        adjustable = item["adjustable_quantity"]
        if "adjustable_quantity" in line:
            adjustable = _adjustable(line["adjustable_quantity"], quantity, f"{param}[adjustable_quantity]")
        if prices.is_custom(store.require("price", item["price"])):
            _check_custom_line(quantity, adjustable, param)
        updates.append((item, quantity, adjustable))
    changes: dict[str, Any] = {}
    for key in (
        "active",
        "allow_promotion_codes",
        "billing_address_collection",
        "customer_creation",
        "inactive_message",
        "payment_method_collection",
        "payment_method_types",
        "submit_type",
        "custom_fields",
        "custom_text",
        "consent_collection",
        "shipping_address_collection",
        "shipping_options",
        "payment_method_options",
    ):
        if key in p:
            changes[key] = p[key]
    if "after_completion" in p:
        changes["after_completion"] = _after_completion(p["after_completion"], link["after_completion"])
    if "metadata" in p:
        changes["metadata"] = merge_metadata(link["metadata"], p["metadata"], p["metadata"] is None)
    if "payment_intent_data" in p:
        changes["payment_intent_data"] = _payment_intent_data(
            p["payment_intent_data"] or {}, link["payment_intent_data"]
        )
    if "subscription_data" in p:
        changes["subscription_data"] = _subscription_data(p["subscription_data"] or {}, link["subscription_data"])
    if "restrictions" in p:
        limit = ((p["restrictions"] or {}).get("completed_sessions") or {}).get("limit")
        if p["restrictions"] is not None and limit is None:
            raise errors.missing_param("restrictions[completed_sessions][limit]")
        count = ((link["restrictions"] or {}).get("completed_sessions") or {}).get("count", 0)
        changes["restrictions"] = None if limit is None else {"completed_sessions": {"count": count, "limit": limit}}
    if "phone_number_collection" in p:
        changes["phone_number_collection"] = {"enabled": bool((p["phone_number_collection"] or {}).get("enabled"))}
    if "tax_id_collection" in p:
        changes["tax_id_collection"] = link["tax_id_collection"] | (p["tax_id_collection"] or {})
    if "automatic_tax" in p:
        changes["automatic_tax"] = {"enabled": bool((p["automatic_tax"] or {}).get("enabled")), "liability": None}
    items_changed = False
    for item, quantity, adjustable in updates:
        if (item["quantity"], item["adjustable_quantity"]) != (quantity, adjustable):
            total = prices.amount(store.require("price", item["price"]), quantity)
            item.update(quantity=quantity, adjustable_quantity=adjustable, amount_subtotal=total, amount_total=total)
            items_changed = True
    previous = store.update(link, changes)
    if previous or items_changed:
        ctx.emit("payment_link.updated", link, previous)
    return link


@family.get("/v1/payment_links")
def list_payment_links(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**{k: v for k, v in LIST_SCHEMA.items() if k != "created"}, "active": boolean})
    return ctx.page("payment_link", q, where={"active": q.get("active")})


@family.get("/v1/payment_links/{id}/line_items")
def list_line_items(ctx: Ctx) -> dict[str, Any]:
    link = ctx.store.require("payment_link", ctx.args["id"])
    q = ctx.validate({k: v for k, v in LIST_SCHEMA.items() if k != "created"})
    items = _items(ctx, link)
    ids = [item["id"] for item in items]
    limit = q.get("limit", 10)
    if q.get("starting_after") and q.get("ending_before"):
        raise errors.invalid("You may only specify one of these parameters: ending_before, starting_after.")
    cursor = q.get("starting_after") or q.get("ending_before")
    if cursor is not None and cursor not in ids:
        raise errors.invalid(
            f"No such line item: '{cursor}'",
            "starting_after" if q.get("starting_after") else "ending_before",
            "resource_missing",
        )
    if q.get("starting_after"):
        begin = ids.index(cursor) + 1
        window = items[begin : begin + limit]
        has_more = begin + limit < len(items)
    elif q.get("ending_before"):
        end = ids.index(cursor)
        window = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        window, has_more = items[:limit], len(items) > limit
    return {
        "object": "list",
        "data": [_render(ctx, item) for item in window],
        "has_more": has_more,
        "url": f"/v1/payment_links/{link['id']}/line_items",
    }
