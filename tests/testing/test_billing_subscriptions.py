"""Subscriptions through the real SDK: creation and its first invoice, payment behaviours, updates, cancel, lists."""

from __future__ import annotations

import pytest
import stripe

from .billing_helpers import customer, event_types, price, subscribe


@pytest.fixture
def plan(stripe_client):
    return price(stripe_client, amount=2500)


def test_create_pays_the_first_invoice(stripe_client, stripe_server, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id, metadata={"team": "a"}, expand=["latest_invoice"])
    assert sub.id.startswith("sub_") and sub.status == "active" and sub.metadata.team == "a"
    item = sub["items"].data[0]
    assert item.id.startswith("si_") and item.price.id == plan.id and item.quantity == 1
    assert item.current_period_start == sub.start_date == sub.billing_cycle_anchor
    assert item.current_period_end > item.current_period_start + 27 * 86400
    invoice = sub.latest_invoice
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid, invoice.total) == (
        "subscription_create", "paid", 2500, 2500,
    )  # fmt: skip
    assert invoice.parent.subscription_details.subscription == sub.id
    line = invoice.lines.data[0]
    assert line.description == "1 × Pro plan (at $25.00 / month)"
    assert line.parent.subscription_item_details.subscription_item == item.id
    assert (line.period.start, line.period.end) == (item.current_period_start, item.current_period_end)
    types = event_types(stripe_server)
    assert types.index("customer.subscription.created") < types.index("invoice.created") < types.index("invoice.paid")
    updated = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.previous_attributes.status == "incomplete" and updated.data.object.status == "active"


def test_quantity_and_inline_price_data(stripe_client, plan):
    cus = customer(stripe_client)
    sub = stripe_client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "product": plan.product,
                        "unit_amount": 300,
                        "recurring": {"interval": "week"},
                    },
                    "quantity": 4,
                }
            ],
            "expand": ["latest_invoice"],
        }
    )
    assert sub.latest_invoice.amount_paid == 1200
    item = sub["items"].data[0]
    assert item.current_period_end - item.current_period_start == 7 * 86400
    inline = stripe_client.v1.prices.retrieve(item.price.id)
    assert inline.active is False  # an inline price: inactive, not in price lists
    assert inline.id not in [p.id for p in stripe_client.v1.prices.list(params={"active": False}).data]


def test_declined_first_payment_leaves_it_incomplete(stripe_client, stripe_server, plan):
    cus = customer(stripe_client, card="pm_card_chargeCustomerFail")
    sub = subscribe(stripe_client, cus.id, plan.id, expand=["latest_invoice"])
    assert sub.status == "incomplete"
    invoice = sub.latest_invoice
    assert (invoice.status, invoice.attempt_count, invoice.amount_paid) == ("open", 1, 0)
    assert invoice.next_payment_attempt is None  # first invoices are not retried
    assert "invoice.payment_failed" in event_types(stripe_server)
    # paying it later (another card) activates the subscription
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": visa.id})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_incomplete_expires_after_23_hours(stripe_client, stripe_server, plan):
    cus = customer(stripe_client, card="pm_card_chargeCustomerFail")
    sub = subscribe(stripe_client, cus.id, plan.id)
    stripe_server.advance_clock(seconds=22 * 3600)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "incomplete"
    stripe_server.advance_clock(seconds=3600 + 5)
    expired = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert expired.status == "incomplete_expired" and expired.ended_at is not None
    assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).status == "void"


def test_default_incomplete_does_not_charge(stripe_client, stripe_server, plan):
    cus = customer(stripe_client)
    sub = subscribe(
        stripe_client, cus.id, plan.id, payment_behavior="default_incomplete",
        expand=["latest_invoice.confirmation_secret", "latest_invoice.payments"],
    )  # fmt: skip
    assert sub.status == "incomplete" and sub.latest_invoice.status == "open"
    assert sub.latest_invoice.confirmation_secret.client_secret.startswith("pi_")
    assert stripe_server.state.store.count("charge") == 0
    pi_id = sub.latest_invoice.payments.data[0].payment.payment_intent
    stripe_client.v1.payment_intents.confirm(pi_id, params={"payment_method": "pm_card_visa"})  # the "client side"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_error_if_incomplete_refuses_and_creates_nothing(stripe_client, stripe_server, plan):
    cus = customer(stripe_client, card="pm_card_chargeCustomerFail")
    with pytest.raises(stripe.CardError) as info:
        subscribe(stripe_client, cus.id, plan.id, payment_behavior="error_if_incomplete")
    assert info.value.http_status == 402 and info.value.code == "card_declined"
    assert stripe_server.state.store.count("subscription") == 0 and stripe_server.state.store.count("invoice") == 0
    bare = customer(stripe_client, card=None, email="bare@example.com")
    with pytest.raises(stripe.InvalidRequestError) as info:
        subscribe(stripe_client, bare.id, plan.id, payment_behavior="error_if_incomplete")
    assert "no attached payment source" in info.value.user_message


def test_no_payment_method_allow_incomplete(stripe_client, plan):
    bare = customer(stripe_client, card=None)
    sub = subscribe(stripe_client, bare.id, plan.id, expand=["latest_invoice"])
    assert sub.status == "incomplete" and sub.latest_invoice.status == "open"


def test_subscription_default_payment_method_wins(stripe_client, plan):
    cus = customer(stripe_client, card="pm_card_chargeCustomerFail")
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    sub = subscribe(stripe_client, cus.id, plan.id, default_payment_method=visa.id, expand=["latest_invoice"])
    assert sub.status == "active" and sub.default_payment_method == visa.id
    stranger = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer(stripe_client).id})
    with pytest.raises(stripe.InvalidRequestError) as info:
        subscribe(stripe_client, cus.id, plan.id, default_payment_method=stranger.id)
    assert info.value.param == "default_payment_method"


def test_trial_starts_trialing_with_a_zero_invoice(stripe_client, stripe_server, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id, trial_period_days=14, expand=["latest_invoice"])
    assert sub.status == "trialing" and sub.trial_end - sub.trial_start == 14 * 86400
    assert sub["items"].data[0].current_period_end == sub.trial_end
    assert (sub.latest_invoice.total, sub.latest_invoice.status) == (0, "paid")
    assert sub.latest_invoice.lines.data[0].description == "Trial period for Pro plan"
    assert stripe_server.state.store.count("charge") == 0


def test_send_invoice_subscription_is_active_and_finalizes_an_hour_later(stripe_client, stripe_server, plan):
    cus = customer(stripe_client, card=None)
    sub = subscribe(stripe_client, cus.id, plan.id, collection_method="send_invoice", days_until_due=30,
                    expand=["latest_invoice"])  # fmt: skip
    assert sub.status == "active" and sub.days_until_due == 30
    assert sub.latest_invoice.status == "draft" and sub.latest_invoice.auto_advance is True
    stripe_server.advance_clock(seconds=3601)
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice.id)
    assert invoice.status == "open"
    assert invoice.due_date == invoice.status_transitions.finalized_at + 30 * 86400
    assert "invoice.sent" in event_types(stripe_server)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "customer"),
        ({"customer": "CUS", "items": []}, "items"),
        ({"customer": "CUS", "items": [{"price": "price_missing"}]}, "items[0][price]"),
        ({"customer": "CUS", "items": [{"price": "ONE_TIME"}]}, "items[0][price]"),
        ({"customer": "CUS", "items": [{"price": "PLAN"}, {"price": "PLAN"}]}, "items[1][price]"),
        ({"customer": "CUS", "items": [{"price": "PLAN"}, {"price": "YEARLY"}]}, "items"),
        ({"customer": "CUS", "items": [{"price": "PLAN"}], "collection_method": "send_invoice"}, "days_until_due"),
        ({"customer": "CUS", "items": [{"price": "PLAN"}], "days_until_due": 3}, "days_until_due"),
        ({"customer": "CUS", "items": [{"price": "PLAN"}], "billing_cycle_anchor": 2_000_000_000},
         "billing_cycle_anchor"),
        ({"customer": "CUS", "items": [{"price": "PLAN"}], "coupon": "X"}, "coupon"),
        ({"customer": "CUS", "items": [{"price": "PLAN"}], "trial_end": 1000}, "trial_end"),
    ],
)  # fmt: skip
def test_create_validation(stripe_client, stripe_server, plan, params, param):
    cus = customer(stripe_client)
    names = {"CUS": cus.id, "PLAN": plan.id, "ONE_TIME": price(stripe_client, interval=None).id,
             "YEARLY": price(stripe_client, interval="year").id}  # fmt: skip
    params = {k: names.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    if "items" in params:
        params["items"] = [{"price": names.get(i["price"], i["price"])} for i in params["items"]]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.create(params=params)
    assert info.value.http_status == 400 and info.value.param == param, info.value.user_message
    assert stripe_server.state.store.count("subscription") == 0


def test_update_metadata_and_cancel_at_period_end(stripe_client, stripe_server, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id, metadata={"a": "1"})
    updated = stripe_client.v1.subscriptions.update(
        sub.id, params={"metadata": {"b": "2"}, "cancel_at_period_end": True}
    )
    end = sub["items"].data[0].current_period_end
    assert updated.metadata.to_dict() == {"a": "1", "b": "2"}
    assert (updated.cancel_at_period_end, updated.cancel_at, updated.status) == (True, end, "active")
    assert updated.canceled_at is not None
    event = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert event.data.previous_attributes.to_dict() == {
        "metadata": {"b": None}, "cancel_at_period_end": False, "cancel_at": None, "canceled_at": None,
    }  # fmt: skip
    resumed = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert (resumed.cancel_at_period_end, resumed.cancel_at, resumed.canceled_at) == (False, None, None)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.update(sub.id, params={"items": [{"price": plan.id, "quantity": 2}]})
    assert info.value.param == "items" and "does not support" in info.value.user_message


def test_cancel_now(stripe_client, stripe_server, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id)
    canceled = stripe_client.v1.subscriptions.cancel(
        sub.id, params={"cancellation_details": {"comment": "too pricey", "feedback": "too_expensive"}}
    )
    assert canceled.status == "canceled" and canceled.canceled_at == canceled.ended_at
    assert canceled.cancellation_details.to_dict() == {
        "comment": "too pricey", "feedback": "too_expensive", "feedback_option": None, "reason": "cancellation_requested",
    }  # fmt: skip
    assert event_types(stripe_server)[-1] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError) as info:  # canceling again: Stripe's 404
        stripe_client.v1.subscriptions.cancel(sub.id)
    assert (info.value.http_status, info.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert "canceled subscription can only update" in info.value.user_message
    assert stripe_client.v1.subscriptions.update(sub.id, params={"metadata": {"x": "y"}}).metadata.x == "y"


def test_cancel_with_proration_and_final_invoice(stripe_client, stripe_server, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id)
    item = sub["items"].data[0]
    stripe_server.set_clock((item.current_period_start + item.current_period_end) // 2)
    stripe_client.v1.subscriptions.cancel(sub.id, params={"prorate": True, "invoice_now": True})
    final = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert final.billing_reason == "subscription_update" and final.status == "paid"
    assert final.total == pytest.approx(-1250, abs=2) and final.amount_due == 0
    assert final.lines.data[0].description.startswith("Unused time on Pro plan after ")
    assert stripe_client.v1.customers.retrieve(cus.id).balance == final.total  # the credit is kept


def test_deleting_the_customer_cancels_its_subscriptions(stripe_client, stripe_server, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id)
    stripe_client.v1.customers.delete(cus.id)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"


def test_list_filters(stripe_client, stripe_server, plan):
    yearly = price(stripe_client, interval="year", amount=20000)
    alice, bob = customer(stripe_client), customer(stripe_client, email="bob@example.com")
    start = stripe_server.set_clock(1_900_000_000)
    a1 = subscribe(stripe_client, alice.id, plan.id)
    stripe_server.advance_clock(seconds=60)
    a2 = subscribe(stripe_client, alice.id, yearly.id)
    b1 = subscribe(stripe_client, bob.id, plan.id)
    failing = customer(stripe_client, card="pm_card_chargeCustomerFail", email="c@example.com")
    c1 = subscribe(stripe_client, failing.id, plan.id)
    stripe_client.v1.subscriptions.cancel(b1.id)

    def ids(**params):
        return [s.id for s in stripe_client.v1.subscriptions.list(params=params).auto_paging_iter()]

    assert ids() == [c1.id, a2.id, a1.id]  # not canceled, newest first
    assert ids(status="all") == [c1.id, b1.id, a2.id, a1.id]
    assert ids(status="canceled") == [b1.id]
    assert ids(status="ended") == [b1.id]
    assert ids(status="incomplete") == [c1.id]
    assert ids(status="active") == [a2.id, a1.id]
    assert ids(customer=alice.id) == [a2.id, a1.id]
    assert ids(price=yearly.id) == [a2.id]
    assert ids(price=plan.id, status="all") == [c1.id, b1.id, a1.id]
    assert ids(created={"lte": start + 30}) == [a1.id]
    assert ids(current_period_end={"gt": start + 100 * 86400}) == [a2.id]
    page = stripe_client.v1.subscriptions.list(params={"limit": 2, "status": "all"})
    assert page.has_more and len(page.data) == 2


def test_search_and_subscription_items(stripe_client, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id, metadata={"tier": "gold"})
    found = stripe_client.v1.subscriptions.search(params={"query": "metadata['tier']:'gold' AND status:'active'"})
    assert [s.id for s in found.data] == [sub.id]
    items = stripe_client.v1.subscription_items.list(params={"subscription": sub.id}).data
    assert [i.id for i in items] == [sub["items"].data[0].id]
    assert stripe_client.v1.subscription_items.retrieve(items[0].id).subscription == sub.id


def test_expand_subscription_fields(stripe_client, plan):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id)
    full = stripe_client.v1.subscriptions.retrieve(
        sub.id, params={"expand": ["customer", "latest_invoice", "default_payment_method", "items.data.price.product"]}
    )
    assert full.customer.id == cus.id and full.latest_invoice.id == sub.latest_invoice
    assert full["items"].data[0].price.product.name == "Pro plan"
    stripe_client.v1.prices.update(plan.id, params={"active": False})  # the embedded price is the current one
    item = stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert item.price.active is False and item.plan.active is False
