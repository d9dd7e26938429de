"""PaymentIntents and charges with Stripe's test cards: successes, declines, 3D Secure, capture, cancel."""

from __future__ import annotations

import pytest
import stripe

from airflow_stripe_automation.testing.test_cards import CARDS


@pytest.fixture
def customer(stripe_client):
    return stripe_client.v1.customers.create(params={"email": "payer@example.com"})


def _pay(client, customer_id, pm, **extra):
    params = {"amount": 2000, "currency": "usd", "customer": customer_id, "payment_method": pm, "confirm": True,
              "off_session": True, **extra}  # fmt: skip
    return client.v1.payment_intents.create(params=params)


def _event_types(server):
    return [e["type"] for e in server.events()]


@pytest.mark.parametrize(
    ("token", "brand", "last4"), [("pm_card_visa", "visa", "4242"), ("pm_card_mastercard", "mastercard", "4444")]
)
def test_succeeding_cards(stripe_client, stripe_server, customer, token, brand, last4):
    pm = stripe_client.v1.payment_methods.attach(token, params={"customer": customer.id})
    assert pm.id.startswith("pm_") and pm.id != token
    assert (pm.card.brand, pm.card.last4, pm.customer) == (brand, last4, customer.id)
    pi = _pay(stripe_client, customer.id, pm.id)
    assert (pi.status, pi.amount_received, pi.payment_method, pi.last_payment_error) == ("succeeded", 2000, pm.id, None)
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.status, charge.paid, charge.captured, charge.amount_captured) == ("succeeded", True, True, 2000)
    assert (charge.payment_intent, charge.payment_method, charge.customer) == (pi.id, pm.id, customer.id)
    assert charge.payment_method_details.card.last4 == last4
    assert charge.outcome.type == "authorized" and charge.failure_code is None
    txn = stripe_client.v1.charges.retrieve(charge.id, params={"expand": ["balance_transaction"]}).balance_transaction
    assert txn.id.startswith("txn_") and (txn.amount, txn.fee, txn.net) == (2000, 88, 1912)
    assert _event_types(stripe_server)[-3:] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]


def test_visa_token_directly_in_a_payment_intent(stripe_client, stripe_server):
    pi = stripe_client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert pi.status == "succeeded"
    assert pi.payment_method.startswith("pm_") and pi.payment_method != "pm_card_visa"
    with pytest.raises(stripe.InvalidRequestError) as info:  # a PaymentMethod without customer is single-use
        stripe_client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "payment_method": pi.payment_method, "confirm": True}
        )
    assert info.value.param == "payment_method"


@pytest.mark.parametrize(
    ("token", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
    ],
)
def test_declining_cards(stripe_client, stripe_server, customer, token, decline_code, message):
    with pytest.raises(stripe.CardError) as info:
        _pay(stripe_client, customer.id, token)
    err = info.value
    assert err.http_status == 402
    assert (err.code, err.error.decline_code, err.user_message) == ("card_declined", decline_code, message)
    body = err.json_body["error"]
    assert body["type"] == "card_error"
    assert body["charge"].startswith("ch_")
    assert body["payment_intent"]["status"] == "requires_payment_method"
    assert body["payment_method"]["card"]["last4"] == CARDS[token].last4
    pi = stripe_client.v1.payment_intents.retrieve(body["payment_intent"]["id"])
    assert pi.status == "requires_payment_method" and pi.payment_method is None
    assert (pi.last_payment_error.code, pi.last_payment_error.decline_code) == ("card_declined", decline_code)
    assert pi.latest_charge == body["charge"]
    charge = stripe_client.v1.charges.retrieve(body["charge"])
    assert (charge.status, charge.paid, charge.failure_code, charge.amount_captured) == (
        "failed",
        False,
        "card_declined",
        0,
    )
    assert charge.outcome.reason == decline_code and charge.balance_transaction is None
    assert _event_types(stripe_server)[-3:] == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
    ]


def test_declining_cards_cannot_be_attached(stripe_client, customer):
    """Stripe validates a card on attach: only pm_card_chargeCustomerFail attaches and then declines."""
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": customer.id})
    assert info.value.code == "card_declined"
    assert stripe_client.v1.customers.payment_methods.list(customer.id).data == []


def test_customer_fail_card_attaches_then_every_charge_fails(stripe_client, stripe_server, customer):
    pm = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": customer.id})
    assert pm.card.last4 == "0341"
    for _ in range(2):
        with pytest.raises(stripe.CardError) as info:
            _pay(stripe_client, customer.id, pm.id)
        assert (info.value.code, info.value.error.decline_code) == ("card_declined", "generic_decline")
    charges = stripe_client.v1.charges.list(params={"customer": customer.id}).data
    assert [c.status for c in charges] == ["failed", "failed"]


def test_authentication_required_off_session(stripe_client, stripe_server, customer):
    pm = stripe_client.v1.payment_methods.attach("pm_card_authenticationRequired", params={"customer": customer.id})
    with pytest.raises(stripe.CardError) as info:
        _pay(stripe_client, customer.id, pm.id)
    assert info.value.code == "authentication_required"
    pi = stripe_client.v1.payment_intents.retrieve(info.value.json_body["error"]["payment_intent"]["id"])
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "authentication_required"
    assert "payment_intent.payment_failed" in _event_types(stripe_server)


def test_authentication_required_on_session_requires_action(stripe_client, stripe_server, customer):
    pm = stripe_client.v1.payment_methods.attach("pm_card_authenticationRequired", params={"customer": customer.id})
    pi = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "customer": customer.id, "payment_method": pm.id, "confirm": True}
    )
    assert pi.status == "requires_action" and pi.next_action.type == "use_stripe_sdk"
    assert pi.latest_charge is None
    assert _event_types(stripe_server)[-1] == "payment_intent.requires_action"


def test_confirm_without_payment_method_is_a_400(stripe_client, customer):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params={"amount": 2000, "currency": "usd", "customer": customer.id, "confirm": True, "off_session": True}
        )
    assert info.value.param == "payment_method"
    pi = stripe_client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.confirm(pi.id)
    assert info.value.param == "payment_method"


def test_create_then_confirm_and_confirm_twice(stripe_client, customer):
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    pi = stripe_client.v1.payment_intents.create(
        params={
            "amount": 3000,
            "currency": "gbp",
            "customer": customer.id,
            "payment_method": pm.id,
            "description": "order 7",
            "receipt_email": "r@example.com",
            "metadata": {"order": "7"},
        }  # fmt: skip
    )
    assert pi.status == "requires_confirmation" and pi.client_secret.startswith(pi.id + "_secret_")
    done = stripe_client.v1.payment_intents.confirm(pi.id, params={"off_session": True})
    assert done.status == "succeeded"
    charge = stripe_client.v1.charges.retrieve(done.latest_charge)
    assert (charge.description, charge.receipt_email, charge.metadata["order"]) == ("order 7", "r@example.com", "7")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.confirm(pi.id)
    assert info.value.code == "payment_intent_unexpected_state"


def test_retry_after_decline_with_another_card(stripe_client, customer):
    with pytest.raises(stripe.CardError) as info:
        _pay(stripe_client, customer.id, "pm_card_chargeDeclinedInsufficientFunds")
    pi_id = info.value.json_body["error"]["payment_intent"]["id"]
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    pi = stripe_client.v1.payment_intents.confirm(pi_id, params={"payment_method": pm.id, "off_session": True})
    assert pi.status == "succeeded" and pi.last_payment_error is None
    assert len(stripe_client.v1.charges.list(params={"payment_intent": pi_id}).data) == 2


def test_manual_capture(stripe_client, stripe_server):
    pi = stripe_client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }  # fmt: skip
    )
    assert (pi.status, pi.amount_capturable) == ("requires_capture", 5000)
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.captured, charge.amount_captured, charge.balance_transaction) == (False, 0, None)
    pi = stripe_client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 4000})
    assert (pi.status, pi.amount_received, pi.amount_capturable) == ("succeeded", 4000, 0)
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.captured, charge.amount_captured, charge.amount_refunded) == (True, 4000, 1000)
    assert "charge.captured" in _event_types(stripe_server)


def test_cancel(stripe_client, stripe_server):
    pi = stripe_client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    canceled = stripe_client.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "abandoned"})
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    assert canceled.canceled_at == stripe_server.now() or abs(canceled.canceled_at - stripe_server.now()) <= 1
    assert _event_types(stripe_server)[-1] == "payment_intent.canceled"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.cancel(pi.id)
    assert info.value.code == "payment_intent_unexpected_state"


def test_payment_method_of_another_customer_is_refused(stripe_client, customer):
    other = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": other.id})
    with pytest.raises(stripe.InvalidRequestError) as info:
        _pay(stripe_client, customer.id, pm.id)
    assert info.value.param == "payment_method"


def test_update_payment_intent(stripe_client):
    pi = stripe_client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "metadata": {"a": "1"}})
    pi = stripe_client.v1.payment_intents.update(pi.id, params={"amount": 1500, "metadata": {"b": "2"}})
    assert pi.amount == 1500 and pi.metadata.to_dict() == {"a": "1", "b": "2"}


def test_create_payment_method_from_test_token(stripe_client, customer):
    pm = stripe_client.v1.payment_methods.create(
        params={"type": "card", "card": {"token": "tok_mastercard"}, "billing_details": {"name": "Jenny"}}
    )
    assert (pm.card.brand, pm.card.last4, pm.billing_details.name, pm.customer) == ("mastercard", "4444", "Jenny", None)
    assert stripe_client.v1.payment_methods.attach(pm.id, params={"customer": customer.id}).customer == customer.id
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_methods.create(params={"type": "card", "card": {"number": "4242424242424242"}})
    assert info.value.param == "card[number]"


def test_all_test_cards_materialize_with_their_last4(stripe_client):
    for token, card in CARDS.items():
        pm = stripe_client.v1.payment_methods.retrieve(token)
        assert (pm.card.brand, pm.card.last4) == (card.brand, card.last4), token
