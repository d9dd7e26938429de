"""Invoice operators against the local Stripe server: create from an order, mark uncollectible.

State, exactly once (retries, re-runs, replays past Stripe's 24 h key window, a half-finished earlier
attempt), dry run and bad input. The retry operator has its own module (test_invoice_retry.py).
"""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeActionFailed, StripeCardDeclined, StripeInputError
from airflow_stripe_automation.idempotency import action_key
from airflow_stripe_automation.operators.invoices import (
    StripeCreateInvoiceOperator,
    StripeMarkInvoiceUncollectibleOperator,
)

ITEMS = [
    {"description": "Consulting, March", "quantity": 3, "unit_amount": 15000},
    {"description": "Travel", "quantity": 1, "unit_amount": 4250},
    {"description": "Report", "unit_amount": 9900},
]
TOTAL = 3 * 15000 + 4250 + 9900


def new_customer(stripe_client, card: str = "pm_card_visa"):
    """A customer whose default payment method is that test card."""
    customer = stripe_client.v1.customers.create(params={"email": "billing@example.com", "name": "Billing Co"})
    pm = stripe_client.v1.payment_methods.attach(card, params={"customer": customer.id})
    stripe_client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return customer


def new_open_invoice(stripe_client, card: str = "pm_card_visa", amount: int = 120000):
    """A finalized, unpaid invoice of ``amount`` usd, charged to a new customer's card."""
    customer = new_customer(stripe_client, card)
    invoice = stripe_client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "charge_automatically",
            "auto_advance": False,
            "currency": "usd",
        }
    )
    stripe_client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": amount,
            "currency": "usd",
            "description": "Annual plan",
        }
    )
    return stripe_client.v1.invoices.finalize_invoice(invoice.id, params={"auto_advance": False})


@pytest.fixture
def customer_with_card(stripe_client):
    return lambda card="pm_card_visa": new_customer(stripe_client, card)


@pytest.fixture
def open_invoice(stripe_client):
    return lambda card="pm_card_visa", amount=120000: new_open_invoice(stripe_client, card, amount)


def _lines(stripe_client, invoice_id):
    return [
        (line.description, line.quantity, line.amount)
        for line in stripe_client.v1.invoices.line_items.list(invoice_id).auto_paging_iter()
    ]


def _paths(server, path):
    return [r for r in server.write_requests() if r["path"] == path]


# -- StripeCreateInvoiceOperator ---------------------------------------------------------------


def test_an_order_becomes_a_sent_invoice_with_its_lines(stripe_client, stripe_server, make_context, customer_with_card):
    customer = customer_with_card()
    out = StripeCreateInvoiceOperator(
        task_id="invoice",
        customer_id=customer.id,
        order_id="SO-1001",
        items=ITEMS,
        currency="usd",
        days_until_due="14",
    ).execute(make_context())

    invoice = stripe_client.v1.invoices.retrieve(out["id"])
    assert (invoice.status, invoice.collection_method, invoice.amount_due, invoice.currency) == (
        "open",
        "send_invoice",
        TOTAL,
        "usd",
    )
    assert invoice.due_date - invoice.status_transitions.finalized_at == pytest.approx(14 * 86400, abs=86400)
    assert sorted(_lines(stripe_client, invoice.id)) == sorted(
        [("Consulting, March", 3, 45000), ("Travel", 1, 4250), ("Report", 1, 9900)]
    )
    assert invoice.metadata["order_id"] == "SO-1001"
    assert len(_paths(stripe_server, f"/v1/invoices/{invoice.id}/send")) == 1
    assert out == {
        "id": invoice.id,
        "number": invoice.number,
        "status": "open",
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "amount_due": TOTAL,
        "amount_remaining": TOTAL,
        "currency": "usd",
        "customer": customer.id,
        "order_id": "SO-1001",
        "collection_method": "send_invoice",
        "already_done": False,
    }
    assert out["number"] and out["hosted_invoice_url"]


def test_charge_automatically_finalizes_and_charges_the_default_card(stripe_client, make_context, customer_with_card):
    customer = customer_with_card()
    out = StripeCreateInvoiceOperator(
        task_id="invoice",
        customer_id=customer.id,
        order_id="SO-7",
        items=ITEMS[:1],
        currency="usd",
        collection_method="charge_automatically",
    ).execute(make_context())

    invoice = stripe_client.v1.invoices.retrieve(out["id"])
    assert (invoice.status, invoice.amount_paid, out["status"]) == ("paid", 45000, "paid")


def test_one_invoice_per_order_across_retries_runs_and_days(
    stripe_client, stripe_server, make_context, customer_with_card
):
    customer = customer_with_card()
    op = StripeCreateInvoiceOperator(task_id="invoice", customer_id=customer.id, order_id="SO-9", items=ITEMS)
    first = op.execute(make_context(run_id="run_1"))
    retry = op.execute(make_context(run_id="run_1"))
    other_run = op.execute(make_context(run_id="run_2"))
    stripe_server.advance_clock(days=2)  # past Stripe's 24 h key window: only the mark can find it
    late = op.execute(make_context(run_id="run_3"))

    assert {retry["id"], other_run["id"], late["id"]} == {first["id"]}
    assert retry["already_done"] and other_run["already_done"] and late["already_done"]
    assert len(_paths(stripe_server, "/v1/invoices")) == 1
    assert len(_paths(stripe_server, "/v1/invoiceitems")) == len(ITEMS)
    assert len(_paths(stripe_server, f"/v1/invoices/{first['id']}/send")) == 1  # the customer got one e-mail
    invoices = list(stripe_client.v1.invoices.list(params={"customer": customer.id}).auto_paging_iter())
    assert [i.id for i in invoices] == [first["id"]]


def test_a_task_that_crashed_before_finalizing_completes_the_same_invoice(
    stripe_client, stripe_server, make_context, customer_with_card
):
    customer = customer_with_card()
    op = StripeCreateInvoiceOperator(task_id="invoice", customer_id=customer.id, order_id="SO-12", items=ITEMS)
    stripe_server.fail_next(500, path="/v1/invoices/*", method="POST")  # the finalize call

    with pytest.raises(Exception, match="500|error"):
        op.execute(make_context())
    (draft,) = stripe_client.v1.invoices.list(params={"customer": customer.id}).data
    assert draft.status == "draft"

    out = op.execute(make_context())  # Airflow's retry

    assert (out["id"], out["status"]) == (draft.id, "open")
    assert len(_paths(stripe_server, "/v1/invoices")) == 1
    assert len(_lines(stripe_client, draft.id)) == len(ITEMS)  # the draft's lines were not added twice


def test_a_half_finished_draft_from_long_ago_gets_only_its_missing_lines(
    stripe_client, stripe_server, make_context, customer_with_card
):
    """An attempt weeks ago made the draft and its first line, then died: keys have expired, the mark has not."""
    customer = customer_with_card()
    context = make_context()
    key = action_key(context, object_id="SO-77")
    draft = stripe_client.v1.invoices.create(
        params={
            "customer": customer.id,
            "currency": "usd",
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "auto_advance": False,
            "metadata": {"order_id": "SO-77", **key.metadata()},
        }
    )
    stripe_client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": draft.id,
            "currency": "usd",
            "description": ITEMS[0]["description"],
            "quantity": 3,
            "unit_amount_decimal": "15000",
            "metadata": {**key.metadata(), "order_line": "0"},
        }
    )
    stripe_server.advance_clock(days=20)
    posts_before = len(_paths(stripe_server, "/v1/invoiceitems"))

    out = StripeCreateInvoiceOperator(
        task_id=context["ti"].task_id,
        customer_id=customer.id,
        order_id="SO-77",
        items=ITEMS,
    ).execute(context)

    assert (out["id"], out["status"], out["amount_due"]) == (draft.id, "open", TOTAL)
    assert len(_paths(stripe_server, "/v1/invoices")) == 1  # the draft made by hand above, no other
    assert len(_paths(stripe_server, "/v1/invoiceitems")) - posts_before == 2
    assert sorted(_lines(stripe_client, draft.id)) == sorted(
        [("Consulting, March", 3, 45000), ("Travel", 1, 4250), ("Report", 1, 9900)]
    )


def test_a_declined_automatic_charge_fails_and_is_not_charged_again(
    stripe_client, stripe_server, make_context, customer_with_card
):
    customer = customer_with_card("pm_card_chargeCustomerFail")
    op = StripeCreateInvoiceOperator(
        task_id="invoice",
        customer_id=customer.id,
        order_id="SO-13",
        items=ITEMS[:1],
        collection_method="charge_automatically",
    )
    with pytest.raises(StripeCardDeclined, match="declined"):
        op.execute(make_context())
    (invoice,) = stripe_client.v1.invoices.list(params={"customer": customer.id}).data
    assert invoice.status == "open"

    stripe_server.advance_clock(days=2)
    with pytest.raises(StripeCardDeclined, match="failed earlier"):
        op.execute(make_context(run_id="replay"))
    assert len(_paths(stripe_server, f"/v1/invoices/{invoice.id}/pay")) == 1


def test_create_invoice_dry_run_sends_no_write(stripe_server, make_context, customer_with_card):
    customer = customer_with_card()
    before = len(stripe_server.write_requests())
    out = StripeCreateInvoiceOperator(
        task_id="invoice", customer_id=customer.id, order_id="SO-2", items=ITEMS, currency="usd", dry_run=True
    ).execute(make_context())

    assert out["dry_run"] is True and "$591.50" in out["would"] and "SO-2" in out["would"]
    assert len(stripe_server.write_requests()) == before


def test_items_may_come_as_json_from_a_template(stripe_client, make_context, customer_with_card):
    customer = customer_with_card()
    out = StripeCreateInvoiceOperator(
        task_id="invoice",
        customer_id=customer.id,
        order_id="SO-3",
        currency="jpy",
        items='[{"description": "Tea set", "quantity": 2, "unit_amount": 4500}]',
    ).execute(make_context())
    assert (out["amount_due"], out["currency"]) == (9000, "jpy")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customer_id": "acct_1"}, "starting with 'cus_'"),
        ({"order_id": " "}, "order_id is required"),
        ({"items": []}, "non-empty list"),
        ({"items": "not json"}, "items must be a list"),
        ({"items": [{"description": "x", "unit_amount": 0}]}, r"items\[0\].unit_amount must be greater than zero"),
        ({"items": [{"description": "x", "unit_amount": 10.5}]}, "integer number of minor units"),
        ({"items": [{"unit_amount": 100}]}, r"items\[0\].description is required"),
        ({"items": [{"description": "x"}]}, r"items\[0\].unit_amount is required"),
        ({"items": [{"description": "x", "unit_amount": 100, "quantity": 0}]}, "quantity must be greater than zero"),
        ({"items": [{"description": "x", "unit_amount": 100, "price": "p"}]}, "unknown fields: price"),
        ({"currency": "usdx"}, "not a currency Stripe supports"),
        ({"collection_method": "invoice"}, "collection_method must be one of"),
        ({"days_until_due": "-3"}, "days_until_due must be a positive whole number"),
        ({"metadata": {"airflow_action": "x"}}, "reserved for the provider's mark"),
        ({"metadata": {"order_id": "x"}}, "set by the operator"),
    ],
)
def test_create_invoice_refuses_bad_input_without_any_request(stripe_server, make_context, kwargs, message):
    args = {"customer_id": "cus_123", "order_id": "SO-1", "items": ITEMS, **kwargs}
    with pytest.raises(StripeInputError, match=message):
        StripeCreateInvoiceOperator(task_id="invoice", **args).execute(make_context())
    assert stripe_server.requests == []


# -- StripeMarkInvoiceUncollectibleOperator ----------------------------------------------------


def test_an_open_invoice_is_marked_uncollectible_once(stripe_client, stripe_server, make_context, open_invoice):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    op = StripeMarkInvoiceUncollectibleOperator(task_id="write_off", invoice_id=invoice.id)

    first = op.execute(make_context(run_id="run_1"))
    retry = op.execute(make_context(run_id="run_1"))
    stripe_server.advance_clock(days=2)
    late = op.execute(make_context(run_id="run_2"))

    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "uncollectible"
    assert (first["status"], first["outcome"], first["already_done"]) == (
        "uncollectible",
        "marked_uncollectible",
        False,
    )
    assert (retry["outcome"], late["outcome"], late["already_done"]) == (
        "already_uncollectible",
        "already_uncollectible",
        True,
    )
    assert len(_paths(stripe_server, f"/v1/invoices/{invoice.id}/mark_uncollectible")) == 1


def test_an_invoice_paid_during_the_grace_period_is_not_touched(
    stripe_client, stripe_server, make_context, open_invoice
):
    invoice = open_invoice()
    stripe_client.v1.invoices.pay(invoice.id)
    before = len(stripe_server.write_requests())

    out = StripeMarkInvoiceUncollectibleOperator(task_id="write_off", invoice_id=invoice.id).execute(make_context())

    assert (out["status"], out["outcome"]) == ("paid", "skipped_paid")
    assert len(stripe_server.write_requests()) == before
    with pytest.raises(StripeActionFailed, match="already paid"):
        StripeMarkInvoiceUncollectibleOperator(task_id="write_off", invoice_id=invoice.id, if_paid="fail").execute(
            make_context()
        )
    assert len(stripe_server.write_requests()) == before
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_mark_uncollectible_dry_run_sends_no_write(stripe_client, stripe_server, make_context, open_invoice):
    invoice = open_invoice(amount=50000)
    before = len(stripe_server.write_requests())
    out = StripeMarkInvoiceUncollectibleOperator(task_id="write_off", invoice_id=invoice.id, dry_run=True).execute(
        make_context()
    )

    assert out["dry_run"] is True and out["would"] == f"mark invoice {invoice.id} ($500.00 remaining) uncollectible"
    assert len(stripe_server.write_requests()) == before
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "open"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"invoice_id": None}, "invoice_id is required"),
        ({"invoice_id": "inv_123"}, "starting with 'in_'"),
        ({"invoice_id": "in_123", "if_paid": "ignore"}, "if_paid must be 'skip' or 'fail'"),
    ],
)
def test_mark_uncollectible_refuses_bad_input_without_any_request(stripe_server, make_context, kwargs, message):
    with pytest.raises(StripeInputError, match=message):
        StripeMarkInvoiceUncollectibleOperator(task_id="write_off", **kwargs).execute(make_context())
    assert stripe_server.requests == []
