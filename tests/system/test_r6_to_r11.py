"""R6–R11 end to end with dag.test() against the local Stripe and SMTP servers: state, mails, once."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pendulum
import pytest

from tests.testing.billing_helpers import customer, draft_invoice, price, subscribe

HOUR = 3600
DAY = 24 * HOUR


def window(start: int, end: int) -> dict[str, str]:
    """The run conf that replays [start, end) (server time, unix seconds)."""
    return {"since": pendulum.from_timestamp(start).isoformat(), "until": pendulum.from_timestamp(end).isoformat()}


def test_r6_mails_each_high_value_overdue_invoice_once(run_dag, stripe_server, stripe_client, smtp_connection):
    cus = customer(stripe_client, card=None, email="late@example.com", name="Late Payer")
    start = stripe_server.now()
    big, small, paid = (
        stripe_client.v1.invoices.finalize_invoice(
            draft_invoice(
                stripe_client, cus.id, amounts=(amount,), collection_method="send_invoice", days_until_due=1
            ).id
        )
        for amount in (60000, 40000, 90000)
    )
    stripe_client.v1.invoices.pay(paid.id, params={"paid_out_of_band": True})
    stripe_server.set_clock(big.due_date + HOUR)  # past due
    conf = window(big.due_date - HOUR, big.due_date + HOUR)

    dag_run, _ = run_dag("stripe_overdue_invoice_alert", conf)
    again, _ = run_dag("stripe_overdue_invoice_alert", conf)

    assert dag_run.state == again.state == "success"
    (mail,) = smtp_connection.messages
    assert mail.subject == f"Invoice {big.number} is overdue: $600.00 due"
    assert "has been overdue for less than a day, with $600.00 due" in mail.body
    assert mail.rcpt_tos == ["collections@example.com"]
    assert f"<td>{big.number}</td>" in mail.body and "<td>$600.00</td>" in mail.body
    assert start < big.due_date


def test_r6_backfilled_says_how_late_each_invoice_is_now(run_dag, stripe_server, stripe_client, smtp_connection):
    """A backfill of the day invoices fell due, run a day later: the mail counts the days to Stripe's clock."""
    cus = customer(stripe_client, card=None, email="later@example.com", name="Later Payer")
    exact, late = (
        stripe_client.v1.invoices.finalize_invoice(
            draft_invoice(
                stripe_client, cus.id, amounts=(amount,), collection_method="send_invoice", days_until_due=1
            ).id
        )
        for amount in (50000, 75000)  # exactly the threshold, and over it
    )
    conf = window(exact.due_date - HOUR, exact.due_date + HOUR)
    stripe_server.set_clock(exact.due_date + DAY + HOUR)
    run_dag("stripe_overdue_invoice_alert", conf)
    stripe_server.set_clock(exact.due_date + 3 * DAY + HOUR)
    run_dag("stripe_overdue_invoice_alert", conf)  # a reprocess later: nothing more

    mails = {m.subject: m.body for m in smtp_connection.messages}
    assert len(smtp_connection.messages) == 2
    assert "has been overdue for 1 day, with $500.00 due" in mails[f"Invoice {exact.number} is overdue: $500.00 due"]
    assert "has been overdue for 1 day, with $750.00 due" in mails[f"Invoice {late.number} is overdue: $750.00 due"]
    assert "at least $500.00 due" in mails[f"Invoice {late.number} is overdue: $750.00 due"]


def test_r7_confirms_each_cancellation_to_the_customer_once(run_dag, stripe_server, stripe_client, smtp_connection):
    cus = customer(stripe_client, email="leaving@example.com", name="Lea Ving")
    sub = subscribe(stripe_client, cus.id, price(stripe_client, 2000, interval="month").id)
    stripe_client.v1.subscriptions.cancel(sub.id)
    conf = {**window(stripe_server.now() - HOUR, stripe_server.now() + 60), "survey_url": "https://example.com/why"}

    dag_run, _ = run_dag("stripe_cancellation_confirmation", conf)
    again, _ = run_dag("stripe_cancellation_confirmation", conf)

    assert dag_run.state == again.state == "success"
    (mail,) = smtp_connection.messages
    assert mail.rcpt_tos == ["leaving@example.com"] and mail.subject == "Your subscription has been canceled"
    assert "Hello Lea Ving" in mail.body and "($20.00 per month)" in mail.body
    assert "https://example.com/why" in mail.body


def test_r8_subscribes_and_credits_each_new_customer_once(run_dag, stripe_server, stripe_client):
    plan = price(stripe_client, 900, interval="month")
    since = stripe_server.now() - 60
    new = customer(stripe_client, email="new@example.com")
    conf = {**window(since, stripe_server.now() + 60), "price_id": plan.id, "credit_amount": 2500}

    dag_run, _ = run_dag("stripe_signup_credit", conf)
    writes = len(stripe_server.write_requests())
    again, _ = run_dag("stripe_signup_credit", conf)

    assert dag_run.state == again.state == "success"
    subs = list(stripe_client.v1.subscriptions.list(params={"customer": new.id}).auto_paging_iter())
    assert [(s.items.data[0].price.id, s.status) for s in subs] == [(plan.id, "active")]
    credits = list(stripe_client.v1.customers.balance_transactions.list(new.id).auto_paging_iter())
    assert [(t.amount, t.description) for t in credits if t.type == "adjustment"] == [(-2500, "Sign-up credit")]
    assert len(stripe_server.write_requests()) == writes  # the replay wrote nothing


def test_r8_without_a_price_only_credits(run_dag, stripe_server, stripe_client):
    since = stripe_server.now() - 60
    new = customer(stripe_client, card=None, email="plain@example.com")
    dag_run, tis = run_dag("stripe_signup_credit", window(since, stripe_server.now() + 60))

    assert dag_run.state == "success"
    assert tis[("each_customer.subscribe", 0)].state == "skipped"
    assert tis[("each_customer.credit", 0)].state == "success"
    assert stripe_client.v1.customers.retrieve(new.id).balance == -1000
    assert list(stripe_client.v1.subscriptions.list(params={"customer": new.id}).auto_paging_iter()) == []


def test_r9_one_payment_link_per_order_mailed_once(run_dag, stripe_client, smtp_connection):
    conf = {"order_id": "SO-1042", "customer_email": "buyer@example.com", "amount": 12500, "currency": "eur"}
    dag_run, tis = run_dag("stripe_payment_link_email", conf)
    again, _ = run_dag("stripe_payment_link_email", conf)

    assert dag_run.state == again.state == "success"
    links = list(stripe_client.v1.payment_links.list(params={"limit": 100}).auto_paging_iter())
    assert len(links) == 1 and links[0].url.startswith("https://buy.stripe.com/")
    items = stripe_client.v1.payment_links.line_items.list(links[0].id).data
    assert [(i.amount_total, i.currency) for i in items] == [(12500, "eur")]
    (mail,) = smtp_connection.messages
    assert mail.rcpt_tos == ["buyer@example.com"] and links[0].url in mail.body


class _Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers.get("Idempotency-Key"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def order_system(monkeypatch):
    """A real HTTP endpoint on loopback standing for the user's order system."""
    _Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORDER_SYSTEM",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": server.server_address[1], "schema": "http"}),
    )
    yield "/orders/paid", _Recorder.received
    server.shutdown()


def test_r10_paid_invoice_emits_asset_event_calls_back_and_mails(
    run_dag, stripe_server, stripe_client, smtp_connection, order_system
):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    url, received = order_system
    cus = customer(stripe_client, email="payer@example.com")
    invoice = stripe_client.v1.invoices.finalize_invoice(
        draft_invoice(stripe_client, cus.id, amounts=(30000,), metadata={"order_id": "SO-77"}).id
    )
    stripe_client.v1.invoices.pay(invoice.id)
    conf = {**window(stripe_server.now() - HOUR, stripe_server.now() + 60), "callback_url": url}

    dag_run, _ = run_dag("stripe_invoice_paid_tracking", conf)

    assert dag_run.state == "success"
    assert [(p, k, b["id"], b["metadata"]["order_id"]) for p, k, b in received] == [
        ("/orders/paid", f"invoice-paid-{invoice.id}", invoice.id, "SO-77")
    ]
    with create_session() as session:
        events = [e.extra for e in session.query(AssetEvent).filter_by(source_run_id=dag_run.run_id).all()]
    # One event per batch task, listing the invoices it acted on.
    assert [e["count"] for e in events] == [1]
    assert [
        (o["id"], o["metadata"]["order_id"], o["amount_paid"], o["currency"], o["customer"])
        for o in events[0]["objects"]
    ] == [(invoice.id, "SO-77", 30000, "usd", cus.id)]
    (mail,) = smtp_connection.messages
    assert mail.subject == f"Invoice {invoice.number} paid: $300.00" and "<td>SO-77</td>" in mail.body


def test_r11_one_invoice_per_order(run_dag, stripe_server, stripe_client):
    cus = customer(stripe_client, card=None, email="orders@example.com")
    conf = {
        "order_id": "SO-9",
        "customer_id": cus.id,
        "currency": "usd",
        "items": [
            {"description": "Consulting", "quantity": 3, "unit_amount": 15000},
            {"description": "Travel", "quantity": 1, "unit_amount": 4000},
        ],
    }
    dag_run, _ = run_dag("stripe_invoice_from_order", conf)
    again, _ = run_dag("stripe_invoice_from_order", conf)

    assert dag_run.state == again.state == "success"
    invoices = list(stripe_client.v1.invoices.list(params={"customer": cus.id}).auto_paging_iter())
    assert len(invoices) == 1
    (inv,) = invoices
    assert (inv.status, inv.amount_due, inv.collection_method, inv.metadata["order_id"]) == (
        "open",
        49000,
        "send_invoice",
        "SO-9",
    )
    assert inv.number and inv.hosted_invoice_url
