"""Invoices: create one from an order (R11), mark one uncollectible (R5).

Retrying an invoice's payment (dunning) lives in :mod:`airflow_stripe_automation.operators.dunning`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_stripe_automation.errors import StripeActionFailed, StripeCardDeclined, StripeInputError
from airflow_stripe_automation.idempotency import MARK_METADATA_KEY, ActionKey
from airflow_stripe_automation.inputs import whole_number
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
    validate_order_id,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from stripe import RequestOptions
    from stripe.params import InvoiceCreateParams, InvoiceItemCreateParams

COLLECTION_METHODS = ("send_invoice", "charge_automatically")
# Stripe's limit of invoice items on one invoice.
MAX_LINES = 250
# Metadata the invoice operator writes besides the mark.
ORDER_METADATA_KEY = "order_id"
LINE_METADATA_KEY = "order_line"
SENT_METADATA_KEY = "airflow_sent"


def _options(key: ActionKey, *step: str) -> RequestOptions:
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
    is not e-mailed twice (a send whose answer was lost before that mark is found by its
    ``invoice.sent`` event, since Stripe forgets the send's key after 24 h).

    The invoice is created with ``auto_advance=false``: this operator finalizes it and sends or
    charges it itself, and Stripe does not e-mail or retry it on its own (use
    :class:`~airflow_stripe_automation.operators.dunning.StripeInvoiceRetryOperator` for payment retries).

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
        order = validate_order_id(self.order_id, "one invoice")
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
        metadata = validate_metadata(self.metadata, ours=[MARK_METADATA_KEY, ORDER_METADATA_KEY, SENT_METADATA_KEY])
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
        self._unfinished: dict[str, Any] | None = None
        listed = self.hook.get_conn().v1.invoices.list(params={"customer": inputs["customer"], "limit": 100})
        for found in listed.auto_paging_iter():
            invoice = plain(found)
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
            if self._unfinished is not None and self._was_sent(invoice):
                # An earlier try sent it and lost the answer (or crashed) before the "sent" mark: past
                # Stripe's 24 h the send's key is forgotten, and sending again would e-mail it again.
                self.log.info(
                    "Invoice %s was sent by an earlier try (its invoice.sent event): not sending again.", invoice["id"]
                )
            else:
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

    def _was_sent(self, invoice: dict[str, Any]) -> bool:
        """Whether Stripe sent ``invoice`` already: an ``invoice.sent`` event of it since it was finalized.

        Stripe keeps events 30 days; an unfinished attempt is resumed by the task's retries, well within.
        """
        finalized = (invoice.get("status_transitions") or {}).get("finalized_at") or invoice.get("created") or 0
        events = self.hook.get_conn().v1.events.list(
            params={"type": "invoice.sent", "created": {"gte": int(finalized)}, "limit": 100}
        )
        for event in events.auto_paging_iter():
            sent = (plain(event).get("data") or {}).get("object") or {}
            if sent.get("id") == invoice["id"]:
                return True
        return False

    def _create_draft(self, inputs: dict[str, Any], key: ActionKey) -> dict[str, Any]:
        params: InvoiceCreateParams = {
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
                if (
                    metadata.get(MARK_METADATA_KEY) in key.marks
                    and whole_number(metadata.get(LINE_METADATA_KEY)) is not None
                ):
                    done.add(int(metadata[LINE_METADATA_KEY]))
        for index, line in enumerate(inputs["items"]):
            if index in done:
                continue
            # The SDK types unit_amount_decimal as Decimal and form-encodes it with str(): an integer
            # amount goes on the wire as the same digits ("1999") as before.
            params: InvoiceItemCreateParams = {
                "customer": inputs["customer"],
                "invoice": invoice["id"],
                "currency": inputs["currency"],
                "description": line["description"],
                "quantity": line["quantity"],
                "unit_amount_decimal": Decimal(line["unit_amount"]),
                "metadata": {**key.metadata(), LINE_METADATA_KEY: str(index)},
            }
            client.invoice_items.create(params=params, options=_options(key, "line", str(index)))
        if resumed:
            self.log.info(
                "Invoice %s had %d of %d lines; added the rest.", invoice["id"], len(done), len(inputs["items"])
            )

    def result(self, obj: Any) -> dict[str, Any]:
        out = _invoice_result(obj)
        out["order_id"] = (obj.get("metadata") or {}).get(ORDER_METADATA_KEY)
        out["collection_method"] = obj.get("collection_method")
        return out


# -- input helpers -----------------------------------------------------------------------------


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
    lines: list[dict[str, Any]] = []
    total = 0
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
        total += quantity * unit_amount
    if total > MAX_AMOUNT:
        # Refused here, not by Stripe at finalize: no draft or invoice items are left behind.
        raise StripeInputError(
            f"the invoice's lines total {total} minor units of {currency}, above Stripe's maximum of {MAX_AMOUNT} "
            "for one invoice; split the order"
        )
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# Classes that moved to another module, by their old name here -> their new module. The old import
# keeps working for DAGs written against it, with a warning that names the new place.
_MOVED = {"StripeInvoiceRetryOperator": "airflow_stripe_automation.operators.dunning"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    new_module = _MOVED[name]
    warnings.warn(
        f"{__name__}.{name} has moved; import it from {new_module} instead",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(new_module), name)
