"""Invoices: create one from an order (R11), retry its payment (R5), mark it uncollectible (R5)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_stripe_automation.errors import (
    StripeActionFailed,
    StripeCardDeclined,
    StripeInputError,
    retryable_errors,
    translate,
)
from airflow_stripe_automation.idempotency import MARK_METADATA_KEY, ActionKey, action_key
from airflow_stripe_automation.money import (
    MAX_AMOUNT,
    InvalidMoneyError,
    format_money,
    normalize_currency,
    validate_amount,
)
from airflow_stripe_automation.objects import summarize
from airflow_stripe_automation.operators.base import (
    StripeWriteOperator,
    plain,
    validate_count,
    validate_id,
    validate_metadata,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

COLLECTION_METHODS = ("send_invoice", "charge_automatically")
# Stripe's limit of invoice items on one invoice.
MAX_LINES = 250
# Metadata the invoice operator writes besides the mark.
ORDER_METADATA_KEY = "order_id"
LINE_METADATA_KEY = "order_line"
SENT_METADATA_KEY = "airflow_sent"


def _options(key: ActionKey, *step: str) -> dict[str, Any]:
    return {"idempotency_key": key.step(*step).idempotency_key}


def _invoice_result(invoice: dict[str, Any]) -> dict[str, Any]:
    return {
        k: invoice.get(k)
        for k in (
            "id",
            "number",
            "status",
            "hosted_invoice_url",
            "amount_due",
            "amount_remaining",
            "currency",
            "customer",
        )
    }


class StripeMarkInvoiceUncollectibleOperator(StripeWriteOperator):
    """
    Mark an open invoice uncollectible (write it off), once.

    The invoice's status is the mark: it is read first, and only an ``open`` invoice is written.
    One already ``uncollectible`` is returned as it is; a ``void`` one is left alone; a ``paid`` one
    (e.g. paid during R5's grace period) is left alone by default, or fails the task with
    ``if_paid="fail"``. The result's ``outcome`` says which: ``marked_uncollectible``,
    ``already_uncollectible``, ``skipped_paid`` or ``skipped_void``.

    :param invoice_id: the invoice, ``in_…`` (templated)
    :param if_paid: what to do with an invoice that is already paid: ``skip`` (log, no write,
        succeed) or ``fail`` (fail the task, no write) (templated)
    """

    template_fields: Sequence[str] = (*StripeWriteOperator.template_fields, "invoice_id", "if_paid")
    action = "mark invoice uncollectible"

    def __init__(self, *, invoice_id: str, if_paid: str = "skip", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invoice_id = invoice_id
        self.if_paid = if_paid

    def validate(self) -> dict[str, Any]:
        invoice = validate_id(self.invoice_id, "in_", "invoice_id")
        if_paid = (self.if_paid or "").strip().lower()
        if if_paid not in ("skip", "fail"):
            raise StripeInputError(f"if_paid must be 'skip' or 'fail', got {self.if_paid!r}")
        return {"invoice": invoice, "if_paid": if_paid}

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["invoice"]

    def prepare(self, inputs: dict[str, Any], context: Context) -> dict[str, Any]:
        current = summarize(self.hook.get_conn().v1.invoices.retrieve(inputs["invoice"]))
        status = current["status"]
        if status == "draft":
            raise StripeActionFailed(
                f"invoice {current['id']} is a draft: only open invoices can be marked uncollectible"
            )
        if status == "paid" and inputs["if_paid"] == "fail":
            raise StripeActionFailed(
                f"invoice {current['id']} is already paid: not marking it uncollectible (if_paid='fail')"
            )
        return {**inputs, "current": current}

    def describe(self, inputs: dict[str, Any]) -> str:
        current = inputs.get("current")
        if not current:
            return f"mark invoice {inputs['invoice']} uncollectible"
        if current["status"] != "open":
            return f"nothing: invoice {current['id']} is {current['status']}"
        due = format_money(current["amount_remaining"] or 0, current["currency"])
        return f"mark invoice {current['id']} ({due} remaining) uncollectible"

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        current = inputs["current"]
        if current["status"] == "open":
            return None
        reason = {
            "paid": "it was paid meanwhile",
            "void": "it was voided",
            "uncollectible": "it already is uncollectible",
        }.get(current["status"], f"its status is {current['status']}")
        self.log.info("Invoice %s is %s: not marking it uncollectible, %s.", current["id"], current["status"], reason)
        outcome = "already_uncollectible" if current["status"] == "uncollectible" else f"skipped_{current['status']}"
        return {**current, "outcome": outcome}

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        invoice = plain(
            self.hook.get_conn().v1.invoices.mark_uncollectible(inputs["invoice"], options=self.request_options(key))
        )
        self.log.info("Invoice %s is %s.", invoice["id"], invoice["status"])
        return {**summarize(invoice), "outcome": "marked_uncollectible"}

    def result(self, obj: Any) -> dict[str, Any]:
        return {**_invoice_result(obj), "outcome": obj["outcome"]}


class StripeCreateInvoiceOperator(StripeWriteOperator):
    """
    Create, finalize and send (or charge) one invoice per order, from its line items.

    The order is the object: the key and the mark (in the invoice's metadata, with ``order_id``)
    come from the order id, and the customer's invoices are searched for the mark before anything
    is written, so a retry, a re-run or a replay months later returns the same invoice. An attempt
    that stopped half-way is completed, not duplicated: every call has its own idempotency key
    (each line's from the order and the line index, then finalize, send or pay), a draft is given
    only its missing lines, and an invoice the operator already sent carries ``airflow_sent`` so it
    is not e-mailed twice.

    The invoice is created with ``auto_advance=false``: this operator finalizes it and sends or
    charges it itself, and Stripe does not e-mail or retry it on its own (use
    :class:`StripeInvoiceRetryOperator` for payment retries).

    :param customer_id: the customer to invoice, ``cus_…`` (templated)
    :param order_id: the order in your system; one invoice per order (templated)
    :param items: the lines, a list of ``{"description", "quantity", "unit_amount"}`` with
        ``unit_amount`` in minor units of ``currency`` and ``quantity`` defaulting to 1; a JSON
        string is accepted too (templated)
    :param currency: the invoice's currency (templated)
    :param collection_method: ``send_invoice`` (finalize and e-mail it, payable online within
        ``days_until_due``) or ``charge_automatically`` (finalize and charge the customer's default
        payment method now) (templated)
    :param days_until_due: days the customer has to pay a sent invoice (templated)
    :param description: the invoice's memo, shown to the customer (templated)
    :param metadata: extra metadata for the invoice (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "customer_id",
        "order_id",
        "items",
        "currency",
        "collection_method",
        "days_until_due",
        "description",
        "metadata",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"items": "json", "metadata": "json"}
    action = "create invoice"

    def __init__(
        self,
        *,
        customer_id: str,
        order_id: str,
        items: list[dict[str, Any]] | str,
        currency: str = "usd",
        collection_method: str = "send_invoice",
        days_until_due: int | str = 30,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.order_id = order_id
        self.items = items
        self.currency = currency
        self.collection_method = collection_method
        self.days_until_due = days_until_due
        self.description = description
        self.metadata = metadata

    def validate(self) -> dict[str, Any]:
        customer = validate_id(self.customer_id, "cus_", "customer_id")
        order = str(self.order_id).strip() if self.order_id is not None else ""
        if not order:
            raise StripeInputError("order_id is required: one invoice is made per order")
        if len(order) > 500:
            raise StripeInputError("order_id must be at most 500 characters (it is stored in Stripe metadata)")
        try:
            currency = normalize_currency(self.currency)
        except InvalidMoneyError as err:
            raise StripeInputError(str(err)) from None
        method = (self.collection_method or "").strip()
        if method not in COLLECTION_METHODS:
            raise StripeInputError(f"collection_method must be one of {', '.join(COLLECTION_METHODS)}, got {method!r}")
        days = None
        if method == "send_invoice":
            days = validate_count(self.days_until_due, "days_until_due")
        metadata = validate_metadata(self.metadata)
        for reserved in (ORDER_METADATA_KEY, SENT_METADATA_KEY):
            if reserved in metadata:
                raise StripeInputError(f"metadata key {reserved!r} is set by the operator")
        if self.description is not None and not isinstance(self.description, str):
            raise StripeInputError("description must be text")
        return {
            "customer": customer,
            "order": order,
            "items": _validate_items(self.items, currency),
            "currency": currency,
            "collection_method": method,
            "days_until_due": days,
            "description": (self.description or "").strip() or None,
            "metadata": metadata,
        }

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["order"]

    def describe(self, inputs: dict[str, Any]) -> str:
        total = sum(line["quantity"] * line["unit_amount"] for line in inputs["items"])
        how = "sent" if inputs["collection_method"] == "send_invoice" else "charged"
        return (
            f"an invoice of {format_money(total, inputs['currency'])} ({_count(len(inputs['items']), 'line')}) to "
            f"{inputs['customer']} for order {inputs['order']}, {how}"
        )

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        self._unfinished = None
        listed = self.hook.get_conn().v1.invoices.list(params={"customer": inputs["customer"], "limit": 100})
        for invoice in listed.auto_paging_iter():
            invoice = plain(invoice)
            if not key.is_marked(invoice):
                continue
            if self._is_finished(invoice, inputs):
                return invoice
            self.log.info(
                "Found invoice %s (%s) of an earlier, unfinished attempt: completing it.",
                invoice["id"],
                invoice["status"],
            )
            self._unfinished = invoice
            return None
        return None

    def _is_finished(self, invoice: dict[str, Any], inputs: dict[str, Any]) -> bool:
        status = invoice["status"]
        if status == "draft":
            return False
        if status != "open":  # paid, void or uncollectible: nothing left for this operator
            return True
        if invoice.get("collection_method") == "send_invoice":
            return bool((invoice.get("metadata") or {}).get(SENT_METADATA_KEY))
        if invoice.get("attempt_count"):
            raise StripeCardDeclined(
                f"the payment of invoice {invoice['id']} for order {inputs['order']} failed earlier "
                f"({invoice.get('attempt_count')} attempt(s)); not charging it again here: retry it with "
                "StripeInvoiceRetryOperator or let the customer pay it",
            )
        return False

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        client = self.hook.get_conn().v1
        invoice = self._unfinished or self._create_draft(inputs, key)
        if invoice["status"] == "draft":
            self._add_missing_lines(invoice, inputs, key, resumed=self._unfinished is not None)
            invoice = plain(
                client.invoices.finalize_invoice(
                    invoice["id"], params={"auto_advance": False}, options=_options(key, "finalize")
                )
            )
            self.log.info("Finalized invoice %s (%s).", invoice["id"], invoice.get("number"))
        if invoice["status"] != "open":
            return invoice
        if inputs["collection_method"] == "send_invoice":
            client.invoices.send_invoice(invoice["id"], options=_options(key, "send"))
            # Record the sending: Stripe remembers the send's key for 24 h only, and sending again e-mails again.
            invoice = plain(
                client.invoices.update(
                    invoice["id"], params={"metadata": {SENT_METADATA_KEY: "true"}}, options=_options(key, "sent")
                )
            )
            self.log.info("Sent invoice %s to the customer: %s", invoice["id"], invoice.get("hosted_invoice_url"))
        else:
            invoice = plain(
                client.invoices.pay(invoice["id"], params={"off_session": True}, options=_options(key, "pay"))
            )
            self.log.info("Charged invoice %s: %s.", invoice["id"], invoice["status"])
        return invoice

    def _create_draft(self, inputs: dict[str, Any], key: ActionKey) -> dict[str, Any]:
        params: dict[str, Any] = {
            "customer": inputs["customer"],
            "currency": inputs["currency"],
            "collection_method": inputs["collection_method"],
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "metadata": {**inputs["metadata"], ORDER_METADATA_KEY: inputs["order"], **key.metadata()},
        }
        if inputs["days_until_due"] is not None:
            params["days_until_due"] = inputs["days_until_due"]
        if inputs["description"]:
            params["description"] = inputs["description"]
        invoice = plain(self.hook.get_conn().v1.invoices.create(params=params, options=self.request_options(key)))
        self.log.info("Created draft invoice %s for order %s.", invoice["id"], inputs["order"])
        return invoice

    def _add_missing_lines(
        self, invoice: dict[str, Any], inputs: dict[str, Any], key: ActionKey, *, resumed: bool
    ) -> None:
        client = self.hook.get_conn().v1
        done: set[int] = set()
        if resumed:
            listed = client.invoice_items.list(params={"invoice": invoice["id"], "limit": 100})
            for item in listed.auto_paging_iter():
                metadata = plain(item).get("metadata") or {}
                if metadata.get(MARK_METADATA_KEY) == key.mark and str(metadata.get(LINE_METADATA_KEY, "")).isdigit():
                    done.add(int(metadata[LINE_METADATA_KEY]))
        for index, line in enumerate(inputs["items"]):
            if index in done:
                continue
            client.invoice_items.create(
                params={
                    "customer": inputs["customer"],
                    "invoice": invoice["id"],
                    "currency": inputs["currency"],
                    "description": line["description"],
                    "quantity": line["quantity"],
                    "unit_amount_decimal": str(line["unit_amount"]),
                    "metadata": {**key.metadata(), LINE_METADATA_KEY: str(index)},
                },
                options=_options(key, "line", str(index)),
            )
        if resumed:
            self.log.info(
                "Invoice %s had %d of %d lines; added the rest.", invoice["id"], len(done), len(inputs["items"])
            )

    def result(self, obj: Any) -> dict[str, Any]:
        out = _invoice_result(obj)
        out["order_id"] = (obj.get("metadata") or {}).get(ORDER_METADATA_KEY)
        out["collection_method"] = obj.get("collection_method")
        return out


class StripeInvoiceRetryOperator(StripeWriteOperator):
    """
    Retry the payment of an open invoice, Smart-Retries style, deferring between attempts.

    Attempt *k* of ``max_attempts`` is due ``window * k / max_attempts`` after the task starts: with
    the defaults (8 attempts, 60 days) on days 7.5, 15, 22.5, … 60, so the last attempt lands at the
    end of the window. The first attempt waits one interval because Stripe's own attempt has just
    failed. Between attempts the task is deferred (``WaitUntilTrigger``: no worker slot held); on
    waking it re-reads the invoice and stops as soon as it is paid — by a retry, by the customer or
    by anyone else — or closed (void, uncollectible).

    A decline is not a task failure: it is logged and the next attempt is scheduled. After the last
    decline the task succeeds with ``outcome="exhausted"``; downstream tasks branch on the result:
    ``{"outcome": "paid" | "exhausted" | "closed", "attempts": n, "paid_by_retry": bool,
    "last_decline_code": …, "status": …, "amount_remaining": …}``.

    Never pays twice: a paid invoice is never paid again, and attempt *k* always sends the key
    (DAG, task, invoice, attempt *k*), so a repeated call, a retried task or a second run over the
    same invoice within Stripe's 24 hours replays the attempt instead of making another. The count
    of attempts lives in the deferral's kwargs; clearing the task starts a new schedule.

    :param invoice_id: the open invoice to collect, ``in_…`` (templated)
    :param max_attempts: how many payment attempts at most, 1–25 (templated)
    :param window: the time over which the attempts are spread: a ``timedelta``, or a number of
        days (templated)
    :param payment_method: pay with this ``pm_…`` instead of the invoice's default (templated)
    :param transient_retry_delay: the wait before repeating an attempt that met a connection error,
        a rate limit or a 5xx (the same attempt, with the same key); after 3 in a row the task fails
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "invoice_id",
        "max_attempts",
        "window",
        "payment_method",
    )
    action = "invoice payment retry"

    MAX_TRANSIENT_ERRORS = 3

    def __init__(
        self,
        *,
        invoice_id: str,
        max_attempts: int | str = 8,
        window: timedelta | float | str = timedelta(days=60),
        payment_method: str | None = None,
        transient_retry_delay: timedelta = timedelta(minutes=5),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.invoice_id = invoice_id
        self.max_attempts = max_attempts
        self.window = window
        self.payment_method = payment_method
        self.transient_retry_delay = transient_retry_delay

    def validate(self) -> dict[str, Any]:
        invoice = validate_id(self.invoice_id, "in_", "invoice_id")
        attempts = validate_count(self.max_attempts, "max_attempts")
        if attempts > 25:
            raise StripeInputError(f"max_attempts must be at most 25, got {attempts}")
        return {
            "invoice": invoice,
            "max_attempts": attempts,
            "window_seconds": _window_seconds(self.window),
            "payment_method": validate_id(self.payment_method, "pm_", "payment_method", required=False),
        }

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["invoice"]

    def describe(self, inputs: dict[str, Any]) -> str:
        days = inputs["window_seconds"] / 86400
        return f"up to {inputs['max_attempts']} payment attempts on invoice {inputs['invoice']} over {days:g} days"

    def schedule(self, inputs: dict[str, Any], started: float) -> list[float]:
        """The due times (epoch seconds) of the attempts, the last one at the end of the window."""
        n, window = inputs["max_attempts"], inputs["window_seconds"]
        return [started + window * k / n for k in range(1, n + 1)]

    def execute(self, context: Context) -> dict[str, Any]:
        inputs = self.validate()
        started = time.time()
        key = action_key(context, object_id=inputs["invoice"], explicit=self.idempotency_key)
        invoice = self._read(inputs)
        if invoice["status"] == "draft":
            raise StripeActionFailed(f"invoice {invoice['id']} is a draft: finalize it before retrying its payment")
        if self.is_dry_run:
            due = [_iso(t) for t in self.schedule(inputs, started)]
            self.log.info(
                "Dry run: would make %s (invoice is %s), at %s; nothing sent.",
                self.describe(inputs),
                invoice["status"],
                ", ".join(due),
            )
            return {
                "dry_run": True,
                "action": self.action,
                "would": self.describe(inputs),
                "schedule": due,
                "status": invoice["status"],
                "idempotency_key": key.step("attempt", "1").idempotency_key,
            }
        self.log.info(
            "Retrying the payment of invoice %s: %s.",
            invoice["id"],
            ", ".join(f"attempt {k} at {_iso(t)}" for k, t in enumerate(self.schedule(inputs, started), 1)),
        )
        return self._continue(inputs, key, invoice, {"attempts": 0, "started": started})

    def execute_complete(self, context: Context, event: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Wake up for the next attempt: re-read the invoice, pay it if still open, defer or finish."""
        # The state comes back in the kwargs (scheduler) and in the event (dag.test() drops the kwargs).
        state = {**kwargs, **((event.get("state") or {}) if isinstance(event, dict) else {})}
        if "started" not in state:
            raise StripeActionFailed("resumed without the retry schedule's state; clear the task to start again")
        inputs = self.validate()
        key = action_key(context, object_id=inputs["invoice"], explicit=self.idempotency_key)
        return self._continue(inputs, key, self._read(inputs), state)

    # -- the loop --------------------------------------------------------------------------------

    def _continue(
        self, inputs: dict[str, Any], key: ActionKey, invoice: dict[str, Any], state: dict[str, Any]
    ) -> dict[str, Any]:
        import stripe

        state = {"attempts": 0, "transient": 0, "last_decline_code": None, "paid_by_retry": False, **state}
        # Woken by the trigger: the attempt it waited for is due now (whatever this host's clock says).
        woken = state.pop("woken", False)
        due = self.schedule(inputs, state["started"])
        while True:
            if invoice["status"] != "open":
                return self._finish(invoice, state)
            if state["attempts"] >= inputs["max_attempts"]:
                self.log.warning(
                    "Invoice %s is still unpaid after %d attempts: retries exhausted.", invoice["id"], state["attempts"]
                )
                return self._finish(invoice, state, outcome="exhausted")
            number = state["attempts"] + 1
            if not woken and due[number - 1] > time.time():
                self._sleep_until(due[number - 1], state, f"attempt {number}")
            woken = False
            try:
                invoice = self._attempt(inputs, key, number)
            except stripe.CardError as err:
                state.update(attempts=number, transient=0, last_decline_code=_decline_code(err))
                self.log.warning(
                    "Attempt %d of %d on invoice %s was declined: %s.",
                    number,
                    inputs["max_attempts"],
                    inputs["invoice"],
                    state["last_decline_code"],
                )
                invoice = self._read(inputs)
                continue
            except retryable_errors() as err:
                state["transient"] += 1
                if state["transient"] > self.MAX_TRANSIENT_ERRORS:
                    raise
                self.log.warning(
                    "Attempt %d on invoice %s met %s; trying it again later with the same key.",
                    number,
                    inputs["invoice"],
                    type(err).__name__,
                )
                self._sleep_until(time.time() + self.transient_retry_delay.total_seconds(), state, f"attempt {number}")
            except stripe.InvalidRequestError as err:
                invoice = self._read(inputs)
                if invoice["status"] != "open":  # paid or closed between our read and the attempt
                    continue
                # e.g. no usable payment method: the customer may still fix it before the next attempt
                state.update(
                    attempts=number, transient=0, last_decline_code=getattr(err, "code", None) or "invalid_request"
                )
                self.log.warning(
                    "Attempt %d of %d on invoice %s was refused: %s.",
                    number,
                    inputs["max_attempts"],
                    inputs["invoice"],
                    getattr(err, "user_message", None) or err,
                )
                continue
            except stripe.StripeError as err:
                raise translate(err, f"attempt {number} to pay invoice {inputs['invoice']}") from err
            state.update(attempts=number, transient=0)
            if invoice["status"] == "paid":
                state["paid_by_retry"] = True
                self.log.info("Attempt %d paid invoice %s.", number, invoice["id"])
            else:
                self.log.warning("Attempt %d left invoice %s %s.", number, invoice["id"], invoice["status"])
                state["last_decline_code"] = invoice["status"]

    def _sleep_until(self, moment: float, state: dict[str, Any], what: str) -> None:
        from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

        self.log.info("Deferring until %s for %s.", _iso(moment), what)
        woken = {**state, "woken": True}
        self.defer(
            trigger=WaitUntilTrigger(moment=moment, state=woken),
            method_name="execute_complete",
            kwargs=woken,
        )

    def _attempt(self, inputs: dict[str, Any], key: ActionKey, number: int) -> dict[str, Any]:
        params: dict[str, Any] = {"off_session": True}
        if inputs["payment_method"]:
            params["payment_method"] = inputs["payment_method"]
        attempt_key = key.step("attempt", str(number))
        self.log.info(
            "Attempt %d of %d to pay invoice %s (idempotency key %s).",
            number,
            inputs["max_attempts"],
            inputs["invoice"],
            attempt_key.idempotency_key,
        )
        return plain(
            self.hook.get_conn().v1.invoices.pay(
                inputs["invoice"], params=params, options={"idempotency_key": attempt_key.idempotency_key}
            )
        )

    def _read(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import stripe

        try:
            return plain(self.hook.get_conn().v1.invoices.retrieve(inputs["invoice"]))
        except stripe.StripeError as err:
            raise translate(err, f"reading invoice {inputs['invoice']}") from err

    def _finish(self, invoice: dict[str, Any], state: dict[str, Any], outcome: str | None = None) -> dict[str, Any]:
        self._link(invoice)
        if outcome is None:
            outcome = "paid" if invoice["status"] == "paid" else "closed"
        if outcome == "paid" and not state["paid_by_retry"]:
            self.log.info("Invoice %s is paid (not by this task's attempts): stopping.", invoice["id"])
        elif outcome == "closed":
            self.log.info("Invoice %s is %s: nothing left to collect, stopping.", invoice["id"], invoice["status"])
        return {
            "invoice": invoice["id"],
            "outcome": outcome,
            # when the policy ended: a grace period after it starts here
            "finished_at": int(time.time()),
            "attempts": state["attempts"],
            "paid_by_retry": state["paid_by_retry"],
            "last_decline_code": state["last_decline_code"],
            "status": invoice["status"],
            "amount_due": invoice.get("amount_due"),
            "amount_remaining": invoice.get("amount_remaining"),
            "currency": invoice.get("currency"),
            "customer": invoice.get("customer"),
        }


# -- input helpers -----------------------------------------------------------------------------


def _window_seconds(window: Any) -> float:
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window) * 86400
    elif isinstance(window, str):
        try:
            seconds = float(window.strip()) * 86400
        except ValueError:
            raise StripeInputError(f"window must be a timedelta or a number of days, got {window!r}") from None
    else:
        raise StripeInputError(f"window must be a timedelta or a number of days, got {window!r}")
    if not seconds > 0:
        raise StripeInputError(f"window must be longer than zero, got {window!r}")
    return seconds


def _validate_items(items: Any, currency: str) -> list[dict[str, Any]]:
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError:
            raise StripeInputError(
                "items must be a list of {description, quantity, unit_amount} (or its JSON)"
            ) from None
    if not isinstance(items, (list, tuple)) or not items:
        raise StripeInputError("items must be a non-empty list of {description, quantity, unit_amount}")
    if len(items) > MAX_LINES:
        raise StripeInputError(f"an invoice holds at most {MAX_LINES} lines, got {len(items)}")
    lines = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise StripeInputError(f"{where} must be a mapping with description, quantity, unit_amount")
        unknown = set(item) - {"description", "quantity", "unit_amount"}
        if unknown:
            raise StripeInputError(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
        description = item.get("description")
        if not isinstance(description, str) or not description.strip():
            raise StripeInputError(f"{where}.description is required")
        if "unit_amount" not in item:
            raise StripeInputError(f"{where}.unit_amount is required (minor units of {currency})")
        try:
            unit_amount = validate_amount(item["unit_amount"], currency, field=f"{where}.unit_amount")
        except InvalidMoneyError as err:
            raise StripeInputError(str(err)) from None
        quantity = validate_count(item.get("quantity", 1), f"{where}.quantity")
        if quantity * unit_amount > MAX_AMOUNT:
            raise StripeInputError(f"{where} totals {quantity * unit_amount}, above Stripe's maximum of {MAX_AMOUNT}")
        lines.append({"description": description.strip(), "quantity": quantity, "unit_amount": unit_amount})
    return lines


def _decline_code(err: Any) -> str | None:
    error = getattr(err, "error", None)
    return getattr(error, "decline_code", None) or getattr(err, "code", None) or getattr(error, "code", None)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds")
