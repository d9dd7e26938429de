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

Deviations: no taxes, discounts, credit notes, shipping or multi-currency; the top-level
``subscription`` key (in Stripe's fixture, no longer in the API) stays null: use
``parent.subscription_details.subscription`` or the lines' ``subscription``.
"""

from __future__ import annotations

import heapq
import secrets
from collections.abc import Callable
from typing import Any

from .. import currencies, errors, search
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
    nullable_string,
    string,
    timestamp_range,
    unsupported,
)
from ..registry import Ctx, ResourceFamily
from ..templates import clone, fixture
from . import payment_intents, payment_methods, prices

family = ResourceFamily("invoices")
family.object_type("invoice", indexes=("customer",))
family.object_type("line_item", prefix="il")  # lines live on their invoice (``lines``), not in a table
family.object_type("invoice_payment", prefix="inpay", indexes=("invoice",))

STATUSES = ("draft", "open", "paid", "uncollectible", "void")
RETRY_DAYS = (3, 5, 7)  # automatic retries after a failed automatic payment, days after the previous
AUTO_FINALIZE_DELAY = 3600  # Stripe finalizes auto-advancing drafts about an hour after creation
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
_URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# -- small helpers ------------------------------------------------------------------------------


def system_ctx(store, request: dict[str, Any] | None = None) -> Ctx:
    """A Ctx for what Stripe does by itself (no request), or on behalf of ``request`` (an event's)."""
    request = request or {}
    return Ctx(store, {}, {}, request_id=request.get("id"), idempotency_key=request.get("idempotency_key"), path="")


def call(ctx: Ctx, handler: Callable[[Ctx], Any], params: dict[str, Any], args: dict[str, str] | None = None) -> Any:
    """Run another family's endpoint handler as part of this request (its events carry our request id)."""
    sub = Ctx(
        ctx.store, params, args or {}, request_id=ctx.request_id, idempotency_key=ctx.idempotency_key, path=ctx.path
    )
    return handler(sub)


def subscription_of(invoice: dict[str, Any]) -> str | None:
    parent = invoice.get("parent") or {}
    return (parent.get("subscription_details") or {}).get("subscription")


def lines_of(store, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return store.private(invoice["id"]).setdefault("lines", [])


def _subscriptions():
    from . import subscriptions

    return subscriptions


def emit_change(ctx: Ctx, invoice: dict[str, Any], previous: dict[str, Any], *specific: str) -> None:
    """The lifecycle events of a change, then ``invoice.updated`` with its ``previous_attributes``."""
    for event_type in specific:
        ctx.emit(event_type, invoice)
    if previous:
        ctx.emit("invoice.updated", invoice, previous)


# -- the billing schedule (what happens when the server clock moves) ----------------------------

TASKS: dict[str, Callable[[Ctx, str, int], None]] = {}


def task(kind: str) -> Callable:
    def register(fn: Callable[[Ctx, str, int], None]) -> Callable:
        TASKS[kind] = fn
        return fn

    return register


def schedule(store, when: int, kind: str, object_id: str) -> None:
    """Run ``TASKS[kind](ctx, object_id, when)`` once server time reaches ``when`` (tasks re-check state)."""
    state = store.private("__billing_schedule__")
    state["seq"] = state.get("seq", 0) + 1
    heapq.heappush(state.setdefault("heap", []), (when, state["seq"], kind, object_id))


@family.on_clock
def run_schedule(store, before: int, after: int) -> None:
    """Due tasks in time order, each at its own time (events get that ``created``), as test clocks do."""
    if after <= before:
        return
    heap = store.private("__billing_schedule__").get("heap")
    if not heap:
        return
    try:
        while heap and heap[0][0] <= after:
            when, _, kind, object_id = heapq.heappop(heap)
            store.clock.frozen = max(when, before)
            try:
                TASKS[kind](system_ctx(store), object_id, when)
            except errors.StripeError:
                pass  # a declined automatic payment: already recorded on the invoice
    finally:
        store.clock.frozen = None


# -- building invoices, lines and items -----------------------------------------------------------


def _customer_snapshot(customer: dict[str, Any] | None) -> dict[str, Any]:
    if customer is None or customer.get("deleted"):
        return {}
    return {
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
        "customer_tax_exempt": customer.get("tax_exempt") or "none",
    }


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
        finalizes_at = now + AUTO_FINALIZE_DELAY
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
        subscription=None,
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
        **_customer_snapshot(customer),
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
        schedule(store, invoice["automatically_finalizes_at"], "invoice.finalize", invoice["id"])
    return invoice


def _pricing(price: dict[str, Any] | None, unit: str) -> dict[str, Any]:
    details = {"price": price["id"], "product": price["product"]} if price else None
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


# -- finalization ---------------------------------------------------------------------------------


def _url_token() -> str:
    return "".join(secrets.choice(_URL_CHARS) for _ in range(40))


def check_finalizable(store, invoice: dict[str, Any]) -> None:
    if invoice["status"] != "draft":
        raise errors.invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
    if invoice["amount_due"] > currencies.MAXIMUM_AMOUNT:
        raise errors.invalid(
            f"The invoice total must be no more than {currencies.format_amount(currencies.MAXIMUM_AMOUNT, invoice['currency'])}.",
            code="amount_too_large",
        )
    customer = store.get("customer", invoice["customer"])
    if customer is None:
        raise errors.invalid(f"The customer {invoice['customer']} of this invoice has been deleted.")
    if invoice["collection_method"] == "send_invoice" and not customer.get("email"):
        raise errors.invalid(_MISSING_EMAIL, "customer")


_MISSING_EMAIL = (
    "Missing email. In order to create invoices that are sent to the customer, the customer must have a valid email."
)


def _pi_description(invoice: dict[str, Any]) -> str:
    return {
        "subscription_create": "Subscription creation",
        "subscription_cycle": "Subscription update",
        "subscription_update": "Subscription update",
    }.get(invoice["billing_reason"], "Payment for Invoice")


def _apply_balance(ctx: Ctx, invoice: dict[str, Any], customer: dict[str, Any]) -> dict[str, int]:
    """The customer's balance at finalization: credit lowers ``amount_due``, a debit raises it, a negative
    total becomes credit, an amount too small to charge is carried over (customer balance transactions)."""
    from . import customer_balance

    code = invoice["currency"]
    if customer.get("currency") is None:  # a balance set before the customer had a currency: the default one
        balance = (customer.get("balance") or 0) if code == customer_balance.DEFAULT_CURRENCY else 0
    else:
        balance = customer_balance.balance_in(ctx.store, customer, code)
    total = invoice["total"]
    due = max(total, 0)
    applied = 0
    if total < 0:
        applied = total
    elif balance < 0:
        used = min(-balance, due)
        due -= used
        applied = used
    elif balance > 0:
        due += balance
        applied = -balance
    if applied:
        customer_balance.apply(ctx, customer, applied, code, type="applied_to_invoice", invoice=invoice["id"])
    ending = balance + applied
    minimum = currencies.MINIMUM_AMOUNT.get(code, 0)
    if 0 < due < minimum:
        customer_balance.apply(ctx, customer, due, code, type="invoice_too_small", invoice=invoice["id"])
        ending += due
        due = 0
    return {"starting_balance": balance, "ending_balance": ending, "amount_due": due}


def _unapply_balance(ctx: Ctx, invoice: dict[str, Any]) -> None:
    """Voiding gives back what finalization took from (or added to) the customer's balance."""
    from . import customer_balance

    delta = (invoice["starting_balance"] or 0) - (invoice["ending_balance"] or 0)
    customer = ctx.store.get("customer", invoice["customer"])
    if delta and customer is not None:
        customer_balance.apply(
            ctx, customer, delta, invoice["currency"], type="unapplied_from_invoice", invoice=invoice["id"]
        )


def finalize(ctx: Ctx, invoice: dict[str, Any], auto_advance: bool | None = None) -> dict[str, Any]:
    """draft -> open (or paid if nothing is due). Callers validate with :func:`check_finalizable` first."""
    store = ctx.store
    now = store.now()
    customer = store.require("customer", invoice["customer"], "customer")
    sequence = customer.get("next_invoice_sequence") or 1
    customer["next_invoice_sequence"] = sequence + 1  # Stripe emits nothing for the numbering
    balance = _apply_balance(ctx, invoice, customer)
    token = _url_token()
    days = store.private(invoice["id"]).get("days_until_due")
    changes: dict[str, Any] = {
        **_customer_snapshot(customer),
        **balance,
        "amount_remaining": balance["amount_due"] - invoice["amount_paid"],
        "number": f"{customer['invoice_prefix']}-{sequence:04d}",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_local/test_{token}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_local/test_{token}/pdf?s=ap",
        "status": "open",
        "status_transitions": {**invoice["status_transitions"], "finalized_at": now},
        "effective_at": now,
        "automatically_finalizes_at": None,
        "next_payment_attempt": None,
    }
    if auto_advance is not None:
        changes["auto_advance"] = auto_advance
    if invoice["collection_method"] == "send_invoice" and days is not None:
        changes["due_date"] = now + days * 86400
    previous = store.update(invoice, changes)
    if invoice["amount_due"] > 0:
        pi = call(
            ctx,
            payment_intents.create_payment_intent,
            {
                "amount": str(invoice["amount_due"]),
                "currency": invoice["currency"],
                "customer": invoice["customer"],
                "description": _pi_description(invoice),
                "payment_method_types": ["card"],
            },
        )
        store.private(pi["id"])["invoice"] = invoice["id"]
        payment = store.create(
            "invoice_payment",
            amount_paid=None,
            amount_requested=invoice["amount_due"],
            currency=invoice["currency"],
            invoice=invoice["id"],
            is_default=True,
            payment={"type": "payment_intent", "payment_intent": pi["id"]},
            status="open",
            status_transitions={"canceled_at": None, "paid_at": None},
        )
        store.private(invoice["id"]).update(payment_intent=pi["id"], invoice_payment=payment["id"])
    emit_change(ctx, invoice, previous, "invoice.finalized")
    if invoice["amount_due"] == 0:
        mark_paid(ctx, invoice, amount=0, attempted=True)
    return invoice


# -- payment --------------------------------------------------------------------------------------


def payment_intent_of(store, invoice: dict[str, Any]) -> dict[str, Any] | None:
    pi_id = store.private(invoice["id"]).get("payment_intent")
    return store.get("payment_intent", pi_id) if pi_id else None


def default_payment_method(store, invoice: dict[str, Any]) -> str | None:
    """The invoice's, else its subscription's, else the customer's invoice default payment method."""
    if invoice.get("default_payment_method"):
        return invoice["default_payment_method"]
    sub = store.get("subscription", subscription_of(invoice))
    if sub is not None and sub.get("default_payment_method"):
        return sub["default_payment_method"]
    customer = store.get("customer", invoice["customer"])
    if customer is not None:
        return (customer.get("invoice_settings") or {}).get("default_payment_method")
    return None


NO_PAYMENT_METHOD = (
    "This customer has no attached payment source or default payment method. Please consider adding a default "
    "payment method. For more information, visit "
    "https://docs.stripe.com/billing/subscriptions/payment-methods-setting#payment-method-priority."
)


def mark_paid(ctx: Ctx, invoice: dict[str, Any], *, amount: int, attempted: bool, out_of_band: bool = False) -> None:
    """open -> paid: amounts, ``status_transitions.paid_at``, events, and the subscription's status."""
    store = ctx.store
    now = store.now()
    changes = {
        "status": "paid",
        "amount_paid": invoice["amount_paid"] + amount,
        "amount_remaining": 0,
        "next_payment_attempt": None,
        "status_transitions": {**invoice["status_transitions"], "paid_at": now},
    }
    if attempted and not out_of_band:
        changes["attempted"] = True
        if amount > 0:
            changes["attempt_count"] = invoice["attempt_count"] + 1
    previous = store.update(invoice, changes)
    payment = store.get("invoice_payment", store.private(invoice["id"]).get("invoice_payment"))
    if payment is not None and not out_of_band:
        store.update(
            payment,
            {"status": "paid", "amount_paid": amount, "status_transitions": {"canceled_at": None, "paid_at": now}},
        )
        ctx.emit("invoice_payment.paid", payment)
    kinds = ("invoice.paid",) if out_of_band else ("invoice.paid", "invoice.payment_succeeded")
    emit_change(ctx, invoice, previous, *kinds)
    _subscriptions().invoice_paid(ctx, invoice)


def _retries(invoice: dict[str, Any]) -> bool:
    """Whether Stripe retries this invoice's failed payments (automatic collection, not a first invoice)."""
    return (
        invoice["auto_advance"]
        and invoice["collection_method"] == "charge_automatically"
        and invoice["billing_reason"] != "subscription_create"
    )


def record_failure(ctx: Ctx, invoice: dict[str, Any], event_type: str = "invoice.payment_failed") -> None:
    """A failed (or action-requiring) payment attempt: counts, the next retry, events, the subscription."""
    store = ctx.store
    attempts = invoice["attempt_count"] + 1
    retry = None
    exhausted = False
    if _retries(invoice):
        if attempts <= len(RETRY_DAYS):
            retry = store.now() + RETRY_DAYS[attempts - 1] * 86400
        else:
            exhausted = True
    previous = store.update(invoice, {"attempt_count": attempts, "attempted": True, "next_payment_attempt": retry})
    if retry is not None:
        schedule(store, retry, "invoice.attempt", invoice["id"])
    emit_change(ctx, invoice, previous, event_type)
    _subscriptions().invoice_payment_failed(ctx, invoice, final=exhausted)


def attempt(ctx: Ctx, invoice: dict[str, Any], pm_ref: str | None, *, off_session: bool = True) -> None:
    """One payment attempt of an open invoice (validated ``pm_ref``); raises the decline's 402."""
    store = ctx.store
    if invoice["amount_remaining"] <= 0:
        mark_paid(ctx, invoice, amount=0, attempted=True)
        return
    if pm_ref is None:
        record_failure(ctx, invoice)
        raise errors.invalid(NO_PAYMENT_METHOD)
    pi = payment_intent_of(store, invoice)
    if pi is None or pi["status"] in ("succeeded", "canceled"):
        raise errors.invalid("This invoice has no payment to attempt.")
    call(
        ctx,
        payment_intents.confirm_payment_intent,
        {"payment_method": pm_ref, "off_session": "true" if off_session else "false"},
        {"id": pi["id"]},
    )  # the PaymentIntent's events update the invoice (see _payment_events); a decline raises its 402
    if pi["status"] == "requires_action":
        raise errors.StripeError(
            402,
            "card_error",
            "This payment requires additional user action before it can be completed successfully. Payment can be "
            "completed using the PaymentIntent associated with the invoice. For more details see: "
            "https://docs.stripe.com/billing/subscriptions/overview#requires-action",
            code="invoice_payment_intent_requires_action",
            payment_intent=dict(pi),
        )


def automatic_attempt(ctx: Ctx, invoice: dict[str, Any], *, off_session: bool = True) -> bool:
    """Stripe charging an invoice by itself (creation, renewal, retry): True when it got paid."""
    pm_ref = default_payment_method(ctx.store, invoice)
    try:
        attempt(ctx, invoice, pm_ref, off_session=off_session)
    except errors.StripeError:
        return False
    return invoice["status"] == "paid"


def cancel_payment(ctx: Ctx, invoice: dict[str, Any]) -> None:
    """Void / paid out of band: the invoice's PaymentIntent is canceled, its payment record too."""
    store = ctx.store
    pi = payment_intent_of(store, invoice)
    if pi is not None and pi["status"] in payment_intents.CANCELABLE:
        call(ctx, payment_intents.cancel_payment_intent, {}, {"id": pi["id"]})
    payment = store.get("invoice_payment", store.private(invoice["id"]).get("invoice_payment"))
    if payment is not None and payment["status"] == "open":
        store.update(
            payment, {"status": "canceled", "status_transitions": {"canceled_at": store.now(), "paid_at": None}}
        )


@family.on_store_event
def _payment_events(store, event: dict[str, Any]) -> None:
    """An invoice follows its PaymentIntent, however that was confirmed."""
    kind = event["type"]
    if kind not in ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.requires_action"):
        return
    pi = event["data"]["object"]
    invoice = store.get("invoice", store.private(pi["id"]).get("invoice"))
    if invoice is None or invoice["status"] not in ("open", "uncollectible"):
        return
    ctx = system_ctx(store, event.get("request"))
    if kind == "payment_intent.succeeded":
        mark_paid(ctx, invoice, amount=pi["amount_received"], attempted=True)
    elif kind == "payment_intent.payment_failed":
        record_failure(ctx, invoice)
    else:
        record_failure(ctx, invoice, "invoice.payment_action_required")


# -- scheduled work ---------------------------------------------------------------------------------


@task("invoice.finalize")
def _auto_finalize(ctx: Ctx, invoice_id: str, when: int) -> None:
    invoice = ctx.store.get("invoice", invoice_id)
    if invoice is None or invoice["status"] != "draft" or not invoice["auto_advance"]:
        return
    if invoice["automatically_finalizes_at"] != when:
        return
    try:
        check_finalizable(ctx.store, invoice)
    except errors.StripeError as exc:
        previous = ctx.store.update(
            invoice,
            {"last_finalization_error": {"message": exc.fields.get("message"), "type": "invalid_request_error"}},
        )
        ctx.emit("invoice.finalization_failed", invoice)
        emit_change(ctx, invoice, previous)
        return
    finalize(ctx, invoice)
    if invoice["status"] != "open":
        return
    if invoice["collection_method"] == "charge_automatically":
        automatic_attempt(ctx, invoice)
    else:
        send(ctx, invoice)
        _subscriptions().invoice_sent(ctx, invoice)


@task("invoice.attempt")
def _auto_retry(ctx: Ctx, invoice_id: str, when: int) -> None:
    invoice = ctx.store.get("invoice", invoice_id)
    if invoice is None or invoice["status"] != "open" or invoice["next_payment_attempt"] != when:
        return
    if not invoice["auto_advance"]:
        return
    automatic_attempt(ctx, invoice)


def send(ctx: Ctx, invoice: dict[str, Any]) -> None:
    """Stripe emails the invoice (not in test mode) and emits ``invoice.sent``."""
    ctx.emit("invoice.sent", invoice)


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
    "statement_descriptor": nullable_string,
    "rendering": anything,
    "payment_settings": anything,
    "issuer": anything,
    "account_tax_ids": unsupported("tax ids on invoices"),
    "application_fee_amount": unsupported("Connect"),
    "automatic_tax": {"enabled": boolean, "liability": anything},
    "default_source": unsupported("sources"),
    "default_tax_rates": unsupported("tax rates"),
    "discounts": unsupported("discounts"),
    "effective_at": integer(0),
    "number": nullable_string,
    "on_behalf_of": unsupported("Connect"),
    "shipping_cost": unsupported("shipping"),
    "shipping_details": unsupported("shipping"),
    "transfer_data": unsupported("Connect"),
}
CREATE = {
    **_EDITABLE,
    "currency": currency,
    "customer": string,
    "customer_account": unsupported("Accounts v2 customers"),
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
        pi = payment_intent_of(store, invoice)
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
        raise errors.invalid(_MISSING_EMAIL, "collection_method")
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
            raise errors.invalid(_MISSING_EMAIL, "collection_method")
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
            at = store.now() + AUTO_FINALIZE_DELAY
        changes["automatically_finalizes_at"] = at if auto else None
        if auto and at != invoice["automatically_finalizes_at"]:
            schedule(store, at, "invoice.finalize", invoice["id"])
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
    from . import invoice_items

    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    ctx.validate({})
    if invoice["status"] != "draft":
        raise errors.invalid("You can only delete draft invoices.")
    if invoice["billing_reason"] != "manual" and subscription_of(invoice):
        raise errors.invalid(
            "You cannot delete a draft invoice created by a subscription; void it after finalization instead."
        )
    for line in list(lines_of(store, invoice)):
        details = (line.get("parent") or {}).get("invoice_item_details") or {}
        item = store.get("invoiceitem", details.get("invoice_item"))
        if item is not None:
            invoice_items.remove(ctx, item)
    stub = fixture("deleted_invoice") | {"id": invoice["id"]}
    store.delete(invoice, stub)
    ctx.emit("invoice.deleted", invoice)
    return stub


@family.post("/v1/invoices/{id}/finalize")
def finalize_invoice(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate({"auto_advance": boolean})
    check_finalizable(store, invoice)
    finalize(ctx, invoice, p.get("auto_advance"))
    if invoice["status"] == "open" and invoice["auto_advance"]:
        if invoice["collection_method"] == "charge_automatically":
            at = store.now() + AUTO_FINALIZE_DELAY
            previous = store.update(invoice, {"next_payment_attempt": at})
            ctx.emit("invoice.updated", invoice, previous)
            schedule(store, at, "invoice.attempt", invoice["id"])
        else:
            send(ctx, invoice)
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
        check_finalizable(store, invoice)
    out_of_band = p.get("paid_out_of_band", False)
    pm_ref = None
    if not out_of_band:
        pm_ref = p.get("payment_method") or default_payment_method(store, invoice)
        if pm_ref is None and invoice["amount_remaining"] > 0:
            raise errors.invalid(NO_PAYMENT_METHOD)
        if pm_ref is not None:
            payment_methods.check_usable(store, pm_ref, invoice["customer"])
    if invoice["status"] == "draft":
        finalize(ctx, invoice)
        if invoice["status"] == "paid":
            return respond(ctx, invoice)
    if out_of_band:
        cancel_payment(ctx, invoice)
        mark_paid(ctx, invoice, amount=invoice["amount_remaining"], attempted=False, out_of_band=True)
        return respond(ctx, invoice)
    attempt(ctx, invoice, pm_ref, off_session=p.get("off_session", True))
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
        check_finalizable(store, invoice)
        finalize(ctx, invoice)
    send(ctx, invoice)
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
    void(ctx, invoice)
    return respond(ctx, invoice)


def void(ctx: Ctx, invoice: dict[str, Any]) -> None:
    store = ctx.store
    cancel_payment(ctx, invoice)
    _unapply_balance(ctx, invoice)
    previous = store.update(
        invoice,
        {
            "status": "void",
            "auto_advance": False,
            "next_payment_attempt": None,
            "status_transitions": {**invoice["status_transitions"], "voided_at": store.now()},
        },
    )
    emit_change(ctx, invoice, previous, "invoice.voided")
    _subscriptions().invoice_voided(ctx, invoice)


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
    emit_change(ctx, invoice, previous, "invoice.marked_uncollectible")
    return respond(ctx, invoice)


def check_draft(invoice: dict[str, Any], param: str | None = None) -> None:
    if invoice["status"] != "draft":
        raise errors.invalid(
            f"You can only add or change lines on a draft invoice; this invoice is {invoice['status']}.",
            param,
            "invoice_not_editable",
        )


@family.post("/v1/invoices/{id}/add_lines")
def add_lines(ctx: Ctx) -> dict[str, Any]:
    from . import invoice_items

    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate({"lines": array_of(invoice_items.LINE), "invoice_metadata": metadata})
    check_draft(invoice)
    if not p.get("lines"):
        raise errors.missing_param("lines")
    customer = store.require("customer", invoice["customer"], "customer")
    plans = [
        invoice_items.check_line(store, invoice, customer, line, f"lines[{i}]") for i, line in enumerate(p["lines"])
    ]
    for plan in plans:
        invoice_items.apply_line(ctx, invoice, customer, plan)
    _apply_invoice_metadata(ctx, invoice, p)
    return respond(ctx, invoice)


def _apply_invoice_metadata(ctx: Ctx, invoice: dict[str, Any], p: dict[str, Any]) -> None:
    """``invoice_metadata`` of add_lines / remove_lines: merged into the invoice's metadata."""
    if "invoice_metadata" in p:
        merged = merge_metadata(invoice["metadata"], p["invoice_metadata"], p["invoice_metadata"] is None)
        previous = ctx.store.update(invoice, {"metadata": merged})
        if previous:
            ctx.emit("invoice.updated", invoice, previous)


@family.post("/v1/invoices/{id}/remove_lines")
def remove_lines(ctx: Ctx) -> dict[str, Any]:
    from . import invoice_items

    store = ctx.store
    invoice = store.require("invoice", ctx.args["id"])
    p = ctx.validate(
        {"lines": array_of({"id": string, "behavior": enum("delete", "unassign")}), "invoice_metadata": metadata}
    )
    check_draft(invoice)
    if not p.get("lines"):
        raise errors.missing_param("lines")
    targets = []
    for i, line in enumerate(p["lines"]):
        for key in ("id", "behavior"):
            if not line.get(key):
                raise errors.missing_param(f"lines[{i}][{key}]")
        found = next((x for x in lines_of(store, invoice) if x["id"] == line["id"]), None)
        details = ((found or {}).get("parent") or {}).get("invoice_item_details") or {}
        item = store.get("invoiceitem", details.get("invoice_item"))
        if found is None or item is None:
            raise errors.invalid(f"No such line item on this invoice: '{line['id']}'", f"lines[{i}][id]")
        targets.append((item, line["behavior"]))
    for item, behavior in targets:
        if behavior == "delete":
            invoice_items.remove(ctx, item)
        else:
            detach_item(ctx, item)
    _apply_invoice_metadata(ctx, invoice, p)
    return respond(ctx, invoice)


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
        checks.append(lambda inv: subscription_of(inv) == sub)
    if q.get("due_date") is not None:
        checks.append(lambda inv: in_range(inv["due_date"], due))
    predicate = (lambda inv: all(check(inv) for check in checks)) if checks else None
    where = {k: q.get(k) for k in ("customer", "status", "collection_method", "customer_account")}
    page = ctx.page("invoice", q, where=where, predicate=predicate)
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
