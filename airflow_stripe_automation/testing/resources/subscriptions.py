"""Subscriptions: create, retrieve, update, cancel, list, search, and their billing over time.

Create (``customer``, ``items[i][price|price_data]`` + ``quantity``, ``collection_method``,
``days_until_due``, ``default_payment_method``, ``payment_behavior``, ``trial_period_days`` /
``trial_end`` / ``trial_from_plan``, ``cancel_at_period_end``, ``cancel_at``,
``add_invoice_items``, ``metadata``...) makes the first invoice (``billing_reason``
``subscription_create``) with the customer's pending invoice items. For ``charge_automatically``
it is finalized in the request and, unless ``payment_behavior=default_incomplete``, paid on-session
with the subscription's or the customer's default payment method: paid -> ``active``; declined ->
``incomplete`` (``invoice.payment_failed``; with ``error_if_incomplete`` a 402 and nothing
created); after 23 hours unpaid -> the invoice is voided and the subscription
``incomplete_expired``. A trial starts ``trialing`` with a $0 invoice. ``send_invoice``
subscriptions are ``active`` at once; their first invoice is finalized and sent an hour later.

Items carry ``current_period_start/end`` (as in the current API). When the server clock passes
``current_period_end`` the subscription renews: a ``subscription_cycle`` draft invoice for the new
period (plus pending items), finalized an hour later and charged off-session (or sent); a failure
-> ``past_due`` and Stripe's retries (see :mod:`..billing`), after the last one the subscription
is canceled (``cancellation_details.reason=payment_failed``); a ``send_invoice`` invoice unpaid
at its due date -> ``past_due``. ``cancel_at_period_end`` / ``cancel_at`` end it then
(``customer.subscription.deleted``). Periods follow the calendar from the billing cycle anchor
(Jan 31 -> Feb 28 -> Mar 31), yearly prices renew yearly. ``customer.subscription.trial_will_end``
comes three days before a trial ends.

This module registers the time-based tasks of subscriptions (renewal, ``cancel_at``, the trial
notice, the expiry of an unpaid first invoice) with the billing engine (:mod:`..billing`); the
status changes that follow invoices (paid, failed, voided, overdue) are the engine's.

Not supported (400 naming the parameter): changing ``items`` (prorations), pausing, billing cycle
anchors, backdating, discounts, taxes, Connect fields. Items must share currency and interval
(Stripe's classic billing mode rule; flexible mode would allow mixed intervals).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .. import billing, currencies, errors, search
from ..params import (
    LIST_SCHEMA,
    anything,
    array_of,
    boolean,
    currency,
    enum,
    in_range,
    integer,
    merge_metadata,
    metadata,
    needs,
    nullable_string,
    string,
    timestamp_range,
    unsupported,
)
from ..registry import Ctx, ResourceFamily
from ..templates import clone
from . import invoice_items, invoices, payment_methods, prices

family = ResourceFamily("subscriptions")
family.object_type("subscription", indexes=("customer", "status"), embeds=("items",))
family.object_type("subscription_item", indexes=("subscription",))

INCOMPLETE_EXPIRY = 23 * 3600
TRIAL_WILL_END = 3 * 86400
STATUSES = ("active", "canceled", "incomplete", "incomplete_expired", "past_due", "paused", "trialing", "unpaid")
SEARCH_FIELDS = {"created": "number", "metadata": "metadata", "status": "token"}


# -- calendar -------------------------------------------------------------------------------------


def add_interval(anchor: int, interval: str, count: int, n: int) -> int:
    """The ``n``-th period boundary after ``anchor`` (calendar months, clamped to the month's end)."""
    if interval == "day":
        return anchor + 86400 * count * n
    if interval == "week":
        return anchor + 7 * 86400 * count * n
    months = count * n * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return int(start.replace(year=year, month=month + 1, day=day).timestamp())


def _boundary(store, sub: dict[str, Any], k: int) -> int:
    state = store.private(sub["id"])
    return add_interval(sub["billing_cycle_anchor"], state["interval"], state["interval_count"], k)


def period_end(sub: dict[str, Any]) -> int:
    return sub["items"]["data"][0]["current_period_end"]


def period_start(sub: dict[str, Any]) -> int:
    return sub["items"]["data"][0]["current_period_start"]


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%-d %b %Y")


# -- parameters -----------------------------------------------------------------------------------


def _trial_end(value: Any, param: str) -> int | str:
    if value == "now":
        return "now"
    return integer(0)(value, param)


def _cancel_at(value: Any, param: str) -> int | str | None:
    if value == "":
        return None
    if value in ("min_period_end", "max_period_end"):
        return value
    return integer(0)(value, param)


_ITEM = {
    "price": string,
    "plan": string,
    "price_data": lambda v, p: v,
    "quantity": integer(0),
    "metadata": metadata,
    "billing_thresholds": unsupported("usage thresholds: no metered billing here"),
    "current_trial": unsupported("trial offers"),
    "discounts": unsupported("discounts: no coupons or promotion codes here"),
    "tax_rates": unsupported("tax rates: no tax is computed, so the totals would be wrong"),
}
_ADD_ITEM = {
    "price": string,
    "price_data": lambda v, p: v,
    "quantity": integer(1),
    "metadata": metadata,
    "discountable": boolean,
    "discounts": unsupported("discounts: no coupons or promotion codes here"),
    "period": unsupported("invoice item periods"),
    "tax_rates": unsupported("tax rates: no tax is computed, so the totals would be wrong"),
}
_INVOICE_SETTINGS = {
    "account_tax_ids": unsupported("tax ids"),
    "custom_fields": anything,
    "description": nullable_string,
    "footer": nullable_string,
    "issuer": anything,
}
_COMMON = {
    "application_fee_percent": unsupported("Connect: no connected accounts here"),
    "automatic_tax": needs({"enabled": boolean, "liability": anything}, "enabled"),
    "billing_schedules": unsupported("prebilling"),
    "billing_thresholds": unsupported("usage thresholds: no metered billing here"),
    "cancel_at": _cancel_at,
    "cancel_at_period_end": boolean,
    "collection_method": enum("charge_automatically", "send_invoice"),
    "days_until_due": integer(0, 3650),
    "default_payment_method": nullable_string,
    "default_source": unsupported("sources: use payment methods"),
    "default_tax_rates": unsupported("tax rates: no tax is computed, so the totals would be wrong"),
    "description": nullable_string,
    "discounts": unsupported("discounts: no coupons or promotion codes here"),
    "invoice_settings": _INVOICE_SETTINGS,
    "metadata": metadata,
    "off_session": boolean,
    "on_behalf_of": unsupported("Connect: no connected accounts here"),
    "payment_behavior": enum("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"),
    "payment_settings": anything,
    "pending_invoice_item_interval": unsupported("pending invoice item intervals"),
    "proration_behavior": enum("always_invoice", "create_prorations", "none"),
    "transfer_data": unsupported("Connect: no connected accounts here"),
    "trial_end": _trial_end,
    "trial_from_plan": boolean,
    "trial_settings": needs(
        {
            "end_behavior": needs(
                {
                    "billing_cycle_anchor": enum("now", "unchanged"),
                    "missing_payment_method": enum("cancel", "create_invoice", "pause"),
                },
                "missing_payment_method",
            )
        },
        "end_behavior",
    ),
}
CREATE = {
    **_COMMON,
    "add_invoice_items": array_of(_ADD_ITEM),
    "backdate_start_date": unsupported("backdating"),
    "billing_cycle_anchor": unsupported("billing cycle anchors: periods run from the start or the trial end"),
    "billing_cycle_anchor_config": unsupported("billing cycle anchors: periods run from the start or the trial end"),
    "billing_mode": needs({"type": enum("classic", "flexible"), "flexible": anything}, "type"),
    "currency": currency,
    "customer": string,
    "customer_account": unsupported("Accounts v2: customers are v1 Customer objects here"),
    "items": array_of(_ITEM),
    "trial_period_days": integer(0, 730),
}
UPDATE = {
    **_COMMON,
    "add_invoice_items": unsupported("adding invoice items on update"),
    "billing_cycle_anchor": unsupported("billing cycle anchors: periods run from the start or the trial end"),
    "cancellation_details": {"comment": nullable_string, "feedback": nullable_string, "feedback_option": anything},
    "items": unsupported("changing subscription items (prorations)"),
    "pause_collection": unsupported("pausing subscriptions"),
    "proration_date": integer(0),
}
_FEEDBACK = enum("customer_service", "low_quality", "missing_features", "other", "switched_service", "too_complex",
                 "too_expensive", "unused", nullable=True)  # fmt: skip


def _check_cancellation_details(details: dict[str, Any] | None, prefix: str = "cancellation_details") -> None:
    if details and details.get("feedback") is not None:
        _FEEDBACK(details["feedback"], f"{prefix}[feedback]")
    if details and details.get("feedback_option") is not None:
        raise errors.invalid("The local Stripe server does not support feedback options.", f"{prefix}[feedback_option]")


def _trial_anchor(p: dict[str, Any]) -> str | None:
    """``trial_settings[end_behavior][billing_cycle_anchor]`` as sent (the anchor is the trial's end either way here)."""
    return ((p.get("trial_settings") or {}).get("end_behavior") or {}).get("billing_cycle_anchor")


# -- objects --------------------------------------------------------------------------------------


def _plan(price: dict[str, Any]) -> dict[str, Any]:
    recurring = price["recurring"]
    return {
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "id": price["id"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": None,
        "nickname": price["nickname"],
        "object": "plan",
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": clone(price["transform_quantity"]),
        "trial_period_days": recurring["trial_period_days"],
        "usage_type": recurring["usage_type"],
    }


def _customer_pm(store, customer: dict[str, Any], sub: dict[str, Any] | None, explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if sub is not None and sub.get("default_payment_method"):
        return sub["default_payment_method"]
    return (customer.get("invoice_settings") or {}).get("default_payment_method")


def _plan_items(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate ``items``: the price (or price_data) and quantity of each, all of one currency and interval."""
    store = ctx.store
    items = p.get("items")
    if not items:
        raise errors.missing_param("items")
    if len(items) > 20:
        raise errors.invalid("A subscription can have at most 20 items.", "items")
    planned = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = f"items[{i}]"
        ref = item.get("price") or item.get("plan")
        if ref and item.get("price_data"):
            raise errors.invalid(
                f"You may only specify one of these parameters: {name}[price], {name}[price_data].", f"{name}[price]"
            )
        if ref:
            param = f"{name}[price]" if item.get("price") else f"{name}[plan]"
            price = store.require("price", ref, param)
            prices.check_purchasable(price, param, recurring=True)
            if price["id"] in seen:
                raise errors.invalid("Cannot add multiple subscription items with the same price.", param)
            seen.add(price["id"])
            planned.append({"price": price, "data": None, "quantity": item.get("quantity", 1), "item": item})
        elif item.get("price_data") is not None:
            data = prices.check_data(store, item["price_data"], f"{name}[price_data]", recurring=True)
            planned.append({"price": None, "data": data, "quantity": item.get("quantity", 1), "item": item})
        else:
            raise errors.missing_param(f"{name}[price]")
    shapes = set()
    for entry in planned:
        source = entry["price"] or entry["data"]
        recurring = source["recurring"]
        shapes.add((source["currency"], recurring["interval"], recurring.get("interval_count", 1)))
    if len({s[0] for s in shapes}) > 1:
        raise errors.invalid("Currency and interval fields must match across all plans on this subscription.", "items")
    if len(shapes) > 1:
        raise errors.invalid(
            "Currency and interval fields must match across all plans on this subscription (the local Stripe "
            "server does not support mixed intervals).",
            "items",
        )
    return planned


def _plan_add_items(ctx: Ctx, p: dict[str, Any], code: str) -> list[dict[str, Any]]:
    planned = []
    for i, item in enumerate(p.get("add_invoice_items") or []):
        name = f"add_invoice_items[{i}]"
        if item.get("price") and item.get("price_data"):
            raise errors.invalid(
                f"You may only specify one of these parameters: {name}[price], {name}[price_data].", f"{name}[price]"
            )
        params = {"quantity": item.get("quantity", 1), "metadata": item.get("metadata")}
        if item.get("price"):
            params["pricing"] = {"price": item["price"]}
        elif item.get("price_data") is not None:
            params["price_data"] = item["price_data"]
        else:
            raise errors.missing_param(f"{name}[price]")
        plan = invoice_items.plan_amount(ctx.store, params, name, code)
        if plan["currency"] != code:
            raise errors.invalid("The currency of the invoice item must match the subscription's currency.", name)
        planned.append({"plan": plan, "params": {**params, "discountable": item.get("discountable")}})
    return planned


def _first_amount(planned, add_items, pending, trial: bool, customer: dict[str, Any]) -> int:
    """What the first invoice will ask for (to refuse an ``error_if_incomplete`` payment up front)."""
    total = 0
    for entry in [] if trial else planned:
        if entry["price"] is not None:
            total += prices.amount(entry["price"], entry["quantity"])
        else:
            unit = entry["data"].get("unit_amount", entry["data"].get("unit_amount_decimal"))
            total += int(Decimal(unit) * entry["quantity"])
    total += sum(a["plan"]["amount"] for a in add_items) + sum(i["amount"] for i in pending)
    due = max(total, 0) and max(total + (customer.get("balance") or 0), 0)
    minimum = currencies.MINIMUM_AMOUNT.get(customer.get("currency") or "usd", 0)
    return 0 if due < minimum else due


def _check_payment(store, customer, pm_ref, behavior: str, amount: int, off_session: bool) -> None:
    """``error_if_incomplete``: refuse (402 / 400) a first payment that cannot succeed, creating nothing."""
    if behavior != "error_if_incomplete" or amount <= 0:
        return
    if pm_ref is None:
        raise errors.invalid(billing.NO_PAYMENT_METHOD)
    card = payment_methods.check_usable(store, pm_ref, customer["id"], "default_payment_method")
    if card.behaviour in ("decline", "decline_charges"):
        assert card.code is not None and card.message is not None  # every declining card in CARDS has both
        raise errors.card_error(card.code, card.message, card.decline_code)
    if card.behaviour == "authenticate":
        if off_session:
            raise errors.card_error(
                "authentication_required", "Your card was declined. This transaction requires authentication.",
                "authentication_required",
            )  # fmt: skip
        raise errors.StripeError(
            402,
            "card_error",
            "Payment for this subscription requires additional user action before it can be completed "
            "successfully. Payment can be completed using the PaymentIntent associated with "
            "`subscription.latest_invoice`. Additional information is available here: "
            "https://docs.stripe.com/billing/subscriptions/overview#requires-action",
            code="subscription_payment_intent_requires_action",
        )


def _sub_line(store, invoice, sub, item, start: int, end: int, trial: bool) -> dict[str, Any]:
    price = item["price"]
    product = store.get("product", price["product"])
    if trial:
        description = f"Trial period for {product['name'] if product else price['product']}"
        amount = 0
    else:
        description = prices.line_description(price, product, item["quantity"])
        amount = prices.amount(price, item["quantity"])
    return invoices.new_line(
        store,
        invoice,
        amount=amount,
        description=description,
        quantity=item["quantity"],
        period={"end": end, "start": start},
        price=price,
        metadata_=item["metadata"],
        subscription=sub["id"],
        subscription_item=item["id"],
    )


def _sub_invoice(ctx: Ctx, sub: dict[str, Any], customer: dict[str, Any], reason: str, *, trial: bool = False,
                 period: tuple[int, int], auto_advance: bool, finalizes_at: int | None = None) -> dict[str, Any]:  # fmt: skip
    store = ctx.store
    settings = sub["invoice_settings"]
    invoice = invoices.build(
        ctx,
        customer,
        currency_code=sub["currency"],
        billing_reason=reason,
        collection_method=sub["collection_method"],
        auto_advance=auto_advance,
        days_until_due=sub["days_until_due"],
        description=settings.get("description"),
        footer=settings.get("footer"),
        custom_fields=settings.get("custom_fields"),
        subscription=sub,
        period=period,
        automatically_finalizes_at=finalizes_at,
    )
    start, end = period_start(sub), period_end(sub)
    for item in sub["items"]["data"]:
        invoices.lines_of(store, invoice).append(_sub_line(store, invoice, sub, item, start, end, trial))
    invoices.pull_pending(ctx, invoice, invoices.pending_items(store, customer["id"], sub["id"], unscoped=True))
    return invoice


# -- create ---------------------------------------------------------------------------------------


@family.post("/v1/subscriptions")
def create_subscription(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    p = ctx.validate(CREATE)
    if not p.get("customer"):
        raise errors.missing_param("customer")
    customer = store.require("customer", p["customer"], "customer")
    planned = _plan_items(ctx, p)
    source = planned[0]["price"] or planned[0]["data"]
    code = source["currency"]
    if p.get("currency") and p["currency"] != code:
        raise errors.invalid(f"The currency {p['currency']} does not match the prices' currency ({code}).", "currency")
    recurring = source["recurring"]
    interval, count = recurring["interval"], recurring.get("interval_count", 1)
    collection = p.get("collection_method", "charge_automatically")
    days = p.get("days_until_due")
    if collection == "send_invoice":
        if days is None:
            raise errors.missing_param("days_until_due")
        if not customer.get("email"):
            raise errors.invalid(billing.MISSING_EMAIL, "collection_method")
    elif days is not None:
        raise errors.invalid(
            "`days_until_due` can only be set when `collection_method` is `send_invoice`.", "days_until_due"
        )
    if (p.get("automatic_tax") or {}).get("enabled"):
        raise errors.invalid("The local Stripe server does not support automatic tax.", "automatic_tax[enabled]")
    behavior = p.get("payment_behavior", "allow_incomplete")
    if behavior == "pending_if_incomplete":
        raise errors.invalid(
            "payment_behavior=pending_if_incomplete is only supported when updating a subscription.",
            "payment_behavior",
        )
    end_behavior = ((p.get("trial_settings") or {}).get("end_behavior") or {}).get("missing_payment_method")
    if end_behavior in ("cancel", "pause"):
        raise errors.invalid(
            "The local Stripe server only supports trial_settings[end_behavior][missing_payment_method]=create_invoice.",
            "trial_settings[end_behavior][missing_payment_method]",
        )
    invoices.check_payment_method_of(store, customer["id"], p.get("default_payment_method"), "default_payment_method")
    now = store.now()
    trial_end = None
    if p.get("trial_end") not in (None, "now"):
        trial_end = p["trial_end"]
        if trial_end <= now:
            raise errors.invalid("Invalid timestamp: trial_end must be in the future.", "trial_end")
        if trial_end > now + 730 * 86400:
            raise errors.invalid("trial_end can be at most two years in the future.", "trial_end")
    elif p.get("trial_end") is None:
        days_trial = p.get("trial_period_days")
        if days_trial is None and p.get("trial_from_plan"):
            days_trial = recurring.get("trial_period_days")
        if days_trial:
            trial_end = now + days_trial * 86400
    cancel_at = p.get("cancel_at")
    if isinstance(cancel_at, int) and cancel_at <= now:
        raise errors.invalid("cancel_at must be in the future.", "cancel_at")
    if cancel_at is not None and p.get("cancel_at_period_end"):
        raise errors.invalid(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.", "cancel_at"
        )
    add_items = _plan_add_items(ctx, p, code)
    pending = invoices.pending_items(store, customer["id"], None, unscoped=True)
    pending = [i for i in pending if i["currency"] == code]
    pm_ref = _customer_pm(store, customer, None, p.get("default_payment_method"))
    off_session = p.get("off_session", False)
    first_due = _first_amount(planned, add_items, pending, trial_end is not None, customer)
    if first_due > currencies.MAXIMUM_AMOUNT:
        raise errors.invalid(
            f"The first invoice of this subscription ({first_due}) would exceed the maximum amount "
            f"({currencies.MAXIMUM_AMOUNT}).",
            "items",
            "amount_too_large",
        )
    if collection == "charge_automatically":
        _check_payment(store, customer, pm_ref, behavior, first_due, off_session)

    # -- everything is valid: build --
    sub_id = store.new_id("subscription")
    anchor = trial_end or now
    first_end = trial_end or add_interval(anchor, interval, count, 1)
    if cancel_at == "min_period_end" or cancel_at == "max_period_end":
        cancel_at = first_end
    items = []
    for entry in planned:
        price = entry["price"] or prices.create_inline(ctx, entry["data"])
        item = store.build(
            "subscription_item",
            created=now,
            discounts=[],
            metadata={k: v for k, v in (entry["item"].get("metadata") or {}).items() if v != ""},
            price=clone(price),
            quantity=entry["quantity"],
            subscription=sub_id,
            tax_rates=[],
            plan=_plan(price),
            current_period_end=first_end,
            current_period_start=now,
            billing_thresholds=None,
        )
        items.append(item)
    settings = p.get("invoice_settings") or {}
    if trial_end is not None:
        status = "trialing"
    elif collection == "send_invoice":
        status = "active"
    else:
        status = "incomplete"
    sub = store.build(
        "subscription",
        id=sub_id,
        application=None,
        application_fee_percent=None,
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        billing_cycle_anchor=anchor,
        billing_cycle_anchor_config=None,
        cancel_at=cancel_at if cancel_at is not None else (first_end if p.get("cancel_at_period_end") else None),
        canceled_at=now if (cancel_at is not None or p.get("cancel_at_period_end")) else None,
        cancellation_details={"comment": None, "feedback": None, "feedback_option": None, "reason": None},
        collection_method=collection,
        currency=code,
        customer=customer["id"],
        days_until_due=days,
        default_payment_method=p.get("default_payment_method"),
        default_source=None,
        default_tax_rates=[],
        description=p.get("description"),
        discounts=[],
        ended_at=None,
        invoice_settings={
            "account_tax_ids": None,
            "custom_fields": settings.get("custom_fields"),
            "description": settings.get("description"),
            "footer": settings.get("footer"),
            "issuer": {"type": "self"},
        },
        items={
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        latest_invoice=None,
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        next_pending_invoice_item_invoice=None,
        on_behalf_of=None,
        pause_collection=None,
        payment_settings={
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        pending_invoice_item_interval=None,
        pending_setup_intent=None,
        pending_update=None,
        schedule=None,
        start_date=now,
        status=status,
        test_clock=customer.get("test_clock"),
        transfer_data=None,
        trial_end=trial_end,
        trial_settings={
            "end_behavior": {
                "billing_cycle_anchor": _trial_anchor(p),
                "missing_payment_method": end_behavior or "create_invoice",
            }
        },
        trial_start=now if trial_end is not None else None,
        cancel_at_period_end=bool(p.get("cancel_at_period_end")),
        billing_thresholds=None,
        billing_mode={
            "type": (p.get("billing_mode") or {}).get("type", "flexible"),
            "flexible": {"proration_discounts": "included"}
            if (p.get("billing_mode") or {}).get("type", "flexible") == "flexible"
            else None,
            "updated_at": now,
        },
        customer_account=None,
        managed_payments={"enabled": False},
        billing_schedules=[],
    )
    store.private(sub_id).update(interval=interval, interval_count=count, cycle=0 if trial_end else 1)
    store.insert("subscription", sub)
    for item in items:
        store.insert("subscription_item", item)
    automatic_first = collection == "charge_automatically"
    invoice = _sub_invoice(
        ctx,
        sub,
        customer,
        "subscription_create",
        trial=trial_end is not None,
        period=(now, now),
        auto_advance=True,
        finalizes_at=None if automatic_first else now + billing.AUTO_FINALIZE_DELAY,
    )
    sub["latest_invoice"] = invoice["id"]  # created together: the first event already names it
    ctx.emit("customer.subscription.created", sub)
    for planned_item in add_items:
        item = invoice_items.make(ctx, customer, planned_item["plan"], planned_item["params"], sub_id)
        store.update(item, {"invoice": invoice["id"]})
        invoices.lines_of(store, invoice).append(invoices.item_line(store, invoice, item))
    invoices.insert(ctx, invoice)
    _schedule_periods(store, sub)
    if automatic_first:
        billing.check_finalizable(store, invoice)
        billing.finalize(ctx, invoice)
        if invoice["status"] == "open" and behavior != "default_incomplete":
            billing.automatic_attempt(ctx, invoice, off_session=off_session)
        if sub["status"] == "incomplete":
            billing.schedule(store, now + INCOMPLETE_EXPIRY, "subscription.expire", sub_id)
    return respond(ctx, sub)


def _schedule_periods(store, sub: dict[str, Any]) -> None:
    billing.schedule(store, period_end(sub), "subscription.period_end", sub["id"])
    if sub["cancel_at"] is not None and sub["cancel_at"] != period_end(sub):
        billing.schedule(store, sub["cancel_at"], "subscription.cancel_at", sub["id"])
    if sub["status"] == "trialing" and sub["trial_end"] and sub["trial_end"] - TRIAL_WILL_END > store.now():
        billing.schedule(store, sub["trial_end"] - TRIAL_WILL_END, "subscription.trial_will_end", sub["id"])


def respond(ctx: Ctx, sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription, with ``latest_invoice`` already expanded when an includable of it is asked for."""
    wanted = [p for p in ctx.expand if p.startswith(("latest_invoice.payments", "latest_invoice.confirmation_secret"))]
    if not wanted or not sub["latest_invoice"]:
        return sub
    invoice = ctx.store.get("invoice", sub["latest_invoice"]) or ctx.store.lookup(sub["latest_invoice"])
    if invoice is None:
        return sub
    return {**sub, "latest_invoice": invoices.respond(ctx, invoice, "latest_invoice.")}


# -- time (tasks the billing engine runs when the server clock passes them) ---------------------------


@billing.task("subscription.period_end")
def _period_end(ctx: Ctx, sub_id: str, when: int) -> None:
    store = ctx.store
    sub = store.get("subscription", sub_id)
    if sub is None or sub["status"] in billing.ENDED or sub["status"] == "incomplete" or period_end(sub) != when:
        return
    if sub["cancel_at"] is not None and sub["cancel_at"] <= when:
        billing.end_subscription(ctx, sub, "cancellation_requested")
        return
    customer = store.get("customer", sub["customer"])
    if customer is None:
        return
    state = store.private(sub_id)
    state["cycle"] += 1
    start, new_end = when, _boundary(store, sub, state["cycle"])
    old_start = period_start(sub)
    old_items = clone(sub["items"])
    for item in sub["items"]["data"]:
        store.update(item, {"current_period_start": start, "current_period_end": new_end})
    invoice = _sub_invoice(ctx, sub, customer, "subscription_cycle", period=(old_start, when), auto_advance=True)
    invoices.insert(ctx, invoice)
    changes: dict[str, Any] = {"latest_invoice": invoice["id"]}
    if sub["status"] == "trialing":
        changes["status"] = "active"
    previous = store.update(sub, changes)
    previous["items"] = {"data": old_items["data"]}
    ctx.emit("customer.subscription.updated", sub, previous)
    _schedule_periods(store, sub)


@billing.task("subscription.cancel_at")
def _cancel_at_task(ctx: Ctx, sub_id: str, when: int) -> None:
    sub = ctx.store.get("subscription", sub_id)
    if sub is not None and sub["status"] not in billing.ENDED and sub["cancel_at"] == when:
        billing.end_subscription(ctx, sub, "cancellation_requested")


@billing.task("subscription.trial_will_end")
def _trial_will_end(ctx: Ctx, sub_id: str, when: int) -> None:
    sub = ctx.store.get("subscription", sub_id)
    if sub is not None and sub["status"] == "trialing" and sub["trial_end"] == when + TRIAL_WILL_END:
        ctx.emit("customer.subscription.trial_will_end", sub)


@billing.task("subscription.expire")
def _expire(ctx: Ctx, sub_id: str, when: int) -> None:
    store = ctx.store
    sub = store.get("subscription", sub_id)
    if sub is None or sub["status"] != "incomplete":
        return
    invoice = store.get("invoice", sub["latest_invoice"])
    if invoice is not None and invoice["status"] in ("open", "uncollectible"):
        billing.void(ctx, invoice)  # the engine: a voided first invoice -> incomplete_expired
    if sub["status"] == "incomplete":
        billing.set_subscription_status(ctx, sub, "incomplete_expired", ended_at=store.now(), canceled_at=store.now())


@family.on_store_event
def _price_updated(store, event: dict[str, Any]) -> None:
    """Subscription items embed their price: an archived or renamed price shows there too (no event)."""
    if event["type"] != "price.updated":
        return
    price = store.get("price", event["data"]["object"]["id"])
    if price is None:
        return
    for _, listed in store.scan("subscription_item"):
        if listed["price"]["id"] == price["id"]:
            item = store.require("subscription_item", listed["id"])  # scan() reads; the stored item changes
            item["price"] = clone(price)
            item["plan"] = _plan(price)


@family.on_store_event
def _customer_deleted(store, event: dict[str, Any]) -> None:
    """Deleting a customer cancels their subscriptions at once, as at Stripe."""
    if event["type"] != "customer.deleted":
        return
    ctx = billing.system_ctx(store, event.get("request"))
    found, _ = store.page("subscription", where={"customer": event["data"]["object"]["id"]}, limit=10_000)
    for sub in found:
        if sub["status"] not in billing.ENDED:
            billing.end_subscription(ctx, sub, "cancellation_requested")


# -- endpoints ------------------------------------------------------------------------------------


@family.get("/v1/subscriptions/search")
def search_subscriptions(ctx: Ctx) -> dict[str, Any]:
    return search.run(ctx, "subscription", "subscriptions", SEARCH_FIELDS)


@family.get("/v1/subscriptions/{id}")
def retrieve_subscription(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return respond(ctx, ctx.store.require("subscription", ctx.args["id"]))


@family.post("/v1/subscriptions/{id}")
def update_subscription(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    sub = store.require("subscription", ctx.args["id"])
    p = ctx.validate(UPDATE)
    if sub["status"] in billing.ENDED and set(p) - {"metadata", "cancellation_details"}:
        raise errors.invalid("A canceled subscription can only update its cancellation_details and metadata.")
    _check_cancellation_details(p.get("cancellation_details"))
    if (p.get("automatic_tax") or {}).get("enabled"):
        raise errors.invalid("The local Stripe server does not support automatic tax.", "automatic_tax[enabled]")
    if p.get("trial_end") is not None:
        raise errors.invalid(
            "The local Stripe server does not support changing the trial of an existing subscription.", "trial_end"
        )
    if "trial_from_plan" in p:
        raise errors.invalid("The local Stripe server does not support trial_from_plan on updates.", "trial_from_plan")
    end_behavior = ((p.get("trial_settings") or {}).get("end_behavior") or {}).get("missing_payment_method")
    if end_behavior in ("cancel", "pause"):
        raise errors.invalid(
            "The local Stripe server only supports trial_settings[end_behavior][missing_payment_method]=create_invoice.",
            "trial_settings[end_behavior][missing_payment_method]",
        )
    collection = p.get("collection_method", sub["collection_method"])
    days = p.get("days_until_due", sub["days_until_due"] if collection == "send_invoice" else None)
    if collection == "send_invoice" and days is None:
        raise errors.missing_param("days_until_due")
    if collection != "send_invoice" and p.get("days_until_due") is not None:
        raise errors.invalid(
            "`days_until_due` can only be set when `collection_method` is `send_invoice`.", "days_until_due"
        )
    if collection == "send_invoice" and sub["collection_method"] != "send_invoice":
        customer = store.get("customer", sub["customer"])
        if customer is not None and not customer.get("email"):
            raise errors.invalid(billing.MISSING_EMAIL, "collection_method")
    if p.get("default_payment_method"):
        invoices.check_payment_method_of(store, sub["customer"], p["default_payment_method"], "default_payment_method")
    now = store.now()
    cancel_at = p.get("cancel_at", sub["cancel_at"])
    if cancel_at in ("min_period_end", "max_period_end"):
        cancel_at = period_end(sub)
    if "cancel_at" in p and isinstance(cancel_at, int) and cancel_at <= now:
        raise errors.invalid("cancel_at must be in the future.", "cancel_at")
    if "cancel_at" in p and p.get("cancel_at_period_end"):
        raise errors.invalid(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.", "cancel_at"
        )

    changes: dict[str, Any] = {k: p[k] for k in ("description", "default_payment_method") if k in p}
    if "collection_method" in p:
        changes["collection_method"] = collection
    if "collection_method" in p or "days_until_due" in p:
        changes["days_until_due"] = days if collection == "send_invoice" else None
    if "metadata" in p:
        changes["metadata"] = merge_metadata(sub["metadata"], p["metadata"], p["metadata"] is None)
    if "cancellation_details" in p:
        details = dict(sub["cancellation_details"])
        for key in ("comment", "feedback"):
            if key in (p["cancellation_details"] or {}):
                details[key] = p["cancellation_details"][key]
        changes["cancellation_details"] = details
    if "invoice_settings" in p:
        settings = dict(sub["invoice_settings"])
        for key in ("custom_fields", "description", "footer"):
            if key in (p["invoice_settings"] or {}):
                settings[key] = p["invoice_settings"][key]
        changes["invoice_settings"] = settings
    if "trial_settings" in p and end_behavior:
        changes["trial_settings"] = {
            "end_behavior": {"billing_cycle_anchor": _trial_anchor(p), "missing_payment_method": end_behavior}
        }
    if "cancel_at_period_end" in p:
        flag = p["cancel_at_period_end"]
        changes["cancel_at_period_end"] = flag
        changes["cancel_at"] = period_end(sub) if flag else None
        changes["canceled_at"] = now if flag else None
    elif "cancel_at" in p:
        changes["cancel_at"] = cancel_at
        changes["cancel_at_period_end"] = cancel_at is not None and cancel_at == period_end(sub)
        changes["canceled_at"] = now if cancel_at is not None else None
    previous = store.update(sub, changes)
    if previous:
        ctx.emit("customer.subscription.updated", sub, previous)
        if "cancel_at" in previous and sub["cancel_at"] is not None and sub["cancel_at"] != period_end(sub):
            billing.schedule(store, sub["cancel_at"], "subscription.cancel_at", sub["id"])
    return respond(ctx, sub)


@family.delete("/v1/subscriptions/{id}")
def cancel_subscription(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    sub = store.require("subscription", ctx.args["id"])
    p = ctx.validate(
        {
            "cancellation_details": {
                "comment": nullable_string,
                "feedback": nullable_string,
                "feedback_option": anything,
            },
            "invoice_now": boolean,
            "prorate": boolean,
        }
    )
    _check_cancellation_details(p.get("cancellation_details"))
    if sub["status"] in billing.ENDED:  # as at Stripe: a canceled subscription is not there to cancel
        raise errors.no_such("subscription", sub["id"])
    customer = store.get("customer", sub["customer"])
    now = store.now()
    if p.get("prorate") and customer is not None and sub["status"] in ("active", "past_due"):
        start, stop = period_start(sub), period_end(sub)
        unused = max(stop - now, 0) / max(stop - start, 1)
        for item in sub["items"]["data"]:
            price = item["price"]
            credit = -round(prices.amount(price, item["quantity"]) * unused)
            if credit == 0:
                continue
            product = store.get("product", price["product"])
            name = product["name"] if product else price["product"]
            suffix = f" × {item['quantity']}" if item["quantity"] != 1 else ""
            invoices.new_item(
                ctx,
                customer,
                amount=credit,
                currency_code=sub["currency"],
                quantity=item["quantity"],
                description=f"Unused time on {name}{suffix} after {_date(now)}",
                price=price,
                period={"end": stop, "start": now},
                subscription=sub["id"],
                proration=True,
            )
    details = {k: v for k, v in (p.get("cancellation_details") or {}).items() if k in ("comment", "feedback")}
    store.update(sub, {"canceled_at": now})
    billing.end_subscription(ctx, sub, "cancellation_requested", details)
    if p.get("invoice_now") and customer is not None:
        items = invoices.pending_items(store, customer["id"], sub["id"], unscoped=False)
        if items:
            invoice = invoices.build(
                ctx,
                customer,
                currency_code=sub["currency"],
                billing_reason="subscription_update",
                collection_method=sub["collection_method"],
                days_until_due=sub["days_until_due"],
                subscription=sub,
                period=(period_start(sub), now),
            )
            invoices.pull_pending(ctx, invoice, items)
            invoices.insert(ctx, invoice)
            store.update(sub, {"latest_invoice": invoice["id"]})
            try:
                billing.check_finalizable(store, invoice)
            except errors.StripeError:
                return respond(ctx, sub)
            billing.finalize(ctx, invoice)
            if invoice["status"] == "open" and invoice["collection_method"] == "charge_automatically":
                billing.automatic_attempt(ctx, invoice)
    return respond(ctx, sub)


@family.get("/v1/subscriptions")
def list_subscriptions(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate(
        {
            **LIST_SCHEMA,
            "automatic_tax": needs({"enabled": boolean}, "enabled"),
            "collection_method": enum("charge_automatically", "send_invoice"),
            "current_period_end": lambda v, p: v,
            "current_period_start": lambda v, p: v,
            "customer": string,
            "customer_account": string,
            "plan": string,
            "price": string,
            "status": enum(*STATUSES, "all", "ended"),
            "test_clock": string,
        }
    )
    status = q.get("status")
    checks: list[Callable[[dict[str, Any]], bool]] = []
    where: dict[str, Any] = {"customer": q.get("customer"), "collection_method": q.get("collection_method"),
                             "test_clock": q.get("test_clock")}  # fmt: skip
    if status is None:
        checks.append(lambda s: s["status"] != "canceled")
    elif status == "ended":
        checks.append(lambda s: s["status"] in billing.ENDED)
    elif status != "all":
        where["status"] = status
    wanted = q.get("price") or q.get("plan")
    if wanted:
        checks.append(lambda s: any(i["price"]["id"] == wanted for i in s["items"]["data"]))
    for key in ("current_period_start", "current_period_end"):
        if q.get(key) is not None:
            bounds = timestamp_range(q[key], key)

            def in_period(s: dict[str, Any], key: str = key, bounds: tuple[int | None, int | None] = bounds) -> bool:
                return in_range(s["items"]["data"][0][key], bounds)

            checks.append(in_period)
    if (q.get("automatic_tax") or {}).get("enabled"):
        checks.append(lambda s: s["automatic_tax"]["enabled"])
    predicate = (lambda s: all(check(s) for check in checks)) if checks else None
    return ctx.page("subscription", q, where=where, predicate=predicate)


@family.get("/v1/subscription_items")
def list_subscription_items(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**LIST_SCHEMA, "subscription": string})
    if not q.get("subscription"):
        raise errors.missing_param("subscription")
    ctx.store.require("subscription", q["subscription"], "subscription")
    return ctx.page("subscription_item", q, where={"subscription": q["subscription"]})


@family.get("/v1/subscription_items/{id}")
def retrieve_subscription_item(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("subscription_item", ctx.args["id"])
