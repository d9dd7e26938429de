"""Invoices and invoice items through the real SDK: lifecycle, totals, payments, transitions, lists, events."""

from __future__ import annotations

import re

import pytest
import stripe

from .billing_helpers import customer, draft_invoice, event_types, price


@pytest.fixture
def cus(stripe_client):
    return customer(stripe_client)


def test_draft_lines_and_totals(stripe_client, cus):
    invoice = draft_invoice(stripe_client, cus.id, amounts=(1500, 2500, -500))
    assert invoice.status == "draft" and invoice.number is None and invoice.billing_reason == "manual"
    assert (invoice.subtotal, invoice.total, invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (
        3500, 3500, 3500, 0, 3500,
    )  # fmt: skip
    assert [line.amount for line in invoice.lines.data] == [1500, 2500, -500]
    line = invoice.lines.data[0]
    assert line.id.startswith("il_") and line.invoice == invoice.id and line.description == "Work 1500"
    assert line.parent.type == "invoice_item_details"
    item = stripe_client.v1.invoice_items.retrieve(line.parent.invoice_item_details.invoice_item)
    assert (item.invoice, item.amount, item.customer) == (invoice.id, 1500, cus.id)
    assert item.discountable is True
    credit = stripe_client.v1.invoice_items.retrieve(invoice.lines.data[2].parent.invoice_item_details.invoice_item)
    assert credit.discountable is False  # Stripe: negative items are not discountable by default


def test_price_based_items_and_quantities(stripe_client, cus):
    one_time = price(stripe_client, amount=700, interval=None, name="Setup")
    invoice = stripe_client.v1.invoices.create(params={"customer": cus.id})
    item = stripe_client.v1.invoice_items.create(
        params={"customer": cus.id, "invoice": invoice.id, "pricing": {"price": one_time.id}, "quantity": 3}
    )
    assert (item.amount, item.quantity, item.description) == (2100, 3, "Setup")
    assert item.pricing.price_details.price == one_time.id
    invoice = stripe_client.v1.invoices.retrieve(
        invoice.id, params={"expand": ["lines.data.pricing.price_details.price"]}
    )
    assert invoice.total == 2100
    assert invoice.lines.data[0].pricing.price_details.price.unit_amount == 700
    updated = stripe_client.v1.invoice_items.update(item.id, params={"quantity": 5})
    assert updated.amount == 3500
    assert stripe_client.v1.invoices.retrieve(invoice.id).total == 3500


def test_invoice_item_validation(stripe_client, cus):
    recurring = price(stripe_client)
    invoice = stripe_client.v1.invoices.create(params={"customer": cus.id})
    cases = [
        ({"customer": cus.id, "invoice": invoice.id}, "amount"),
        ({"customer": cus.id, "amount": 100, "pricing": {"price": recurring.id}}, "pricing"),
        ({"customer": cus.id, "pricing": {"price": recurring.id}}, "pricing[price]"),
        ({"customer": cus.id, "amount": 100, "currency": "eur", "invoice": invoice.id}, "invoice"),
        ({"customer": "cus_missing", "amount": 100, "currency": "usd"}, "customer"),
        ({"customer": cus.id, "price": recurring.id}, "price"),  # removed from the API: pricing[price]
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.invoice_items.create(params=params)
        assert info.value.http_status == 400 and info.value.param == param, (params, info.value.user_message)
    assert stripe_client.v1.invoice_items.list().data == []


def test_finalize_assigns_number_urls_and_due_date(stripe_client, stripe_server, cus):
    invoice = draft_invoice(stripe_client, cus.id, collection_method="send_invoice", days_until_due=14)
    stripe_server.advance_clock(days=2)
    finalized = stripe_client.v1.invoices.finalize_invoice(invoice.id)
    now = stripe_server.now()
    assert finalized.status == "open"
    assert re.fullmatch(r"[A-Z0-9]{8}-0001", finalized.number) and finalized.number.startswith(cus.invoice_prefix)
    assert finalized.hosted_invoice_url.startswith("https://invoice.stripe.com/i/")
    assert finalized.invoice_pdf.endswith("/pdf?s=ap")
    assert abs(finalized.status_transitions.finalized_at - now) <= 1
    assert abs(finalized.due_date - (finalized.status_transitions.finalized_at + 14 * 86400)) == 0
    second = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id).id)
    assert second.number == f"{cus.invoice_prefix}-0002"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.finalize_invoice(invoice.id)
    assert info.value.http_status == 400 and "already finalized" in info.value.user_message


def test_pay_with_default_payment_method(stripe_client, stripe_server, cus):
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id, amounts=(4200,)).id)
    paid = stripe_client.v1.invoices.pay(invoice.id, params={"expand": ["payments.data.payment.payment_intent"]})
    assert (paid.status, paid.amount_paid, paid.amount_remaining, paid.attempt_count, paid.attempted) == (
        "paid", 4200, 0, 1, True,
    )  # fmt: skip
    assert paid.status_transitions.paid_at is not None
    payment = paid.payments.data[0]
    assert payment.id.startswith("inpay_") and payment.status == "paid" and payment.amount_paid == 4200
    pi = payment.payment.payment_intent
    assert (pi.status, pi.amount, pi.customer, pi.description) == ("succeeded", 4200, cus.id, "Payment for Invoice")
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert charge.paid and charge.amount == 4200
    assert event_types(stripe_server, "invoice")[-4:] == [
        "invoice_payment.paid", "invoice.paid", "invoice.payment_succeeded", "invoice.updated",
    ]  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.pay(invoice.id)
    assert info.value.user_message == "Invoice is already paid"


def test_pay_declined_is_402_and_counts_the_attempt(stripe_client, stripe_server):
    failing = customer(stripe_client, card="pm_card_chargeCustomerFail")
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, failing.id).id)
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.invoices.pay(invoice.id)
    assert info.value.http_status == 402 and info.value.code == "card_declined"
    after = stripe_client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempt_count, after.attempted, after.amount_paid) == ("open", 1, True, 0)
    assert after.next_payment_attempt is None  # auto_advance defaults to false: no automatic retries
    failed = stripe_client.v1.events.list(params={"type": "invoice.payment_failed"}).data
    assert len(failed) == 1 and failed[0].data.object.attempt_count == 1
    # another card succeeds; the same PaymentIntent is reused
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": failing.id})
    paid = stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": visa.id})
    assert (paid.status, paid.attempt_count) == ("paid", 2)
    payments = stripe_client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    assert len(payments) == 1 and payments[0].status == "paid"


def test_pay_without_any_payment_method_is_400(stripe_client):
    bare = customer(stripe_client, card=None)
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, bare.id).id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.pay(invoice.id)
    assert "no attached payment source or default payment method" in info.value.user_message
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"


def test_pay_a_draft_finalizes_it_first(stripe_client, cus):
    invoice = draft_invoice(stripe_client, cus.id, amounts=(900,))
    paid = stripe_client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid" and paid.number and paid.status_transitions.finalized_at


def test_paid_out_of_band(stripe_client, stripe_server, cus):
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id).id)
    paid = stripe_client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert paid.status == "paid" and paid.amount_remaining == 0
    assert stripe_server.state.store.count("charge") == 0
    assert "invoice.payment_succeeded" not in event_types(stripe_server)  # no payment attempt happened
    pi_id = stripe_client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0].payment.payment_intent
    assert stripe_client.v1.payment_intents.retrieve(pi_id).status == "canceled"


def test_confirming_the_invoice_payment_intent_directly_pays_the_invoice(stripe_client):
    bare = customer(stripe_client, card=None)
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, bare.id).id)
    pi_id = stripe_client.v1.invoice_payments.list(params={"invoice": invoice.id}).data[0].payment.payment_intent
    stripe_client.v1.payment_intents.confirm(pi_id, params={"payment_method": "pm_card_visa"})
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_void_and_mark_uncollectible(stripe_client, stripe_server, cus):
    first = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id).id)
    voided = stripe_client.v1.invoices.void_invoice(first.id)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    second = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id).id)
    bad_debt = stripe_client.v1.invoices.mark_uncollectible(second.id)
    assert bad_debt.status == "uncollectible" and bad_debt.status_transitions.marked_uncollectible_at
    # an uncollectible invoice can still be paid, or voided
    assert stripe_client.v1.invoices.pay(second.id).status == "paid"
    updated = stripe_client.v1.events.list(params={"type": "invoice.updated"}).data
    statuses = [(e.data.object.status, e.data.previous_attributes.to_dict().get("status")) for e in updated]
    assert (
        ("void", "open") in statuses and ("uncollectible", "open") in statuses and ("paid", "uncollectible") in statuses
    )
    assert {"invoice.voided", "invoice.marked_uncollectible"} <= set(event_types(stripe_server))


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ("draft", "void", "only void an invoice that is open or uncollectible"),
        ("draft", "mark_uncollectible", "only mark an invoice as uncollectible if it is open"),
        ("paid", "void", "only void an invoice that is open or uncollectible"),
        ("paid", "pay", "Invoice is already paid"),
        ("paid", "finalize", "already finalized"),
        ("void", "pay", "You can only pay an invoice that is open"),
        ("void", "mark_uncollectible", "only mark an invoice as uncollectible if it is open"),
        ("open", "delete", "You can only delete draft invoices"),
        ("uncollectible", "mark_uncollectible", "only mark an invoice as uncollectible if it is open"),
    ],
)
def test_illegal_transitions_are_400s(stripe_client, cus, setup, action, message):
    c = stripe_client.v1.invoices
    invoice = draft_invoice(stripe_client, cus.id)
    if setup != "draft":
        c.finalize_invoice(invoice.id)
    if setup == "paid":
        c.pay(invoice.id)
    elif setup == "void":
        c.void_invoice(invoice.id)
    elif setup == "uncollectible":
        c.mark_uncollectible(invoice.id)
    before = c.retrieve(invoice.id)
    call = {
        "void": lambda: c.void_invoice(invoice.id),
        "mark_uncollectible": lambda: c.mark_uncollectible(invoice.id),
        "pay": lambda: c.pay(invoice.id),
        "finalize": lambda: c.finalize_invoice(invoice.id),
        "delete": lambda: c.delete(invoice.id),
    }[action]
    with pytest.raises(stripe.InvalidRequestError) as info:
        call()
    assert info.value.http_status == 400 and info.value.error.type == "invalid_request_error"
    assert message in info.value.user_message
    assert c.retrieve(invoice.id).to_dict() == before.to_dict()  # nothing changed


def test_updates_drafts_freely_and_finalized_invoices_only_partly(stripe_client, stripe_server, cus):
    invoice = draft_invoice(stripe_client, cus.id, collection_method="send_invoice", days_until_due=10)
    updated = stripe_client.v1.invoices.update(
        invoice.id, params={"description": "Consulting", "metadata": {"po": "42"}, "days_until_due": 20}
    )
    assert updated.description == "Consulting" and updated.metadata.to_dict() == {"po": "42"}
    assert updated.due_date == invoice.created + 20 * 86400
    event = stripe_client.v1.events.list(params={"type": "invoice.updated"}).data[0]
    assert event.data.previous_attributes.to_dict() == {
        "description": None, "metadata": {"po": None}, "due_date": invoice.created + 10 * 86400,
    }  # fmt: skip
    stripe_client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.update(invoice.id, params={"description": "Changed"})
    assert info.value.code == "invoice_not_editable" and info.value.param == "description"
    assert stripe_client.v1.invoices.update(invoice.id, params={"metadata": {"po": "43"}}).metadata.po == "43"
    with pytest.raises(stripe.InvalidRequestError):  # items on a finalized invoice are frozen too
        stripe_client.v1.invoice_items.update(invoice.lines.data[0].parent.invoice_item_details.invoice_item,
                                              params={"amount": 1})  # fmt: skip


def test_create_validation(stripe_client, stripe_server, cus):
    no_email = customer(stripe_client, email=None)
    cases = [
        ({}, "customer"),
        ({"customer": cus.id, "collection_method": "send_invoice"}, "days_until_due"),
        ({"customer": cus.id, "days_until_due": 5}, "days_until_due"),
        ({"customer": cus.id, "collection_method": "send_invoice", "days_until_due": 5, "due_date": 2_000_000_000},
         "due_date"),
        ({"customer": cus.id, "collection_method": "send_invoice", "due_date": 1000}, "due_date"),
        ({"customer": no_email.id, "collection_method": "send_invoice", "days_until_due": 5}, "collection_method"),
        ({"customer": cus.id, "discounts": [{"coupon": "x"}]}, "discounts"),
        ({"customer": cus.id, "default_payment_method": "pm_missing"}, "default_payment_method"),
    ]  # fmt: skip
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.invoices.create(params=params)
        assert info.value.param == param, (params, info.value.user_message)
    assert stripe_server.state.store.count("invoice") == 0


def test_pending_items_behaviour(stripe_client, cus):
    pending = stripe_client.v1.invoice_items.create(params={"customer": cus.id, "amount": 800, "currency": "usd"})
    assert pending.invoice is None
    assert [i.id for i in stripe_client.v1.invoice_items.list(params={"pending": True}).data] == [pending.id]
    excluded = stripe_client.v1.invoices.create(params={"customer": cus.id})
    assert excluded.total == 0 and excluded.lines.data == []
    included = stripe_client.v1.invoices.create(
        params={"customer": cus.id, "pending_invoice_items_behavior": "include"}
    )
    assert included.total == 800
    assert stripe_client.v1.invoice_items.retrieve(pending.id).invoice == included.id
    assert stripe_client.v1.invoice_items.list(params={"pending": True}).data == []


def test_delete_draft_and_invoice_item(stripe_client, stripe_server, cus):
    invoice = draft_invoice(stripe_client, cus.id, amounts=(1000, 2000))
    item_id = invoice.lines.data[0].parent.invoice_item_details.invoice_item
    deleted_item = stripe_client.v1.invoice_items.delete(item_id)
    assert deleted_item.deleted is True
    assert stripe_client.v1.invoices.retrieve(invoice.id).total == 2000
    gone = stripe_client.v1.invoices.delete(invoice.id)
    assert (gone.id, gone.deleted, gone.object) == (invoice.id, True, "invoice")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.retrieve(invoice.id)
    assert info.value.http_status == 404
    assert {"invoiceitem.deleted", "invoice.deleted"} <= set(event_types(stripe_server))


def test_add_and_remove_lines(stripe_client, cus):
    one_time = price(stripe_client, amount=300, interval=None, name="Widget")
    invoice = stripe_client.v1.invoices.create(params={"customer": cus.id})
    invoice = stripe_client.v1.invoices.add_lines(
        invoice.id,
        params={
            "lines": [
                {"amount": 1000, "description": "Hours"},
                {"pricing": {"price": one_time.id}, "quantity": 2},
            ],
            "invoice_metadata": {"batch": "7"},
        },
    )
    assert [(line.amount, line.description) for line in invoice.lines.data] == [(1000, "Hours"), (600, "Widget")]
    assert invoice.total == 1600 and invoice.metadata.batch == "7"
    invoice = stripe_client.v1.invoices.remove_lines(
        invoice.id, params={"lines": [{"id": invoice.lines.data[0].id, "behavior": "unassign"}]}
    )
    assert invoice.total == 600
    pending = stripe_client.v1.invoice_items.list(params={"pending": True}).data
    assert [p.description for p in pending] == ["Hours"]
    stripe_client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 5}]})
    assert info.value.code == "invoice_not_editable"


def test_lines_endpoint_paginates(stripe_client, cus):
    invoice = draft_invoice(stripe_client, cus.id, amounts=tuple(range(100, 1300, 100)))
    assert len(invoice.lines.data) == 10 and invoice.lines.has_more is True
    walked = [line.amount for line in stripe_client.v1.invoices.line_items.list(
        invoice.id, params={"limit": 5}).auto_paging_iter()]  # fmt: skip
    assert walked == list(range(100, 1300, 100))
    assert stripe_client.v1.invoices.retrieve(invoice.id).total == sum(range(100, 1300, 100))


def test_list_filters(stripe_client, stripe_server, cus):
    other = customer(stripe_client, email="other@example.com")
    start = stripe_server.set_clock(1_900_000_000)
    draft = draft_invoice(stripe_client, cus.id)
    stripe_server.advance_clock(days=1)
    soon = stripe_client.v1.invoices.finalize_invoice(
        draft_invoice(stripe_client, cus.id, collection_method="send_invoice", days_until_due=7).id
    )
    later = stripe_client.v1.invoices.finalize_invoice(
        draft_invoice(stripe_client, other.id, collection_method="send_invoice", days_until_due=30).id
    )
    paid = stripe_client.v1.invoices.pay(draft_invoice(stripe_client, other.id).id)

    def ids(**params):
        return [i.id for i in stripe_client.v1.invoices.list(params=params).auto_paging_iter()]

    assert ids() == [paid.id, later.id, soon.id, draft.id]  # newest first
    assert ids(status="draft") == [draft.id]
    assert ids(status="open") == [later.id, soon.id]
    assert ids(status="paid") == [paid.id]
    assert ids(customer=other.id) == [paid.id, later.id]
    assert ids(collection_method="send_invoice") == [later.id, soon.id]
    assert ids(due_date={"lte": start + 86400 + 8 * 86400}) == [soon.id]
    assert ids(due_date={"gt": start + 86400 + 8 * 86400}) == [later.id]
    assert ids(created={"lt": start + 86400}) == [draft.id]
    assert ids(customer=cus.id, status="open") == [soon.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.list(params={"status": "overdue"})
    assert info.value.param == "status"


def test_pagination_of_invoices(stripe_client, stripe_server, cus):
    made = [stripe_client.v1.invoices.create(params={"customer": cus.id}).id for _ in range(7)]
    page = stripe_client.v1.invoices.list(params={"limit": 3})
    assert [i.id for i in page.data] == made[::-1][:3] and page.has_more
    rest = stripe_client.v1.invoices.list(params={"limit": 10, "starting_after": page.data[-1].id})
    assert [i.id for i in rest.data] == made[::-1][3:] and rest.has_more is False


def test_search_invoices(stripe_client, cus):
    invoice = stripe_client.v1.invoices.create(params={"customer": cus.id, "metadata": {"order": "A-1"}})
    stripe_client.v1.invoices.create(params={"customer": cus.id})
    found = stripe_client.v1.invoices.search(params={"query": "metadata['order']:'A-1' AND status:'draft'"})
    assert [i.id for i in found.data] == [invoice.id]


def test_send_emits_invoice_sent(stripe_client, stripe_server, cus):
    invoice = draft_invoice(stripe_client, cus.id, collection_method="send_invoice", days_until_due=3)
    sent = stripe_client.v1.invoices.send_invoice(invoice.id)
    assert sent.status == "open"  # a draft is finalized before it is sent
    assert event_types(stripe_server, "invoice.")[-1] == "invoice.sent"
    charged = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id).id)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.invoices.send_invoice(charged.id)


def test_customer_credit_balance_lowers_amount_due(stripe_client, stripe_server):
    cus = customer(stripe_client, balance=-500)
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id, amounts=(2000,)).id)
    assert (invoice.total, invoice.amount_due, invoice.starting_balance, invoice.ending_balance) == (
        2000,
        1500,
        -500,
        0,
    )
    assert stripe_client.v1.customers.retrieve(cus.id).balance == 0
    assert stripe_client.v1.invoices.pay(invoice.id).amount_paid == 1500


def test_zero_total_invoice_is_paid_on_finalization(stripe_client, stripe_server, cus):
    invoice = stripe_client.v1.invoices.finalize_invoice(
        stripe_client.v1.invoices.create(params={"customer": cus.id}).id
    )
    assert invoice.status == "paid" and invoice.amount_paid == 0
    assert event_types(stripe_server, "invoice.")[-4:] == [
        "invoice.updated", "invoice.paid", "invoice.payment_succeeded", "invoice.updated",
    ]  # fmt: skip
    assert stripe_server.state.store.count("payment_intent") == 0


def test_event_sequence_and_previous_attributes_of_a_lifecycle(stripe_client, stripe_server, cus):
    invoice = draft_invoice(stripe_client, cus.id)
    stripe_client.v1.invoices.finalize_invoice(invoice.id)
    stripe_client.v1.invoices.pay(invoice.id)
    invoice_events = [e for e in stripe_server.events() if e["type"].startswith("invoice")]
    assert [e["type"] for e in invoice_events] == [
        "invoice.created", "invoiceitem.created", "invoice.updated", "invoice.finalized", "invoice.updated",
        "invoice_payment.paid", "invoice.paid", "invoice.payment_succeeded", "invoice.updated",
    ]  # fmt: skip
    finalized = invoice_events[4]["data"]
    assert finalized["previous_attributes"]["status"] == "draft" and finalized["previous_attributes"]["number"] is None
    paid = invoice_events[-1]["data"]
    assert paid["object"]["status"] == "paid"
    assert paid["previous_attributes"]["status"] == "open" and paid["previous_attributes"]["amount_paid"] == 0
    assert all("previous_attributes" not in e["data"] for e in invoice_events if not e["type"].endswith("updated"))
