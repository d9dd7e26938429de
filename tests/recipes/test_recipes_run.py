"""R2–R12 as recipes, run end to end with ``dag.test()`` against the local Stripe server and SMTP sink.

Each test checks what a user sees — Stripe's state, the mails — and, for the recipes that act on
Stripe objects, that replaying the same window does nothing twice.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pendulum
import pytest

from tests.sensors.seeding import DAY, open_invoice, payment, server_time
from tests.testing.billing_helpers import customer, past_renewal, price, subscribe


def _window(start: int, end: int) -> dict[str, str]:
    return {"since": pendulum.from_timestamp(start).isoformat(), "until": pendulum.from_timestamp(end).isoformat()}


def _mapped_states(tis, task: str) -> list[str]:
    return [ti.state for key, ti in sorted(tis.items(), key=str) if isinstance(key, tuple) and key[0].endswith(task)]


def _writes(server, path: str) -> int:
    return len([r for r in server.write_requests() if r["path"].startswith(path)])


def test_r3_mails_large_payments_and_tags_only_the_largest_customers_vip(
    run_recipe, stripe_client, stripe_server, smtp_connection, xcoms
):
    vip, large, small = payment(stripe_client, 250000), payment(stripe_client, 150000), payment(stripe_client, 50000)
    window = _window(vip.created - 60, vip.created + 3600)

    dag_run, tis = run_recipe("recipe_tag_valuable_customers", window)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    assert sorted(m.subject for m in smtp_connection.messages) == sorted(
        [f"Valuable customer: $2,500.00 from {vip.customer}", f"Valuable customer: $1,500.00 from {large.customer}"]
    )
    assert stripe_client.v1.customers.retrieve(vip.customer).metadata.to_dict() == {"tier": "VIP"}
    assert "tier" not in stripe_client.v1.customers.retrieve(large.customer).metadata
    assert "tier" not in stripe_client.v1.customers.retrieve(small.customer).metadata
    # One batch of the two large payments: tag_vip acted on the VIP one and skipped the other.
    assert _mapped_states(tis, "tag_vip") == ["success"]
    pushed = xcoms(dag_run)
    (ticket,) = pushed[("payment_succeeded", "return_value")]
    batch = pushed[("payment_succeeded", ticket["stripe_batch"])]
    assert [batch[p]["id"] for p in pushed[("each_payment.tag_vip", "batch_skipped")]] == [large.id]

    writes = len(stripe_server.write_requests())
    replay, _ = run_recipe("recipe_tag_valuable_customers", window)
    assert replay.state == "success"
    assert len(smtp_connection.messages) == 2
    assert len(stripe_server.write_requests()) == writes  # nothing tagged or marked again


def test_r4_refunds_charges_under_the_dispute_fee_and_sends_the_others_for_review(
    run_recipe, stripe_client, stripe_server, smtp_connection
):
    small, large = payment(stripe_client, 1000), payment(stripe_client, 9900)
    warnings = [stripe_server.create_early_fraud_warning(pi.latest_charge) for pi in (small, large)]
    window = _window(warnings[0]["created"] - 60, warnings[1]["created"] + 60)

    dag_run, tis = run_recipe("recipe_early_fraud_warning", window)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    refunds = list(stripe_client.v1.refunds.list(params={"limit": 100}).auto_paging_iter())
    assert [(r.charge, r.amount, r.reason) for r in refunds] == [(small.latest_charge, 1000, "fraudulent")]
    assert refunds[0].metadata["early_fraud_warning"] == warnings[0]["id"]
    (mail,) = smtp_connection.messages
    assert mail.subject == f"Early fraud warning on {large.latest_charge}: $99.00 to review"
    assert warnings[1]["id"] in mail.body

    replay, _ = run_recipe("recipe_early_fraud_warning", window)
    assert replay.state == "success"
    assert _writes(stripe_server, "/v1/refunds") == 1 and len(smtp_connection.messages) == 1


# Fast dunning for a test run: 2 attempts within ~2 seconds, a grace period of ~1 second.
FAST_DUNNING = {"max_attempts": 2, "retry_window_days": 2 / 86400, "grace_days": 1 / 86400}


def test_r5_cancels_and_writes_off_a_yearly_subscription_after_declined_retries(
    run_recipe, stripe_client, stripe_server
):
    cus = customer(stripe_client, card="pm_card_visa", email="yearly@example.com")
    sub = subscribe(stripe_client, cus.id, price(stripe_client, 120000, interval="year").id)
    failing = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
    stripe_client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": failing.id}})
    renewed_at = past_renewal(stripe_server, stripe_client, sub.id)  # a year on, the renewal fails
    (invoice,) = stripe_client.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).auto_paging_iter()

    window = _window(renewed_at - 300, stripe_server.now() + 60)
    # the sweep runs as the payment fails: the fast schedule (from the failure) is still ahead
    stripe_server.set_clock(invoice.status_transitions.finalized_at, pin=True)
    dag_run, tis = run_recipe("recipe_annual_dunning", {**FAST_DUNNING, **window})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "uncollectible"
    assert stripe_client.v1.invoices.retrieve(invoice.id).attempt_count == 1 + FAST_DUNNING["max_attempts"]
    assert tis[("each_failed_invoice.grace_period", 0)].state == "success"


def test_r6_mails_collections_about_large_overdue_invoices_once(
    run_recipe, stripe_client, stripe_server, smtp_connection
):
    due = stripe_server.now() - 2 * DAY
    with server_time(stripe_server, due - 7 * DAY):  # sent a week before it was due
        big = open_invoice(stripe_client, due, amount=60000)
        open_invoice(stripe_client, due, amount=40000)  # under min_amount_due
    window = _window(due - 3600, due + 3600)

    dag_run, tis = run_recipe("recipe_overdue_invoice_alert", window)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    (mail,) = smtp_connection.messages
    assert mail.to == "collections@example.com"
    assert mail.subject == f"Invoice {big.number} is overdue: $600.00 due"
    # due two days before Stripe's clock: a replay of an old window says how late the invoice is now
    assert "has been overdue for 2 days, with $600.00 due" in mail.body
    assert "at least $500.00 due" in mail.body
    assert "$600.00" in mail.body and big.number in mail.body and big.customer in mail.body

    replay, _ = run_recipe("recipe_overdue_invoice_alert", window)
    assert replay.state == "success" and len(smtp_connection.messages) == 1


def test_r7_confirms_the_cancellation_to_the_customer_with_the_survey_link(
    run_recipe, stripe_client, stripe_server, smtp_connection
):
    cus = customer(stripe_client, email="leaver@example.com", name="Lea Ver")
    sub = subscribe(stripe_client, cus.id, price(stripe_client, 2000, interval="month").id)
    canceled = stripe_client.v1.subscriptions.cancel(sub.id)
    window = _window(canceled.canceled_at - 60, canceled.canceled_at + 60)

    dag_run, tis = run_recipe("recipe_cancellation_confirmation", {**window, "survey_url": "https://example.com/why"})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    (mail,) = smtp_connection.messages
    assert mail.rcpt_tos == ["leaver@example.com"]
    assert mail.subject == "Your subscription has been canceled"
    day = pendulum.from_timestamp(canceled.canceled_at).format("YYYY-MM-DD")
    assert sub.id in mail.body and day in mail.body and "https://example.com/why" in mail.body
    assert "Hello Lea Ver" in mail.body and "$20.00 per month" in mail.body

    replay, _ = run_recipe("recipe_cancellation_confirmation", window)
    assert replay.state == "success" and len(smtp_connection.messages) == 1


def test_r8_subscribes_and_credits_each_new_customer_once(run_recipe, stripe_client, stripe_server):
    plan = price(stripe_client, 2000, interval="month")
    with server_time(stripe_server, stripe_server.now() - 600):
        old = customer(stripe_client, card=None, email="old@example.com")
    new = customer(stripe_client, email="new@example.com")
    conf = {**_window(new.created - 60, new.created + 60), "credit_amount": 2500, "price_id": plan.id}

    dag_run, tis = run_recipe("recipe_signup_credit", conf)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    assert stripe_client.v1.customers.retrieve(new.id).balance == -2500  # a credit
    assert stripe_client.v1.customers.retrieve(old.id).balance == 0
    subs = list(stripe_client.v1.subscriptions.list(params={"customer": new.id}).auto_paging_iter())
    assert [s.items.data[0].price.id for s in subs] == [plan.id]

    replay, _ = run_recipe("recipe_signup_credit", conf)
    assert replay.state == "success"
    assert stripe_client.v1.customers.retrieve(new.id).balance == -2500
    assert len(list(stripe_client.v1.subscriptions.list(params={"customer": new.id}).auto_paging_iter())) == 1


def test_r8_without_a_price_only_credits(run_recipe, stripe_client):
    new = customer(stripe_client, card=None, email="solo@example.com")

    dag_run, tis = run_recipe("recipe_signup_credit", _window(new.created - 60, new.created + 60))

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    assert stripe_client.v1.customers.retrieve(new.id).balance == -1000
    assert list(stripe_client.v1.subscriptions.list(params={"customer": new.id}).auto_paging_iter()) == []


def test_r9_creates_one_payment_link_per_order_and_mails_it_once(
    run_recipe, stripe_client, stripe_server, smtp_connection
):
    conf = {"order_id": "SO-1042", "customer_email": "buyer@example.com", "amount": 12500, "currency": "usd"}

    dag_run, tis = run_recipe("recipe_payment_link_email", conf)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    links = list(stripe_client.v1.payment_links.list(params={"limit": 100}).auto_paging_iter())
    assert len(links) == 1 and links[0].metadata["order_id"] == "SO-1042"
    (mail,) = smtp_connection.messages
    assert mail.rcpt_tos == ["buyer@example.com"] and mail.subject == "Your payment link for order SO-1042"
    assert links[0].url in mail.body

    again, _ = run_recipe("recipe_payment_link_email", conf)  # the same order reaches the stage again
    assert again.state == "success"
    assert len(list(stripe_client.v1.payment_links.list(params={"limit": 100}).auto_paging_iter())) == 1
    assert len(smtp_connection.messages) == 1


@pytest.fixture
def order_system(monkeypatch):
    """An HTTP endpoint standing in for the user's order system; the ``order_system`` connection reaches it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORDER_SYSTEM",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": server.server_port, "schema": "http"}),
    )
    yield received
    server.shutdown()


def test_r10_notifies_staff_emits_the_asset_event_and_calls_the_order_system(
    run_recipe, stripe_client, stripe_server, smtp_connection, order_system
):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    cus = customer(stripe_client, email="payer@example.com")
    invoice = stripe_client.v1.invoices.create(params={"customer": cus.id, "collection_method": "charge_automatically"})
    stripe_client.v1.invoice_items.create(
        params={
            "customer": cus.id,
            "invoice": invoice.id,
            "amount": 4200,
            "currency": "usd",
            "description": "Order SO-7",
        }
    )
    paid = stripe_client.v1.invoices.pay(stripe_client.v1.invoices.finalize_invoice(invoice.id).id)
    assert paid.status == "paid"
    window = _window(paid.status_transitions.paid_at - 60, paid.status_transitions.paid_at + 60)

    dag_run, tis = run_recipe("recipe_invoice_paid_tracking", {**window, "callback_url": "/orders/paid"})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    (mail,) = smtp_connection.messages
    assert mail.subject == f"Invoice {paid.number} paid: $42.00"
    assert [(r["path"], r["json"]["event"], r["json"]["id"], r["json"]["amount_paid"]) for r in order_system] == [
        ("/orders/paid", "invoice.paid", paid.id, 4200)
    ]
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .filter_by(source_dag_id="recipe_invoice_paid_tracking", source_run_id=dag_run.run_id)
            .all()
        )
        assert [e.asset.uri for e in events] == ["stripe://invoices/paid"]

    # Without a callback URL the order system is not called; the staff mail is not sent twice.
    again, tis = run_recipe("recipe_invoice_paid_tracking", window)
    assert again.state == "success"
    assert tis[("each_invoice.call_order_system", 0)].state == "skipped"
    assert len(order_system) == 1 and len(smtp_connection.messages) == 1


def test_r11_creates_sends_and_returns_one_invoice_per_order(run_recipe, stripe_client, stripe_server, xcoms):
    cus = customer(stripe_client, card=None, email="client@example.com")
    conf = {
        "order_id": "SO-77",
        "customer_id": cus.id,
        "days_until_due": 14,
        "items": [
            {"description": "Consulting", "quantity": 2, "unit_amount": 50000},
            {"description": "Travel", "quantity": 1, "unit_amount": 12000},
        ],
    }

    dag_run, tis = run_recipe("recipe_invoice_from_order", conf)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    (invoice,) = stripe_client.v1.invoices.list(params={"customer": cus.id}).auto_paging_iter()
    assert (invoice.status, invoice.amount_due, invoice.collection_method) == ("open", 112000, "send_invoice")
    assert invoice.metadata["order_id"] == "SO-77"
    result = xcoms(dag_run)[("create_invoice", "return_value")]
    assert (result["id"], result["number"], result["hosted_invoice_url"]) == (
        invoice.id,
        invoice.number,
        invoice.hosted_invoice_url,
    )

    again, _ = run_recipe("recipe_invoice_from_order", conf)
    assert again.state == "success"
    assert len(list(stripe_client.v1.invoices.list(params={"customer": cus.id}).auto_paging_iter())) == 1


def test_r12_updates_only_the_given_fields_and_mails_the_courier(run_recipe, stripe_client, smtp_connection):
    cus = stripe_client.v1.customers.create(
        params={"email": "shop@example.com", "name": "Ada Shop", "phone": "+1 555 0100"}
    )
    conf = {
        "customer_id": cus.id,
        "phone": "+4930123",
        "address": {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"},
        "courier_email": "courier@example.com",
    }

    dag_run, tis = run_recipe("recipe_sync_customer_details", conf)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    after = stripe_client.v1.customers.retrieve(cus.id)
    # the phone stays text (a number-looking string is not turned into an int on the way)
    assert (after.name, after.email, after.phone) == ("Ada Shop", "shop@example.com", "+4930123")
    assert (after.address.line1, after.address.postal_code, after.address.country) == (
        "Unter den Linden 1",
        "10117",
        "DE",
    )
    (mail,) = smtp_connection.messages
    assert mail.rcpt_tos == ["courier@example.com"] and mail.subject == "Delivery address for Ada Shop"
    assert "Unter den Linden 1, 10117 Berlin, DE" in mail.body

    quiet, tis = run_recipe("recipe_sync_customer_details", {"customer_id": cus.id, "name": "Ada Shop GmbH"})
    assert quiet.state == "success"
    assert tis["mail_courier"].state == "skipped"
    assert stripe_client.v1.customers.retrieve(cus.id).name == "Ada Shop GmbH"
    assert len(smtp_connection.messages) == 1
