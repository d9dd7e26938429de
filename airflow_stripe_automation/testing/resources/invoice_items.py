"""Invoice items (``/v1/invoiceitems``): create, retrieve, update, delete, list; the lines of invoices.

Also the invoice endpoints that create and delete items: ``/v1/invoices/{id}/add_lines`` and
``/v1/invoices/{id}/remove_lines``. How an item becomes a line and the totals follow is in
:mod:`.invoices` (which does not import this module).

An item is ``amount`` (the total; negative for a credit), or a one-time price
(``pricing[price]``, ``price_data``, or ``unit_amount_decimal``) times ``quantity``. Without
``invoice`` it is pending: it goes on the customer's next subscription invoice, or on an invoice
created with ``pending_invoice_items_behavior=include``. With ``invoice`` (a draft of the same
customer and currency) it becomes a line at once and the invoice's totals follow. As at Stripe,
items on a finalized invoice can no longer be changed or deleted, the ``price`` parameter of old
API versions is unknown (use ``pricing[price]``), and there is no ``invoiceitem.updated`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from .. import billing, currencies, errors
from ..params import (
    LIST_SCHEMA,
    array_of,
    boolean,
    currency,
    enum,
    integer,
    merge_metadata,
    metadata,
    needs,
    nullable_string,
    string,
    unsupported,
)
from ..registry import Ctx, ResourceFamily
from . import invoices, prices

family = ResourceFamily("invoice_items")
family.object_type("invoiceitem", indexes=("customer", "invoice"))


def _amount(value: Any, param: str) -> int:
    number = integer()(value, param)
    if abs(number) > currencies.MAXIMUM_AMOUNT:
        raise errors.invalid(
            f"This value must be between -{currencies.MAXIMUM_AMOUNT} and {currencies.MAXIMUM_AMOUNT}.",
            param,
            "amount_too_large",
        )
    return number


_PERIOD = needs({"start": integer(0), "end": integer(0)}, "end", "start")
_ITEM = {
    "amount": _amount,
    "description": nullable_string,
    "discountable": boolean,
    "discounts": unsupported("discounts: no coupons or promotion codes here"),
    "metadata": metadata,
    "period": _PERIOD,
    "price_data": needs(lambda v, p: v, "currency", "product"),  # checked by prices.check_data
    "pricing": {"price": string},
    "quantity": integer(0),
    "quantity_decimal": unsupported("decimal quantities"),
    "tax_behavior": unsupported("taxes: no tax is computed"),
    "tax_code": unsupported("taxes: no tax is computed"),
    "tax_rates": unsupported("tax rates: no tax is computed, so the totals would be wrong"),
    "unit_amount_decimal": prices.decimal_amount,
}
CREATE = {
    **_ITEM,
    "currency": currency,
    "customer": string,
    "customer_account": unsupported("Accounts v2: customers are v1 Customer objects here"),
    "invoice": string,
    "subscription": string,
}
UPDATE = {**_ITEM, "invoicing_rules": unsupported("invoicing rules")}
LINE = {k: v for k, v in _ITEM.items() if k not in ("tax_behavior", "tax_code", "unit_amount_decimal")}
LINE |= {"invoice_item": string, "tax_amounts": unsupported("tax amounts")}


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def plan_amount(store, p: dict[str, Any], prefix: str = "", currency_code: str | None = None) -> dict[str, Any]:
    """Validate the money part of an item (amount / pricing / price_data / unit_amount_decimal)."""
    given = [k for k in ("amount", "pricing", "price_data", "unit_amount_decimal") if p.get(k) is not None]
    if len(given) > 1:
        names = ", ".join(_name(prefix, k) for k in given)
        raise errors.invalid(f"You may only specify one of these parameters: {names}.", _name(prefix, given[1]))
    if not given:
        raise errors.missing_param(_name(prefix, "amount"))
    quantity = p.get("quantity", 1)
    plan: dict[str, Any] = {"quantity": quantity, "price": None, "price_data": None}
    if given[0] == "amount":
        plan.update(amount=p["amount"], currency=p.get("currency") or currency_code)
    elif given[0] == "unit_amount_decimal":
        total = (p["unit_amount_decimal"] * quantity).to_integral_value(ROUND_HALF_EVEN)
        plan.update(amount=int(total), currency=p.get("currency") or currency_code)
    elif given[0] == "pricing":
        price_id = p["pricing"].get("price")
        if not price_id:
            raise errors.missing_param(_name(prefix, "pricing[price]"))
        price = store.require("price", price_id, _name(prefix, "pricing[price]"))
        prices.check_purchasable(price, _name(prefix, "pricing[price]"), recurring=False)
        plan.update(amount=prices.amount(price, quantity), currency=price["currency"], price=price)
    else:
        data = prices.check_data(store, p["price_data"], _name(prefix, "price_data"), recurring=False)
        unit = data["unit_amount"] if "unit_amount" in data else data["unit_amount_decimal"]  # one is required
        total = (Decimal(unit) * quantity).to_integral_value(ROUND_HALF_EVEN)
        plan.update(amount=int(total), currency=data["currency"], price_data=data)
    if p.get("currency") and plan["currency"] and p["currency"] != plan["currency"]:
        raise errors.invalid(
            f"The currency ({p['currency']}) does not match the price's currency ({plan['currency']}).",
            _name(prefix, "currency"),
        )
    return plan


def _check_period(p: dict[str, Any], prefix: str = "") -> None:
    period = p.get("period")
    if period is None:
        return
    for key in ("start", "end"):
        if period.get(key) is None:
            raise errors.missing_param(_name(prefix, f"period[{key}]"))
    if period["start"] > period["end"]:
        raise errors.invalid("The period start must be before its end.", _name(prefix, "period[start]"))


def _check_target(store, invoice: dict[str, Any], customer: dict[str, Any], code: str, param: str) -> None:
    invoices.check_draft(invoice, param)
    if invoice["customer"] != customer["id"]:
        raise errors.invalid(
            f"The invoice {invoice['id']} belongs to a different customer ({invoice['customer']}).", param
        )
    if code != invoice["currency"]:
        raise errors.invalid(
            f"The currency of the invoice item ({code}) must match the currency of the invoice "
            f"({invoice['currency']}).",
            param,
        )


def _description(plan: dict[str, Any], p: dict[str, Any], store) -> str | None:
    if p.get("description") is not None:
        return p["description"]
    price = plan["price"]
    product_id = price["product"] if price else (plan["price_data"] or {}).get("product")
    product = store.get("product", product_id) if product_id else None
    return product["name"] if product else None


def make(ctx: Ctx, customer: dict[str, Any], plan: dict[str, Any], p: dict[str, Any], subscription: str | None):
    """Create the item a validated plan describes (an inline price first, if ``price_data``)."""
    price = plan["price"]
    if plan["price_data"] is not None:
        price = prices.create_inline(ctx, plan["price_data"])
    return invoices.new_item(
        ctx,
        customer,
        amount=plan["amount"],
        currency_code=plan["currency"],
        quantity=plan["quantity"],
        description=_description(plan, p, ctx.store),
        price=price,
        period=p.get("period"),
        metadata_=p.get("metadata"),
        subscription=subscription,
        discountable=p.get("discountable"),
    )


@family.post("/v1/invoiceitems")
def create_invoice_item(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    p = ctx.validate(CREATE)
    invoice = store.require("invoice", p["invoice"], "invoice") if p.get("invoice") else None
    customer_id = p.get("customer") or (invoice["customer"] if invoice else None)
    if not customer_id:
        raise errors.missing_param("customer")
    customer = store.require("customer", customer_id, "customer")
    default_code = invoice["currency"] if invoice else customer.get("currency") or "usd"
    plan = plan_amount(store, p, currency_code=default_code)
    _check_period(p)
    if invoice is not None:
        _check_target(store, invoice, customer, plan["currency"], "invoice")
    subscription = None
    if p.get("subscription"):
        sub = store.require("subscription", p["subscription"], "subscription")
        if sub["customer"] != customer["id"]:
            raise errors.invalid("The subscription does not belong to this customer.", "subscription")
        subscription = sub["id"]
    item = make(ctx, customer, plan, p, subscription)
    if invoice is not None:
        invoices.attach_item(ctx, invoice, item)
    return item


@family.get("/v1/invoiceitems/{id}")
def retrieve_invoice_item(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("invoiceitem", ctx.args["id"])


def _check_changeable(store, item: dict[str, Any], verb: str) -> None:
    invoice = store.get("invoice", item["invoice"]) if item["invoice"] else None
    if invoice is not None and invoice["status"] != "draft":
        raise errors.invalid(
            f"You can't {verb} an invoice item that is attached to an invoice that is no longer editable "
            f"({invoice['id']} is {invoice['status']}).",
            code="invoice_not_editable",
        )


@family.post("/v1/invoiceitems/{id}")
def update_invoice_item(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    item = store.require("invoiceitem", ctx.args["id"])
    p = ctx.validate(UPDATE)
    _check_changeable(store, item, "update")
    _check_period(p)
    changes: dict[str, Any] = {}
    money = [k for k in ("amount", "pricing", "price_data", "unit_amount_decimal") if p.get(k) is not None]
    if money or "quantity" in p:
        if money:
            plan = plan_amount(store, {**p, "currency": item["currency"]}, currency_code=item["currency"])
        else:  # a new quantity of the same price (or the same unit amount)
            details = item["pricing"].get("price_details") or {}
            price = store.get("price", details.get("price"))
            unit = Decimal(item["pricing"]["unit_amount_decimal"])
            total = prices.amount(price, p["quantity"]) if price else int(unit * p["quantity"])
            plan = {"amount": total, "quantity": p["quantity"], "price": price, "price_data": None}
        price = plan["price"]
        if plan["price_data"] is not None:
            price = prices.create_inline(ctx, plan["price_data"])
        changes.update(
            amount=plan["amount"],
            net_amount=plan["amount"],
            quantity=plan["quantity"],
            quantity_decimal=str(plan["quantity"]),
            pricing=invoices._pricing(price, invoices._unit_text(plan["amount"], plan["quantity"], price)),
        )
    for key in ("description", "discountable", "period"):
        if key in p:
            changes[key] = p[key]
    if "metadata" in p:
        changes["metadata"] = merge_metadata(item["metadata"], p["metadata"], p["metadata"] is None)
    if store.update(item, changes) and item["invoice"]:
        invoices.refresh_item(ctx, item)
    return item


@family.delete("/v1/invoiceitems/{id}")
def delete_invoice_item(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    item = store.require("invoiceitem", ctx.args["id"])
    ctx.validate({})
    _check_changeable(store, item, "delete")
    return invoices.delete_item(ctx, item)


@family.get("/v1/invoiceitems")
def list_invoice_items(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate(
        {**LIST_SCHEMA, "customer": string, "customer_account": string, "invoice": string, "pending": boolean}
    )
    predicate: Callable[[dict[str, Any]], bool] | None = None
    if "pending" in q:
        pending = q["pending"]

        def matches(item: dict[str, Any]) -> bool:
            return (item["invoice"] is None) == pending

        predicate = matches
    return ctx.page(
        "invoiceitem", q, where={"customer": q.get("customer"), "invoice": q.get("invoice")}, predicate=predicate
    )


# -- add_lines / remove_lines on invoices ---------------------------------------------------------------


def check_line(store, invoice: dict[str, Any], customer: dict[str, Any], line: dict[str, Any], prefix: str):
    """Validate one ``lines[i]`` of ``add_lines``; what :func:`apply_line` will do."""
    if line.get("invoice_item"):
        others = set(line) - {"invoice_item", "metadata", "description", "discountable", "period"}
        if others:
            raise errors.invalid(
                f"{prefix}[invoice_item] cannot be combined with {prefix}[{min(others)}].", f"{prefix}"
            )
        item = store.require("invoiceitem", line["invoice_item"], f"{prefix}[invoice_item]")
        if item["invoice"] is not None or item["customer"] != customer["id"]:
            raise errors.invalid(
                f"The invoice item {item['id']} is not a pending invoice item of this customer.",
                f"{prefix}[invoice_item]",
            )
        if item["currency"] != invoice["currency"]:
            raise errors.invalid("The currency of the invoice item must match the invoice.", f"{prefix}[invoice_item]")
        return {"existing": item, "params": line}
    plan = plan_amount(store, line, prefix, currency_code=invoice["currency"])
    _check_period(line, prefix)
    _check_target(store, invoice, customer, plan["currency"], prefix)
    return {"plan": plan, "params": line}


def apply_line(ctx: Ctx, invoice: dict[str, Any], customer: dict[str, Any], planned: dict[str, Any]) -> None:
    line = planned["params"]
    item = planned.get("existing")
    if item is None:
        item = make(ctx, customer, planned["plan"], line, billing.subscription_of(invoice))
    else:
        changes = {k: line[k] for k in ("description", "discountable", "period") if k in line}
        if "metadata" in line:
            changes["metadata"] = merge_metadata(item["metadata"], line["metadata"], line["metadata"] is None)
        ctx.store.update(item, changes)
    invoices.attach_item(ctx, invoice, item)


@family.post("/v1/invoices/{id}/add_lines")
def add_lines(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate({"lines": array_of(LINE), "invoice_metadata": metadata})
    invoices.check_draft(invoice)
    if not p.get("lines"):
        raise errors.missing_param("lines")
    customer = store.require("customer", invoice["customer"], "customer")
    plans = [check_line(store, invoice, customer, line, f"lines[{i}]") for i, line in enumerate(p["lines"])]
    for plan in plans:
        apply_line(ctx, invoice, customer, plan)
    _apply_invoice_metadata(ctx, invoice, p)
    return invoices.respond(ctx, invoice)


def _apply_invoice_metadata(ctx: Ctx, invoice: dict[str, Any], p: dict[str, Any]) -> None:
    """``invoice_metadata`` of add_lines / remove_lines: merged into the invoice's metadata."""
    if "invoice_metadata" in p:
        merged = merge_metadata(invoice["metadata"], p["invoice_metadata"], p["invoice_metadata"] is None)
        previous = ctx.store.update(invoice, {"metadata": merged})
        if previous:
            ctx.emit("invoice.updated", invoice, previous)


@family.post("/v1/invoices/{id}/remove_lines")
def remove_lines(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate(
        {"lines": array_of({"id": string, "behavior": enum("delete", "unassign")}), "invoice_metadata": metadata}
    )
    invoices.check_draft(invoice)
    if not p.get("lines"):
        raise errors.missing_param("lines")
    targets = []
    for i, line in enumerate(p["lines"]):
        for key in ("id", "behavior"):
            if not line.get(key):
                raise errors.missing_param(f"lines[{i}][{key}]")
        found = next((x for x in invoices.lines_of(store, invoice) if x["id"] == line["id"]), None)
        details = ((found or {}).get("parent") or {}).get("invoice_item_details") or {}
        item = store.get("invoiceitem", details.get("invoice_item"))
        if found is None or item is None:
            raise errors.invalid(f"No such line item on this invoice: '{line['id']}'", f"lines[{i}][id]")
        targets.append((item, line["behavior"]))
    for item, behavior in targets:
        if behavior == "delete":
            invoices.delete_item(ctx, item)
        else:
            invoices.detach_item(ctx, item)
    _apply_invoice_metadata(ctx, invoice, p)
    return invoices.respond(ctx, invoice)
