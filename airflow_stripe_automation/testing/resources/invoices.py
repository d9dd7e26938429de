"""Invoices: the draft -> open -> paid | void | uncollectible lifecycle, lines, totals, payments, dunning.

Endpoints: create, retrieve, update, delete (one-off drafts), list (``customer``, ``status``,
``subscription``, ``collection_method``, ``created``, ``due_date`` ranges), search, ``finalize``,
``pay``, ``send``, ``void``, ``mark_uncollectible``, ``add_lines`` / ``remove_lines``, ``lines``;
``/v1/invoice_payments``. As at Stripe (API 2026-10-28):

- Lines come from invoice items (see :mod:`.invoice_items`) and subscription items; ``subtotal``,
  ``total``, ``amount_due``, ``amount_paid``, ``amount_remaining`` follow them. The customer's
  ``balance`` is applied at finalization (credit reduces ``amount_due``, a negative total becomes
  credit, an amount below the currency's minimum charge is carried to the balance and the invoice
  is paid).
- ``finalize`` assigns ``number`` (customer prefix + sequence, ``ABCD1234-0001``), the hosted URL
  and PDF, ``due_date`` (finalization + ``days_until_due`` for ``send_invoice``), and creates the
  invoice's PaymentIntent (``invoice.payments``); a $0 invoice is paid at once.
- ``pay`` finalizes a draft first, then confirms that PaymentIntent off-session with
  ``payment_method``, the invoice's, the subscription's or the customer's default payment method.
  A decline is the PaymentIntent's 402 ``card_error``; the invoice stays ``open`` with
  ``attempt_count`` + 1 and ``invoice.payment_failed``. ``paid_out_of_band`` marks it paid without
  a charge. The invoice reacts to its PaymentIntent however it is confirmed (also directly through
  ``/v1/payment_intents/{id}/confirm``).
- Automatic collection (``auto_advance``): a draft is finalized about an hour after creation, then
  charged (``charge_automatically``) or sent (``send_invoice``); failed automatic payments are
  retried 3, 5 and 7 days after the previous attempt (Stripe's default custom retry schedule)
  and a subscription whose last retry fails is canceled. This runs when the server clock moves.
- Every change emits its event (``invoice.created``, ``invoice.finalized``, ``invoice.paid``,
  ``invoice.payment_succeeded``, ``invoice.payment_failed``, ``invoice.payment_action_required``,
  ``invoice.sent``, ``invoice.voided``, ``invoice.marked_uncollectible``, ``invoice.deleted``)
  and ``invoice.updated`` with ``previous_attributes``. Overdue is state, not an event: an
  ``open`` invoice whose ``due_date`` has passed (``invoice.overdue`` needs Billing automations).

Finalization, payment attempts, retries and auto-advance are the billing engine's (:mod:`..billing`);
``add_lines`` / ``remove_lines`` are with invoice items (:mod:`.invoice_items`), which they create and
delete.

Deviations: no taxes, discounts, credit notes, shipping or multi-currency; the top-level
``subscription`` key (in Stripe's fixture, no longer in the API) stays null: use
``parent.subscription_details.subscription`` or the lines' ``subscription``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import billing, errors, search
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
    statement_descriptor,
    string,
    timestamp_range,
    unsupported,
)
from ..registry import Ctx, ResourceFamily
from ..templates import clone, fixture
from . import payment_methods, prices

family = ResourceFamily("invoices")
family.object_type("invoice", indexes=("customer", "status"), ranges=("due_date",))
family.object_type("line_item", prefix="il")  # lines live on their invoice (``lines``), not in a table
family.object_type("invoice_payment", prefix="inpay", indexes=("invoice",))

STATUSES = ("draft", "open", "paid", "uncollectible", "void")
SEARCH_FIELDS = {
    "created": "number",
    "currency": "token",
    "customer": "token",
    "metadata": "metadata",
    "number": "token",
    "receipt_number": "token",
    "status": "token",
    "total": "number",
}

# The billing engine is no family of its own (families are the modules here): it runs through this one,
# on the server clock and on the events of the PaymentIntents behind invoices.
family.on_clock(billing.run_due)
family.on_store_event(billing.follow_payment_intent)


# -- building invoices, lines and items -----------------------------------------------------------


def lines_of(store, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return store.private(invoice["id"]).setdefault("lines", [])


def build(
    ctx: Ctx,
    customer: dict[str, Any],
    *,
    currency_code: str,
    billing_reason: str,
    collection_method: str = "charge_automatically",
    auto_advance: bool = False,
    days_until_due: int | None = None,
    due_date: int | None = None,
    description: str | None = None,
    footer: str | None = None,
    metadata_: dict[str, str] | None = None,
    default_payment_method: str | None = None,
    statement_descriptor: str | None = None,
    custom_fields: Any = None,
    subscription: dict[str, Any] | None = None,
    period: tuple[int, int] | None = None,
    automatically_finalizes_at: int | None = None,
) -> dict[str, Any]:
    """A new draft invoice (not stored yet; add lines, then :func:`insert`)."""
    store = ctx.store
    now = store.now()
    invoice_id = store.new_id("invoice")
    if days_until_due is not None and due_date is None:
        due_date = now + days_until_due * 86400
    finalizes_at = automatically_finalizes_at
    if auto_advance and finalizes_at is None:
        finalizes_at = now + billing.AUTO_FINALIZE_DELAY
    parent = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {"metadata": dict(subscription["metadata"]), "subscription": subscription["id"]},
            "type": "subscription_details",
        }
    invoice = store.build(
        "invoice",
        id=invoice_id,
        account_country="US",
        account_name=None,
        account_tax_ids=None,
        amount_due=0,
        amount_paid=0,
        amount_remaining=0,
        amount_shipping=0,
        application=None,
        attempt_count=0,
        attempted=False,
        auto_advance=auto_advance,
        automatic_tax={"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None},
        billing_reason=billing_reason,
        collection_method=collection_method,
        currency=currency_code,
        custom_fields=custom_fields,
        customer=customer["id"],
        customer_tax_ids=[],
        default_payment_method=default_payment_method,
        default_source=None,
        default_tax_rates=[],
        description=description,
        discounts=[],
        due_date=due_date if collection_method == "send_invoice" else None,
        effective_at=None,
        ending_balance=None,
        footer=footer,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        issuer={"type": "self"},
        last_finalization_error=None,
        latest_revision=None,
        lines={"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
        metadata={k: v for k, v in (metadata_ or {}).items() if v != ""},
        next_payment_attempt=finalizes_at if auto_advance and collection_method == "charge_automatically" else None,
        number=None,
        on_behalf_of=None,
        payment_settings={"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        period_end=period[1] if period else now,
        period_start=period[0] if period else now,
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        receipt_number=None,
        rendering={
            "amount_tax_display": None,
            "pdf": {"page_size": "auto"},
            "template": None,
            "template_version": None,
        },
        shipping_cost=None,
        shipping_details=None,
        starting_balance=0,
        statement_descriptor=statement_descriptor,
        status="draft",
        status_transitions={"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
        subtotal=0,
        subtotal_excluding_tax=0,
        test_clock=customer.get("test_clock"),
        total=0,
        total_discount_amounts=[],
        total_excluding_tax=0,
        webhooks_delivered_at=now,
        automatically_finalizes_at=finalizes_at if auto_advance else None,
        total_pretax_credit_amounts=[],
        total_taxes=[],
        amount_overpaid=0,
        parent=parent,
        customer_account=None,
        **billing.customer_snapshot(customer),
    )
    store.private(invoice_id).update(lines=[], days_until_due=days_until_due)
    return invoice


def insert(ctx: Ctx, invoice: dict[str, Any]) -> dict[str, Any]:
    """Store a built invoice with its lines and totals; ``invoice.created``; schedule auto-finalization."""
    store = ctx.store
    _sync(store, invoice)
    store.insert("invoice", invoice)
    ctx.emit("invoice.created", invoice)
    if invoice["auto_advance"] and invoice["automatically_finalizes_at"]:
        billing.schedule(store, invoice["automatically_finalizes_at"], "invoice.finalize", invoice["id"])
    return invoice


def _pricing(price: dict[str, Any] | None, unit: str) -> dict[str, Any]:
    if price is None:  # an amount without a price: Stripe leaves price_details out
        return {"type": "price_details", "unit_amount_decimal": unit}
    details = {"price": price["id"], "product": price["product"]}
    return {"type": "price_details", "price_details": details, "unit_amount_decimal": unit}


def _unit_text(amount: int, quantity: int, price: dict[str, Any] | None) -> str:
    if price is not None:
        return price["unit_amount_decimal"]
    if quantity and amount % quantity == 0:
        return str(amount // quantity)
    return format((prices.Decimal(amount) / quantity).normalize(), "f") if quantity else str(amount)


def new_line(
    store,
    invoice: dict[str, Any],
    *,
    amount: int,
    description: str | None,
    quantity: int,
    period: dict[str, int],
    price: dict[str, Any] | None,
    metadata_: dict[str, str],
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice_item: str | None = None,
    proration: bool = False,
    discountable: bool = True,
) -> dict[str, Any]:
    if invoice_item is not None:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    else:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    return store.build(
        "line_item",
        amount=amount,
        currency=invoice["currency"],
        description=description,
        discount_amounts=[],
        discountable=discountable,
        discounts=[],
        invoice=invoice["id"],
        metadata=dict(metadata_),
        period=dict(period),
        quantity=quantity,
        subscription=subscription,
        pretax_credit_amounts=[],
        taxes=[],
        parent=parent,
        pricing=_pricing(price, _unit_text(amount, quantity, price)),
        subtotal=amount,
        quantity_decimal=None,
    )


def item_line(store, invoice: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The line an invoice item makes on its invoice."""
    details = (item.get("pricing") or {}).get("price_details") or {}
    price = store.get("price", details.get("price")) if details.get("price") else None
    sub = ((item.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return new_line(
        store,
        invoice,
        amount=item["amount"],
        description=item["description"],
        quantity=item["quantity"],
        period=item["period"],
        price=price,
        metadata_=item["metadata"],
        subscription=sub,
        invoice_item=item["id"],
        proration=item["proration"],
        discountable=item["discountable"],
    )


def _sync(store, invoice: dict[str, Any]) -> None:
    """Embedded ``lines`` (first 10) and the totals, from the invoice's full line list (draft amounts)."""
    lines = lines_of(store, invoice)
    subtotal = sum(line["amount"] for line in lines)
    invoice["lines"] = {
        "object": "list",
        "data": lines[:10],
        "has_more": len(lines) > 10,
        "url": f"/v1/invoices/{invoice['id']}/lines",
    }
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
    )
    if invoice["status"] == "draft":
        due = max(subtotal, 0)
        invoice.update(amount_due=due, amount_remaining=due - invoice["amount_paid"])


def changed_lines(ctx: Ctx, invoice: dict[str, Any], before: dict[str, Any], emit: bool = True) -> None:
    """After lines were added, removed or changed on a draft: totals, and ``invoice.updated``."""
    _sync(ctx.store, invoice)
    previous = {k: v for k, v in before.items() if k != "lines" and invoice.get(k) != v}
    if emit and previous:
        ctx.emit("invoice.updated", invoice, previous)


def totals_snapshot(invoice: dict[str, Any]) -> dict[str, Any]:
    keys = ("lines", "subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax", "amount_due",
            "amount_remaining")  # fmt: skip
    return {k: clone(invoice[k]) for k in keys}


def new_item(
    ctx: Ctx,
    customer: dict[str, Any],
    *,
    amount: int,
    currency_code: str,
    quantity: int = 1,
    description: str | None = None,
    price: dict[str, Any] | None = None,
    period: dict[str, int] | None = None,
    metadata_: dict[str, str] | None = None,
    subscription: str | None = None,
    proration: bool = False,
    discountable: bool | None = None,
) -> dict[str, Any]:
    """Store a pending invoice item and emit ``invoiceitem.created`` (attach it with :func:`attach_item`)."""
    store = ctx.store
    now = store.now()
    item = store.build(
        "invoiceitem",
        amount=amount,
        currency=currency_code,
        customer=customer["id"],
        date=now,
        description=description,
        discountable=(amount >= 0 and not proration) if discountable is None else discountable,
        discounts=[],
        invoice=None,
        metadata={k: v for k, v in (metadata_ or {}).items() if v != ""},
        period=period or {"end": now, "start": now},
        proration=proration,
        quantity=quantity,
        tax_rates=[],
        test_clock=customer.get("test_clock"),
        parent=None
        if subscription is None
        else {
            "subscription_details": {"subscription": subscription, "subscription_item": None},
            "type": "subscription_details",
        },
        pricing=_pricing(price, _unit_text(amount, quantity, price)),
        net_amount=amount,
        customer_account=None,
        quantity_decimal=str(quantity),
    )
    store.insert("invoiceitem", item)
    ctx.emit("invoiceitem.created", item)
    return item


def attach_item(ctx: Ctx, invoice: dict[str, Any], item: dict[str, Any], emit: bool = True) -> None:
    """Put a pending invoice item on a draft invoice (a new line)."""
    before = totals_snapshot(invoice)
    ctx.store.update(item, {"invoice": invoice["id"]})
    lines_of(ctx.store, invoice).append(item_line(ctx.store, invoice, item))
    changed_lines(ctx, invoice, before, emit)


def item_line_index(store, invoice: dict[str, Any], item_id: str) -> int | None:
    for i, line in enumerate(lines_of(store, invoice)):
        details = (line.get("parent") or {}).get("invoice_item_details") or {}
        if details.get("invoice_item") == item_id:
            return i
    return None


def refresh_item(ctx: Ctx, item: dict[str, Any]) -> None:
    """An attached invoice item changed: its line and the draft's totals follow."""
    invoice = ctx.store.get("invoice", item["invoice"])
    if invoice is None:
        return
    index = item_line_index(ctx.store, invoice, item["id"])
    if index is None:
        return
    before = totals_snapshot(invoice)
    lines = lines_of(ctx.store, invoice)
    new = item_line(ctx.store, invoice, item)
    new["id"] = lines[index]["id"]
    lines[index] = new
    changed_lines(ctx, invoice, before)


def detach_item(ctx: Ctx, item: dict[str, Any], emit: bool = True) -> None:
    """Take an invoice item off its draft invoice (it becomes pending again)."""
    invoice = ctx.store.get("invoice", item["invoice"])
    ctx.store.update(item, {"invoice": None})
    if invoice is None:
        return
    index = item_line_index(ctx.store, invoice, item["id"])
    if index is not None:
        before = totals_snapshot(invoice)
        del lines_of(ctx.store, invoice)[index]
        changed_lines(ctx, invoice, before, emit)


def delete_item(ctx: Ctx, item: dict[str, Any]) -> dict[str, Any]:
    """Delete an item (pending or on a draft): its line goes, ``invoiceitem.deleted``; the deleted stub."""
    if item["invoice"]:
        detach_item(ctx, item)
    stub = fixture("deleted_invoiceitem") | {"id": item["id"]}
    ctx.store.delete(item, stub)
    ctx.emit("invoiceitem.deleted", item)
    return stub


def pending_items(store, customer_id: str, subscription_id: str | None, *, unscoped: bool) -> list[dict[str, Any]]:
    """The customer's pending invoice items for an invoice of ``subscription_id`` (oldest first)."""
    found, _ = store.page("invoiceitem", where={"customer": customer_id}, limit=10_000)
    out = []
    for item in reversed(found):
        if item["invoice"] is not None:
            continue
        scope = ((item.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        if (scope is not None and scope == subscription_id) or (scope is None and unscoped):
            out.append(item)
    return out


def pull_pending(ctx: Ctx, invoice: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """Attach pending items to a new (not yet stored) invoice, quietly (it is announced after)."""
    for item in items:
        if item["currency"] != invoice["currency"]:
            continue
        ctx.store.update(item, {"invoice": invoice["id"]})
        lines_of(ctx.store, invoice).append(item_line(ctx.store, invoice, item))


# -- endpoints ----------------------------------------------------------------------------------------


def _CUSTOM_FIELDS(v: Any, p: str) -> Any:  # noqa: N802 - a parameter spec, like the others
    return None if v == "" else array_of({"name": string, "value": string})(v, p)


_EDITABLE = {
    "auto_advance": boolean,
    "automatically_finalizes_at": integer(0),
    "collection_method": enum("charge_automatically", "send_invoice"),
    "custom_fields": _CUSTOM_FIELDS,
    "days_until_due": integer(0, 3650),
    "default_payment_method": nullable_string,
    "description": nullable_string,
    "due_date": integer(0),
    "footer": nullable_string,
    "metadata": metadata,
    "statement_descriptor": statement_descriptor,
    "rendering": anything,
    "payment_settings": anything,
    "issuer": needs(anything, "type"),
    "account_tax_ids": unsupported("tax ids on invoices"),
    "application_fee_amount": unsupported("Connect: no connected accounts here"),
    "automatic_tax": needs({"enabled": boolean, "liability": anything}, "enabled"),
    "default_source": unsupported("sources: use payment methods"),
    "default_tax_rates": unsupported("tax rates: no tax is computed, so the totals would be wrong"),
    "discounts": unsupported("discounts: no coupons or promotion codes here"),
    "effective_at": integer(0),
    "number": nullable_string,
    "on_behalf_of": unsupported("Connect: no connected accounts here"),
    "shipping_cost": unsupported("shipping costs and details on invoices"),
    "shipping_details": unsupported("shipping costs and details on invoices"),
    "transfer_data": unsupported("Connect: no connected accounts here"),
}
CREATE = {
    **_EDITABLE,
    "currency": currency,
    "customer": string,
    "customer_account": unsupported("Accounts v2: customers are v1 Customer objects here"),
    "from_invoice": unsupported("invoice revisions"),
    "pending_invoice_items_behavior": enum("exclude", "include"),
    "subscription": string,
}
UPDATE = dict(_EDITABLE)
_AFTER_FINALIZATION = {"metadata", "auto_advance", "default_payment_method", "footer", "custom_fields", "rendering"}


def _check_collection(p: dict[str, Any], collection: str, param_prefix: str = "") -> None:
    if collection == "send_invoice":
        return
    for key in ("days_until_due", "due_date"):
        if p.get(key) is not None:
            raise errors.invalid(
                f"`{key}` can only be set when `collection_method` is `send_invoice`.", f"{param_prefix}{key}"
            )


def check_payment_method_of(store, customer_id: str, pm_id: str | None, param: str) -> None:
    if pm_id is None:
        return
    pm = store.get("payment_method", pm_id)
    if pm is None:
        raise errors.no_such("PaymentMethod", pm_id, param)
    if pm["customer"] != customer_id:
        raise errors.invalid(
            f"The customer does not have a payment method with the ID {pm_id}. The payment method must be "
            "attached to the customer.",
            param,
        )


def _check_automatic_tax(p: dict[str, Any]) -> None:
    if (p.get("automatic_tax") or {}).get("enabled"):
        raise errors.invalid("The local Stripe server does not support automatic tax.", "automatic_tax[enabled]")


def respond(ctx: Ctx, invoice: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The invoice with the includable fields asked for in ``expand[]`` (``payments``, ``confirmation_secret``)."""
    store = ctx.store
    wanted = {p[len(prefix) :].split(".")[0] for p in ctx.expand if p.startswith(prefix)}
    extra: dict[str, Any] = {}
    if "payments" in wanted:
        found, more = store.page("invoice_payment", where={"invoice": invoice["id"]}, limit=10)
        extra["payments"] = {"object": "list", "data": found, "has_more": more, "url": "/v1/invoice_payments"}
    if "confirmation_secret" in wanted:
        pi = billing.payment_intent_of(store, invoice)
        extra["confirmation_secret"] = (
            None if pi is None else {"client_secret": pi["client_secret"], "type": "payment_intent"}
        )
    if extra:  # included, not expanded: the generic expansion must not see these paths themselves
        done = {prefix + name for name in extra}
        ctx.expand[:] = [p for p in ctx.expand if p not in done]
    return {**invoice, **extra} if extra else invoice


@family.post("/v1/invoices")
def create_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    p = ctx.validate(CREATE)
    if not p.get("customer"):
        raise errors.missing_param("customer")
    customer = store.require("customer", p["customer"], "customer")
    collection = p.get("collection_method", "charge_automatically")
    _check_collection(p, collection)
    _check_automatic_tax(p)
    if p.get("days_until_due") is not None and p.get("due_date") is not None:
        raise errors.invalid("You may only specify one of these parameters: days_until_due, due_date.", "due_date")
    if collection == "send_invoice" and p.get("days_until_due") is None and p.get("due_date") is None:
        raise errors.missing_param("days_until_due")
    if collection == "send_invoice" and not customer.get("email"):
        raise errors.invalid(billing.MISSING_EMAIL, "collection_method")
    if p.get("due_date") is not None and p["due_date"] <= store.now():
        raise errors.invalid("The due_date must be in the future.", "due_date")
    check_payment_method_of(store, customer["id"], p.get("default_payment_method"), "default_payment_method")
    subscription = None
    if p.get("subscription"):
        subscription = store.require("subscription", p["subscription"], "subscription")
        if subscription["customer"] != customer["id"]:
            raise errors.invalid("The subscription does not belong to this customer.", "subscription")
    include = p.get("pending_invoice_items_behavior", "exclude") == "include"
    items = (
        pending_items(store, customer["id"], p.get("subscription"), unscoped=subscription is None) if include else []
    )
    code = p.get("currency") or (items[0]["currency"] if items else None) or customer.get("currency") or "usd"
    finalizes_at = p.get("automatically_finalizes_at")
    if finalizes_at is not None and finalizes_at <= store.now():
        raise errors.invalid("automatically_finalizes_at must be in the future.", "automatically_finalizes_at")
    invoice = build(
        ctx,
        customer,
        currency_code=code,
        billing_reason="manual",
        collection_method=collection,
        auto_advance=p.get("auto_advance", False),
        days_until_due=p.get("days_until_due"),
        due_date=p.get("due_date"),
        description=p.get("description"),
        footer=p.get("footer"),
        metadata_=p.get("metadata"),
        default_payment_method=p.get("default_payment_method"),
        statement_descriptor=p.get("statement_descriptor"),
        custom_fields=p.get("custom_fields"),
        automatically_finalizes_at=finalizes_at,
    )
    if subscription is not None:
        invoice["parent"] = {
            "quote_details": None,
            "subscription_details": {"metadata": dict(subscription["metadata"]), "subscription": subscription["id"]},
            "type": "subscription_details",
        }
    if p.get("number"):
        invoice["number"] = p["number"]
    pull_pending(ctx, invoice, items)
    insert(ctx, invoice)
    return respond(ctx, invoice)


@family.get("/v1/invoices/search")
def search_invoices(ctx: Ctx) -> dict[str, Any]:
    return search.run(ctx, "invoice", "invoices", SEARCH_FIELDS)


@family.get("/v1/invoices/{id}")
def retrieve_invoice(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return respond(ctx, ctx.store.require("invoice", ctx.args["id"]))


@family.post("/v1/invoices/{id}")
def update_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate(UPDATE)
    _check_automatic_tax(p)
    if invoice["status"] != "draft":
        allowed = _AFTER_FINALIZATION if invoice["status"] == "open" else {"metadata"}
        blocked = sorted(set(p) - allowed - {"automatic_tax"})
        if blocked:
            raise errors.invalid(
                f"Finalized invoices can't be updated in this way: you can no longer change `{blocked[0]}` "
                f"of an invoice with status {invoice['status']}.",
                blocked[0],
                "invoice_not_editable",
            )
    collection = p.get("collection_method", invoice["collection_method"])
    days = store.private(invoice["id"]).get("days_until_due")
    merged = {"days_until_due": p.get("days_until_due", days if "due_date" not in p else None),
              "due_date": p.get("due_date", invoice["due_date"] if "days_until_due" not in p else None)}  # fmt: skip
    _check_collection({k: v for k, v in p.items() if k in ("days_until_due", "due_date")}, collection)
    if collection == "send_invoice" and merged["days_until_due"] is None and merged["due_date"] is None:
        raise errors.missing_param("days_until_due")
    if p.get("due_date") is not None and p["due_date"] <= store.now():
        raise errors.invalid("The due_date must be in the future.", "due_date")
    if p.get("days_until_due") is not None and p.get("due_date") is not None:
        raise errors.invalid("You may only specify one of these parameters: days_until_due, due_date.", "due_date")
    if p.get("automatically_finalizes_at") is not None and p["automatically_finalizes_at"] <= store.now():
        raise errors.invalid("automatically_finalizes_at must be in the future.", "automatically_finalizes_at")
    check_payment_method_of(store, invoice["customer"], p.get("default_payment_method"), "default_payment_method")
    if collection == "send_invoice" and invoice["collection_method"] != "send_invoice":
        customer = store.get("customer", invoice["customer"])
        if customer is not None and not customer.get("email"):
            raise errors.invalid(billing.MISSING_EMAIL, "collection_method")
    plain = ("collection_method", "custom_fields", "default_payment_method", "description", "footer",
             "statement_descriptor", "number", "effective_at")  # fmt: skip
    changes: dict[str, Any] = {k: p[k] for k in plain if k in p}
    if "metadata" in p:
        changes["metadata"] = merge_metadata(invoice["metadata"], p["metadata"], p["metadata"] is None)
    if invoice["status"] == "draft" and ("days_until_due" in p or "due_date" in p or "collection_method" in p):
        if collection == "send_invoice":
            store.private(invoice["id"])["days_until_due"] = merged["days_until_due"]
            due = merged["due_date"]
            if "days_until_due" in p:
                due = invoice["created"] + p["days_until_due"] * 86400
            changes["due_date"] = due
        else:
            store.private(invoice["id"])["days_until_due"] = None
            changes["due_date"] = None
    auto = p.get("auto_advance", invoice["auto_advance"])
    if "auto_advance" in p:
        changes["auto_advance"] = auto
    if invoice["status"] == "draft" and ("auto_advance" in p or "automatically_finalizes_at" in p):
        at = p.get("automatically_finalizes_at") or invoice["automatically_finalizes_at"]
        if auto and at is None:
            at = store.now() + billing.AUTO_FINALIZE_DELAY
        changes["automatically_finalizes_at"] = at if auto else None
        if auto and at != invoice["automatically_finalizes_at"]:
            billing.schedule(store, at, "invoice.finalize", invoice["id"])
    if invoice["status"] == "draft":
        automatic = changes.get("auto_advance", invoice["auto_advance"]) and collection == "charge_automatically"
        changes["next_payment_attempt"] = (
            changes.get("automatically_finalizes_at", invoice["automatically_finalizes_at"]) if automatic else None
        )
    elif invoice["status"] == "open" and "auto_advance" in p and not auto:
        changes["next_payment_attempt"] = None
    previous = store.update(invoice, changes)
    if previous:
        ctx.emit("invoice.updated", invoice, previous)
    return respond(ctx, invoice)


@family.delete("/v1/invoices/{id}")
def delete_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    ctx.validate({})
    if invoice["status"] != "draft":
        raise errors.invalid("You can only delete draft invoices.")
    if invoice["billing_reason"] != "manual" and billing.subscription_of(invoice):
        raise errors.invalid(
            "You cannot delete a draft invoice created by a subscription; void it after finalization instead."
        )
    for line in list(lines_of(store, invoice)):
        details = (line.get("parent") or {}).get("invoice_item_details") or {}
        item = store.get("invoiceitem", details.get("invoice_item"))
        if item is not None:
            delete_item(ctx, item)
    stub = fixture("deleted_invoice") | {"id": invoice["id"]}
    store.delete(invoice, stub)
    ctx.emit("invoice.deleted", invoice)
    return stub


@family.post("/v1/invoices/{id}/finalize")
def finalize_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate({"auto_advance": boolean})
    billing.check_finalizable(store, invoice)
    billing.finalize(ctx, invoice, p.get("auto_advance"))
    if invoice["status"] == "open" and invoice["auto_advance"]:
        if invoice["collection_method"] == "charge_automatically":
            at = store.now() + billing.AUTO_FINALIZE_DELAY
            previous = store.update(invoice, {"next_payment_attempt": at})
            ctx.emit("invoice.updated", invoice, previous)
            billing.schedule(store, at, "invoice.attempt", invoice["id"])
        else:
            billing.send(ctx, invoice)
    return respond(ctx, invoice)


def _check_payable(invoice: dict[str, Any]) -> None:
    status = invoice["status"]
    if status == "paid":
        raise errors.invalid("Invoice is already paid")
    if status == "void":
        raise errors.invalid(
            "This invoice is void and can no longer be paid. You can only pay an invoice that is open."
        )


@family.post("/v1/invoices/{id}/pay")
def pay_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate(
        {
            "forgive": boolean,
            "mandate": nullable_string,
            "off_session": boolean,
            "paid_out_of_band": boolean,
            "payment_method": string,
            "source": unsupported("sources: use payment_method"),
        }
    )
    _check_payable(invoice)
    if invoice["status"] == "draft":
        billing.check_finalizable(store, invoice)
    out_of_band = p.get("paid_out_of_band", False)
    pm_ref = None
    if not out_of_band:
        pm_ref = p.get("payment_method") or billing.default_payment_method(store, invoice)
        if pm_ref is None and invoice["amount_remaining"] > 0:
            raise errors.invalid(billing.NO_PAYMENT_METHOD)
        if pm_ref is not None:
            payment_methods.check_usable(store, pm_ref, invoice["customer"])
    if invoice["status"] == "draft":
        billing.finalize(ctx, invoice)
        if invoice["status"] == "paid":
            return respond(ctx, invoice)
    if out_of_band:
        billing.cancel_payment(ctx, invoice)
        billing.mark_paid(ctx, invoice, amount=invoice["amount_remaining"], attempted=False, out_of_band=True)
        return respond(ctx, invoice)
    billing.attempt(ctx, invoice, pm_ref, off_session=p.get("off_session", True))
    return respond(ctx, invoice)


@family.post("/v1/invoices/{id}/send")
def send_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    ctx.validate({})
    if invoice["collection_method"] != "send_invoice":
        raise errors.invalid("You can only manually send an invoice if its collection method is 'send_invoice'.")
    if invoice["status"] == "void":
        raise errors.invalid("You can't send a void invoice.")
    if invoice["status"] == "draft":
        billing.check_finalizable(store, invoice)
        billing.finalize(ctx, invoice)
    billing.send(ctx, invoice)
    return respond(ctx, invoice)


@family.post("/v1/invoices/{id}/void")
def void_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    ctx.validate({})
    if invoice["status"] not in ("open", "uncollectible"):
        raise errors.invalid(
            f"You can only void an invoice that is open or uncollectible; this invoice is {invoice['status']}.",
            code="invoice_not_editable" if invoice["status"] == "draft" else None,
        )
    billing.void(ctx, invoice)
    return respond(ctx, invoice)


@family.post("/v1/invoices/{id}/mark_uncollectible")
def mark_uncollectible(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    ctx.validate({})
    if invoice["status"] != "open":
        raise errors.invalid(
            f"You can only mark an invoice as uncollectible if it is open; this invoice is {invoice['status']}."
        )
    previous = store.update(
        invoice,
        {
            "status": "uncollectible",
            "auto_advance": False,
            "next_payment_attempt": None,
            "status_transitions": {**invoice["status_transitions"], "marked_uncollectible_at": store.now()},
        },
    )
    billing.emit_change(ctx, invoice, previous, "invoice.marked_uncollectible")
    return respond(ctx, invoice)


def check_draft(invoice: dict[str, Any], param: str | None = None) -> None:
    if invoice["status"] != "draft":
        raise errors.invalid(
            f"You can only add or change lines on a draft invoice; this invoice is {invoice['status']}.",
            param,
            "invoice_not_editable",
        )


@family.get("/v1/invoices/{id}/lines")
def list_lines(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    q = ctx.validate({k: v for k, v in LIST_SCHEMA.items() if k != "created"})
    if q.get("starting_after") and q.get("ending_before"):
        raise errors.invalid("You may only specify one of these parameters: ending_before, starting_after.")
    lines = lines_of(store, invoice)
    ids = [line["id"] for line in lines]
    limit = q.get("limit", 10)
    cursor = q.get("starting_after") or q.get("ending_before")
    if cursor is not None and cursor not in ids:
        raise errors.no_such("line_item", cursor, "starting_after" if q.get("starting_after") else "ending_before")
    if q.get("ending_before"):
        end = ids.index(cursor)
        data = lines[max(0, end - limit) : end]
        more = end - limit > 0
    else:
        start = ids.index(cursor) + 1 if cursor else 0
        data = lines[start : start + limit]
        more = start + limit < len(lines)
    return {"object": "list", "data": data, "has_more": more, "url": f"/v1/invoices/{invoice['id']}/lines"}


_STATUS = enum(*STATUSES)


@family.get("/v1/invoices")
def list_invoices(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate(
        {
            **LIST_SCHEMA,
            "collection_method": enum("charge_automatically", "send_invoice"),
            "customer": string,
            "customer_account": string,
            "due_date": lambda v, p: v,
            "status": _STATUS,
            "subscription": string,
        }
    )
    due = timestamp_range(q.get("due_date"), "due_date")
    sub = q.get("subscription")
    checks = []
    if sub:
        checks.append(lambda inv: billing.subscription_of(inv) == sub)
    if q.get("due_date") is not None:
        checks.append(lambda inv: in_range(inv["due_date"], due))
    predicate = (lambda inv: all(check(inv) for check in checks)) if checks else None
    where = {k: q.get(k) for k in ("customer", "status", "collection_method", "customer_account")}
    page = ctx.page("invoice", q, where=where, predicate=predicate, ranges={"due_date": due})
    if any(p.startswith("data.") for p in ctx.expand):
        page["data"] = [respond(ctx, inv, "data.") for inv in page["data"]]
    return page


# -- invoice payments -------------------------------------------------------------------------------


@family.get("/v1/invoice_payments/{id}")
def retrieve_invoice_payment(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("invoice_payment", ctx.args["id"])


_PAYMENT_FILTER = {"type": enum("payment_intent", "payment_record"), "payment_intent": string, "payment_record": string}


@family.get("/v1/invoice_payments")
def list_invoice_payments(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate(
        {
            **LIST_SCHEMA,
            "invoice": string,
            "status": enum("canceled", "open", "paid"),
            "payment": _PAYMENT_FILTER,
        }
    )
    payment = q.get("payment") or {}
    if payment and not payment.get("type"):
        raise errors.missing_param("payment[type]")
    predicate: Callable[[dict[str, Any]], bool] | None = None
    if payment.get("payment_intent"):
        wanted = payment["payment_intent"]

        def matches(obj: dict[str, Any]) -> bool:
            return obj["payment"].get("payment_intent") == wanted

        predicate = matches
    where = {"invoice": q.get("invoice"), "status": q.get("status")}
    return ctx.page("invoice_payment", q, where=where, predicate=predicate)
