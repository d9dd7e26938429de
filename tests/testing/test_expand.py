"""``expand[]`` on the fields the server can resolve, including nested and list paths."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def paid(stripe_client):
    customer = stripe_client.v1.customers.create(params={"email": "x@example.com"})
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    return stripe_client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "customer": customer.id, "payment_method": pm.id, "confirm": True}
    )


def test_expand_on_retrieve(stripe_client, paid):
    pi = stripe_client.v1.payment_intents.retrieve(
        paid.id, params={"expand": ["customer", "payment_method", "latest_charge.balance_transaction"]}
    )
    assert pi.customer.object == "customer" and pi.customer.email == "x@example.com"
    assert pi.payment_method.card.last4 == "4242"
    assert pi.latest_charge.object == "charge"
    assert pi.latest_charge.balance_transaction.object == "balance_transaction"
    plain = stripe_client.v1.payment_intents.retrieve(paid.id)
    assert isinstance(plain.customer, str)  # the stored object was not modified


def test_expand_in_lists_and_on_create(stripe_client, paid):
    listed = stripe_client.v1.payment_intents.list(params={"expand": ["data.customer", "data.latest_charge"]})
    assert listed.data[0].customer.id == paid.customer and listed.data[0].latest_charge.paid is True
    pi = stripe_client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "customer": paid.customer, "expand": ["customer"]}
    )
    assert pi.customer.object == "customer"


def test_expand_with_empty_brackets(http, paid):
    response = http("GET", f"/v1/payment_intents/{paid.id}?expand[]=customer&expand[]=latest_charge")
    assert response.body["customer"]["object"] == "customer"
    assert response.body["latest_charge"]["object"] == "charge"


def test_null_fields_stay_null(stripe_client):
    pi = stripe_client.v1.payment_intents.create(params={"amount": 700, "currency": "usd", "expand": ["customer"]})
    assert pi.customer is None


def test_unexpandable_fields_are_400s(stripe_client, paid):
    for path in ("amount", "metadata", "customer.nothing", "data.customer"):
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.payment_intents.retrieve(paid.id, params={"expand": [path]})
        assert info.value.param == "expand", path
