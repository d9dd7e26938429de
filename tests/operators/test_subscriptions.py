"""StripeCancelSubscriptionOperator against the local Stripe server: state, exactly once, dry run, bad input."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.subscriptions import StripeCancelSubscriptionOperator


@pytest.fixture
def subscription(stripe_client):
    """An active yearly subscription (1,200.00 USD a year) paid with a Visa test card."""
    customer = stripe_client.v1.customers.create(params={"email": "annual@example.com", "name": "Annual Buyer"})
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe_client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    product = stripe_client.v1.products.create(params={"name": "Annual plan"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "unit_amount": 120000, "currency": "usd", "recurring": {"interval": "year"}}
    )
    return stripe_client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}]})


def _cancels(server, subscription_id):
    return [r for r in server.write_requests() if r["path"] == f"/v1/subscriptions/{subscription_id}"]


def test_cancels_the_subscription_with_the_reason(stripe_client, make_context, subscription):
    assert subscription.status == "active"
    out = StripeCancelSubscriptionOperator(
        task_id="cancel",
        subscription_id=f" {subscription.id} ",
        cancellation_comment="Dunning: 8 retries failed",
        cancellation_feedback="unused",
    ).execute(make_context())

    after = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert after.status == "canceled" and after.canceled_at
    assert (after.cancellation_details.comment, after.cancellation_details.feedback) == (
        "Dunning: 8 retries failed",
        "unused",
    )
    assert (out["id"], out["status"], out["canceled_at"], out["customer"]) == (
        subscription.id,
        "canceled",
        after.canceled_at,
        subscription.customer,
    )
    assert out["already_done"] is False


def test_prorate_and_invoice_now_credit_the_unused_time_on_a_final_invoice(stripe_client, make_context, subscription):
    StripeCancelSubscriptionOperator(
        task_id="cancel", subscription_id=subscription.id, prorate="true", invoice_now=True
    ).execute(make_context())

    invoices = stripe_client.v1.invoices.list(params={"subscription": subscription.id}).data
    final = [i for i in invoices if i.id != subscription.latest_invoice]
    assert len(final) == 1
    (line,) = stripe_client.v1.invoices.line_items.list(final[0].id).data
    assert line.amount < 0 and line.description.startswith("Unused time on Annual plan")


def test_cancels_once_across_retries_runs_and_days(stripe_client, stripe_server, make_context, subscription):
    op = StripeCancelSubscriptionOperator(task_id="cancel", subscription_id=subscription.id)
    first = op.execute(make_context(run_id="run_1"))
    retry = op.execute(make_context(run_id="run_1"))
    stripe_server.advance_clock(days=2)
    late = op.execute(make_context(run_id="run_2"))

    assert len(_cancels(stripe_server, subscription.id)) == 1
    assert retry["already_done"] and late["already_done"]
    assert late["canceled_at"] == first["canceled_at"]


def test_a_subscription_canceled_elsewhere_is_left_as_it_is(stripe_client, stripe_server, make_context, subscription):
    stripe_client.v1.subscriptions.cancel(subscription.id)
    before = len(stripe_server.write_requests())

    out = StripeCancelSubscriptionOperator(task_id="cancel", subscription_id=subscription.id).execute(make_context())

    assert (out["status"], out["already_done"]) == ("canceled", True)
    assert len(stripe_server.write_requests()) == before


def test_dry_run_sends_no_write(stripe_client, stripe_server, make_context, subscription):
    before = len(stripe_server.write_requests())
    out = StripeCancelSubscriptionOperator(task_id="cancel", subscription_id=subscription.id, dry_run=True).execute(
        make_context()
    )

    assert out["dry_run"] is True and out["would"] == f"cancel subscription {subscription.id} (active)"
    assert len(stripe_server.write_requests()) == before
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subscription_id": ""}, "subscription_id is required"),
        ({"subscription_id": "cus_123"}, "starting with 'sub_'"),
        ({"subscription_id": "sub_1", "cancellation_feedback": "hated_it"}, "cancellation_feedback must be one of"),
        ({"subscription_id": "sub_1", "invoice_now": "maybe"}, "invoice_now must be true or false"),
    ],
)
def test_bad_input_is_refused_without_any_request(stripe_server, make_context, kwargs, message):
    with pytest.raises(StripeInputError, match=message):
        StripeCancelSubscriptionOperator(task_id="cancel", **kwargs).execute(make_context())
    assert stripe_server.requests == []


def test_create_subscription_once_per_customer(stripe_client, stripe_server, make_context):
    from airflow_stripe_automation.operators.subscriptions import StripeCreateSubscriptionOperator

    customer = stripe_client.v1.customers.create(
        params={
            "email": "new@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    price = stripe_client.v1.prices.create(
        params={
            "unit_amount": 900,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "product_data": {"name": "Starter"},
        }
    )
    op = StripeCreateSubscriptionOperator(task_id="subscribe", customer_id=customer.id, price_id=price.id)
    first = op.execute(make_context(run_id="r1"))
    stripe_server.advance_clock(days=2)
    replay = op.execute(make_context(run_id="backfill"))

    subs = list(
        stripe_client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"}).auto_paging_iter()
    )
    assert [(s.id, s.status) for s in subs] == [(first["id"], "active")]
    assert replay["already_done"] is True and replay["id"] == first["id"]
    assert first["price"] == price.id and first["interval"] == "month"


def test_create_subscription_is_skipped_without_price_and_refuses_bad_ids(stripe_server, make_context):
    from airflow.sdk.exceptions import AirflowSkipException

    from airflow_stripe_automation.operators.subscriptions import StripeCreateSubscriptionOperator

    with pytest.raises(AirflowSkipException, match="no price_id"):
        StripeCreateSubscriptionOperator(task_id="s", customer_id="cus_1", price_id="").execute(make_context())
    with pytest.raises(StripeInputError, match="starting with 'price_'"):
        StripeCreateSubscriptionOperator(task_id="s", customer_id="cus_1", price_id="prod_1").execute(make_context())
    assert stripe_server.requests == []
