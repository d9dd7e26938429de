"""The billing engine: what Stripe Billing does by itself, when the server clock moves or a payment settles.

- The schedule: time-based tasks (``@task(kind)``, :func:`schedule`) run in time order when the
  server clock passes them, each at its own time (its events get that ``created``), as test clocks
  do. Tasks re-check state when they run, so a stale entry does nothing.
- Collection: :func:`finalize` (number, URLs, the customer's balance, the invoice's PaymentIntent),
  :func:`attempt` (one payment attempt with a payment method), :func:`automatic_attempt`
  (Stripe charging by itself), :func:`mark_paid`, :func:`record_failure` (the next retry, 3, 5
  and 7 days after the previous attempt: Stripe's default custom retry schedule), :func:`void`,
  :func:`send`. An invoice follows its PaymentIntent however that was confirmed.
- Auto-advance: a draft is finalized about an hour after creation (``invoice.finalize``), then
  charged or sent; failed automatic payments are retried (``invoice.attempt``).
- Subscriptions follow their invoices: paid -> ``active`` (or ``trialing``), a failed renewal ->
  ``past_due`` and, after the last retry, canceled; a sent invoice unpaid at its due date ->
  ``past_due``; a voided first invoice -> ``incomplete_expired``; :func:`end_subscription`.

The resource families build on this module and it imports none of them back except the ones below
it (PaymentIntents, customer balances): :mod:`.resources.invoices` stores invoices and plugs the
engine's clock and event listeners into the server, :mod:`.resources.subscriptions` registers its
renewal, cancellation, trial and expiry tasks with :func:`task`.
"""

from __future__ import annotations

import heapq
import secrets
from collections.abc import Callable
from typing import Any

from . import currencies, errors
from .registry import Ctx
from .resources import customer_balance, payment_intents

RETRY_DAYS = (3, 5, 7)  # automatic retries after a failed automatic payment, days after the previous
AUTO_FINALIZE_DELAY = 3600  # Stripe finalizes auto-advancing drafts about an hour after creation
ENDED = ("canceled", "incomplete_expired")  # subscription statuses nothing comes back from
MISSING_EMAIL = (
    "Missing email. In order to create invoices that are sent to the customer, the customer must have a valid email."
)
NO_PAYMENT_METHOD = (
    "This customer has no attached payment source or default payment method. Please consider adding a default "
    "payment method. For more information, visit "
    "https://docs.stripe.com/billing/subscriptions/payment-methods-setting#payment-method-priority."
)
_URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# -- the schedule (what happens when the server clock moves) ----------------------------------------

TASKS: dict[str, Callable[[Ctx, str, int], None]] = {}


def task(kind: str) -> Callable:
    """Register ``fn(ctx, object_id, when)`` as the task run for ``kind`` (see :func:`schedule`).

    :param kind: the task's name, e.g. ``"subscription.period_end"``.
    """

    def register(fn: Callable[[Ctx, str, int], None]) -> Callable:
        TASKS[kind] = fn
        return fn

    return register


def schedule(store, when: int, kind: str, object_id: str) -> None:
    """Run ``TASKS[kind](ctx, object_id, when)`` once server time reaches ``when`` (tasks re-check state).

    :param store: the server's store (the queue lives in it, so a reset empties it).
    :param when: the server time to run at.
    :param kind: a kind registered with :func:`task`.
    :param object_id: the object the task is about.
    """
    state = store.private("__billing_schedule__")
    state["seq"] = state.get("seq", 0) + 1
    heapq.heappush(state.setdefault("heap", []), (when, state["seq"], kind, object_id))


def run_due(store, before: int, after: int) -> None:
    """The clock listener: due tasks in time order, each at its own time (events get that ``created``).

    :param store: the server's store.
    :param before: server time before the move.
    :param after: server time after it.
    """
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
            store.settle()  # each task is a request of its own: thousands of renewals never stay open at once
    finally:
        store.clock.frozen = None


def system_ctx(store, request: dict[str, Any] | None = None) -> Ctx:
    """A Ctx for what Stripe does by itself (no request), or on behalf of ``request`` (an event's).

    :param store: the server's store.
    :param request: the ``request`` of the event being reacted to, if any.
    """
    request = request or {}
    return Ctx(store, {}, {}, request_id=request.get("id"), idempotency_key=request.get("idempotency_key"), path="")


def call(ctx: Ctx, handler: Callable[[Ctx], Any], params: dict[str, Any], args: dict[str, str] | None = None) -> Any:
    """Run another family's endpoint handler as part of this request (its events carry our request id).

    :param ctx: the current request's context.
    :param handler: the endpoint handler to run.
    :param params: its (form-decoded) parameters.
    :param args: its path arguments.
    """
    sub = Ctx(
        ctx.store, params, args or {}, request_id=ctx.request_id, idempotency_key=ctx.idempotency_key, path=ctx.path
    )
    return handler(sub)


# -- invoice facts the engine and the families share --------------------------------------------------


def subscription_of(invoice: dict[str, Any]) -> str | None:
    """The id of the subscription an invoice bills, if any (``parent.subscription_details``)."""
    parent = invoice.get("parent") or {}
    return (parent.get("subscription_details") or {}).get("subscription")


def customer_snapshot(customer: dict[str, Any] | None) -> dict[str, Any]:
    """The ``customer_*`` fields an invoice copies from its customer, at creation and at finalization."""
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


def emit_change(ctx: Ctx, invoice: dict[str, Any], previous: dict[str, Any], *specific: str) -> None:
    """The lifecycle events of a change, then ``invoice.updated`` with its ``previous_attributes``.

    :param ctx: the current request's context.
    :param invoice: the changed invoice.
    :param previous: what :meth:`Store.update` returned (the changed fields' old values).
    :param specific: lifecycle event types to emit first, e.g. ``"invoice.paid"``.
    """
    for event_type in specific:
        ctx.emit(event_type, invoice)
    if previous:
        ctx.emit("invoice.updated", invoice, previous)


# -- finalization ---------------------------------------------------------------------------------


def _url_token() -> str:
    return "".join(secrets.choice(_URL_CHARS) for _ in range(40))


def check_finalizable(store, invoice: dict[str, Any]) -> None:
    """Raise the 400 Stripe gives when ``invoice`` cannot be finalized now (changes nothing)."""
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
        raise errors.invalid(MISSING_EMAIL, "customer")


def _pi_description(invoice: dict[str, Any]) -> str:
    return {
        "subscription_create": "Subscription creation",
        "subscription_cycle": "Subscription update",
        "subscription_update": "Subscription update",
    }.get(invoice["billing_reason"], "Payment for Invoice")


def _apply_balance(ctx: Ctx, invoice: dict[str, Any], customer: dict[str, Any]) -> dict[str, int]:
    """The customer's balance at finalization: credit lowers ``amount_due``, a debit raises it, a negative
    total becomes credit, an amount too small to charge is carried over (customer balance transactions)."""
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
    delta = (invoice["starting_balance"] or 0) - (invoice["ending_balance"] or 0)
    customer = ctx.store.get("customer", invoice["customer"])
    if delta and customer is not None:
        customer_balance.apply(
            ctx, customer, delta, invoice["currency"], type="unapplied_from_invoice", invoice=invoice["id"]
        )


def finalize(ctx: Ctx, invoice: dict[str, Any], auto_advance: bool | None = None) -> dict[str, Any]:
    """draft -> open (or paid if nothing is due). Callers validate with :func:`check_finalizable` first.

    :param ctx: the current request's context.
    :param invoice: a stored draft invoice.
    :param auto_advance: a new ``auto_advance``, if the request gave one.
    """
    store = ctx.store
    now = store.now()
    customer = store.require("customer", invoice["customer"], "customer")
    sequence = customer.get("next_invoice_sequence") or 1
    customer["next_invoice_sequence"] = sequence + 1  # Stripe emits nothing for the numbering
    balance = _apply_balance(ctx, invoice, customer)
    token = _url_token()
    days = store.private(invoice["id"]).get("days_until_due")
    changes: dict[str, Any] = {
        **customer_snapshot(customer),
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
    """The PaymentIntent :func:`finalize` created for ``invoice`` (None before, or if nothing was due)."""
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


def mark_paid(ctx: Ctx, invoice: dict[str, Any], *, amount: int, attempted: bool, out_of_band: bool = False) -> None:
    """open -> paid: amounts, ``status_transitions.paid_at``, events, and the subscription's status.

    :param ctx: the current request's context.
    :param invoice: the open invoice.
    :param amount: what this payment brought in (minor units; 0 when nothing was due).
    :param attempted: whether it counts as a payment attempt.
    :param out_of_band: paid outside Stripe (``paid_out_of_band``): no payment record, no charge events.
    """
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
    _subscription_invoice_paid(ctx, invoice)


def _retries(invoice: dict[str, Any]) -> bool:
    """Whether Stripe retries this invoice's failed payments (automatic collection, not a first invoice)."""
    return (
        invoice["auto_advance"]
        and invoice["collection_method"] == "charge_automatically"
        and invoice["billing_reason"] != "subscription_create"
    )


def record_failure(ctx: Ctx, invoice: dict[str, Any], event_type: str = "invoice.payment_failed") -> None:
    """A failed (or action-requiring) payment attempt: counts, the next retry, events, the subscription.

    :param ctx: the current request's context.
    :param invoice: the open invoice.
    :param event_type: ``invoice.payment_failed``, or ``invoice.payment_action_required``.
    """
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
    _subscription_payment_failed(ctx, invoice, final=exhausted)


def attempt(ctx: Ctx, invoice: dict[str, Any], pm_ref: str | None, *, off_session: bool = True) -> None:
    """One payment attempt of an open invoice (validated ``pm_ref``); raises the decline's 402.

    :param ctx: the current request's context.
    :param invoice: the open invoice.
    :param pm_ref: the payment method to charge (None: a failed attempt and the 400 Stripe gives).
    :param off_session: whether the customer is absent (as for every automatic attempt).
    """
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
    )  # the PaymentIntent's events update the invoice (see follow_payment_intent); a decline raises its 402
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
    """Stripe charging an invoice by itself (creation, renewal, retry): True when it got paid.

    :param ctx: the current request's context.
    :param invoice: the open invoice.
    :param off_session: False for a subscription's first invoice paid in the create request.
    """
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


def follow_payment_intent(store, event: dict[str, Any]) -> None:
    """The store-event listener: an invoice follows its PaymentIntent, however that was confirmed.

    :param store: the server's store.
    :param event: the event just recorded.
    """
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


def send(ctx: Ctx, invoice: dict[str, Any]) -> None:
    """Stripe emails the invoice (not in test mode) and emits ``invoice.sent``."""
    ctx.emit("invoice.sent", invoice)


def void(ctx: Ctx, invoice: dict[str, Any]) -> None:
    """open | uncollectible -> void: the payment is canceled, the balance given back, the subscription told."""
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
    _subscription_invoice_voided(ctx, invoice)


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
        _subscription_invoice_sent(ctx, invoice)


@task("invoice.attempt")
def _auto_retry(ctx: Ctx, invoice_id: str, when: int) -> None:
    invoice = ctx.store.get("invoice", invoice_id)
    if invoice is None or invoice["status"] != "open" or invoice["next_payment_attempt"] != when:
        return
    if not invoice["auto_advance"]:
        return
    automatic_attempt(ctx, invoice)


# -- subscriptions following their invoices ---------------------------------------------------------


def set_subscription_status(ctx: Ctx, sub: dict[str, Any], status: str, **more: Any) -> None:
    """Change a subscription's ``status`` (and ``more`` fields); ``customer.subscription.updated`` if it changed."""
    previous = ctx.store.update(sub, {"status": status, **more})
    if previous:
        ctx.emit("customer.subscription.updated", sub, previous)


def end_subscription(ctx: Ctx, sub: dict[str, Any], reason: str | None, details: dict[str, Any] | None = None) -> None:
    """The subscription is canceled now: ``customer.subscription.deleted``; its open invoices stop collecting.

    :param ctx: the current request's context.
    :param sub: the subscription (not already ended).
    :param reason: ``cancellation_details.reason``, e.g. ``"payment_failed"``.
    :param details: the ``comment`` / ``feedback`` the request gave.
    """
    store = ctx.store
    now = store.now()
    cancellation = {**sub["cancellation_details"], **(details or {}), "reason": reason}
    store.update(
        sub,
        {
            "status": "canceled",
            "ended_at": now,
            "canceled_at": sub["canceled_at"] or now,
            "cancellation_details": cancellation,
        },
    )
    found, _ = store.page("invoice", where={"customer": sub["customer"]}, limit=10_000)
    for invoice in found:
        if subscription_of(invoice) == sub["id"] and invoice["status"] == "open" and invoice["auto_advance"]:
            previous = store.update(invoice, {"auto_advance": False, "next_payment_attempt": None})
            ctx.emit("invoice.updated", invoice, previous)
    ctx.emit("customer.subscription.deleted", sub)


def _subscription_invoice_paid(ctx: Ctx, invoice: dict[str, Any]) -> None:
    sub = ctx.store.get("subscription", subscription_of(invoice))
    if sub is None or sub["latest_invoice"] != invoice["id"]:
        return
    if sub["status"] in ("incomplete", "past_due", "unpaid"):
        trialing = sub["trial_end"] is not None and sub["trial_end"] > ctx.store.now()
        set_subscription_status(ctx, sub, "trialing" if trialing else "active")


def _subscription_payment_failed(ctx: Ctx, invoice: dict[str, Any], final: bool) -> None:
    sub = ctx.store.get("subscription", subscription_of(invoice))
    if sub is None or sub["status"] in ENDED or invoice["billing_reason"] == "subscription_create":
        return
    if sub["latest_invoice"] == invoice["id"] and sub["status"] in ("active", "trialing"):
        set_subscription_status(ctx, sub, "past_due")
    if final and invoice["auto_advance"]:
        end_subscription(ctx, sub, "payment_failed")


def _subscription_invoice_voided(ctx: Ctx, invoice: dict[str, Any]) -> None:
    sub = ctx.store.get("subscription", subscription_of(invoice))
    if sub is None or sub["status"] != "incomplete" or invoice["billing_reason"] != "subscription_create":
        return
    now = ctx.store.now()
    set_subscription_status(ctx, sub, "incomplete_expired", ended_at=now, canceled_at=now)


def _subscription_invoice_sent(ctx: Ctx, invoice: dict[str, Any]) -> None:
    if invoice["due_date"] and subscription_of(invoice):
        schedule(ctx.store, invoice["due_date"], "subscription.due", invoice["id"])


@task("subscription.due")
def _due(ctx: Ctx, invoice_id: str, when: int) -> None:
    store = ctx.store
    invoice = store.get("invoice", invoice_id)
    if invoice is None or invoice["status"] != "open" or invoice["due_date"] != when:
        return
    sub = store.get("subscription", subscription_of(invoice))
    if sub is not None and sub["latest_invoice"] == invoice_id and sub["status"] in ("active", "trialing"):
        set_subscription_status(ctx, sub, "past_due")
