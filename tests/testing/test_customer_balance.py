"""Customer balance transactions: credits and debits move ``customer.balance``, in the right currency."""

from __future__ import annotations

import pytest
import stripe

from .test_shapes import assert_shape


@pytest.fixture
def customer(stripe_client):
    return stripe_client.v1.customers.create(params={"email": "balance@example.com"})


def test_credit_and_debit_move_the_balance(stripe_client, stripe_server, customer, http):
    txns = stripe_client.v1.customers.balance_transactions
    credit = txns.create(customer.id, params={"amount": -500, "currency": "usd", "description": "Goodwill"})
    assert credit.id.startswith("cbtxn_")
    assert (credit.amount, credit.ending_balance, credit.type, credit.customer, credit.currency) == (
        -500,
        -500,
        "adjustment",
        customer.id,
        "usd",
    )
    assert credit.description == "Goodwill" and credit.invoice is None
    assert_shape(http("GET", f"/v1/customers/{customer.id}/balance_transactions/{credit.id}").body)
    fetched = stripe_client.v1.customers.retrieve(customer.id)
    assert (fetched.balance, fetched.currency) == (-500, "usd")  # the customer's currency was unset: now usd

    debit = txns.create(customer.id, params={"amount": 200, "currency": "usd"})
    assert debit.ending_balance == -300
    assert stripe_client.v1.customers.retrieve(customer.id).balance == -300

    updates = stripe_server.events("customer.updated")
    assert [e["data"]["previous_attributes"] for e in updates] == [
        {"balance": 0, "currency": None},
        {"balance": -500},
    ]
    assert updates[-1]["data"]["object"]["balance"] == -300
    types = {e["type"] for e in stripe_server.events()}
    assert not any(t.startswith("customer_balance_transaction") for t in types)  # Stripe has no such event


def test_another_currency_goes_to_its_own_balance(stripe_client, customer):
    txns = stripe_client.v1.customers.balance_transactions
    txns.create(customer.id, params={"amount": -1000, "currency": "usd"})
    eur = txns.create(customer.id, params={"amount": -300, "currency": "eur"})
    assert (eur.currency, eur.ending_balance) == ("eur", -300)
    again = txns.create(customer.id, params={"amount": -200, "currency": "EUR"})
    assert (again.currency, again.ending_balance) == ("eur", -500)
    fetched = stripe_client.v1.customers.retrieve(customer.id)
    assert (fetched.currency, fetched.balance) == ("usd", -1000)  # the default-currency balance is untouched


def test_retrieve_update_list(stripe_client, stripe_server, customer):
    txns = stripe_client.v1.customers.balance_transactions
    made = [txns.create(customer.id, params={"amount": amount, "currency": "usd"}) for amount in (100, 200, 300)]
    listed = txns.list(customer.id)
    assert [t.id for t in listed.data] == [t.id for t in reversed(made)]
    assert listed.url == f"/v1/customers/{customer.id}/balance_transactions"
    page = txns.list(customer.id, params={"limit": 2})
    assert page.has_more is True and len(page.data) == 2
    rest = txns.list(customer.id, params={"limit": 2, "starting_after": page.data[-1].id})
    assert [t.id for t in rest.data] == [made[0].id] and rest.has_more is False

    updated = txns.update(customer.id, made[0].id, params={"description": "fixed", "metadata": {"ref": "A1"}})
    assert (updated.description, updated.metadata.to_dict()) == ("fixed", {"ref": "A1"})
    assert txns.retrieve(customer.id, made[0].id).metadata.to_dict() == {"ref": "A1"}
    with pytest.raises(stripe.InvalidRequestError) as info:
        txns.update(customer.id, made[0].id, params={"amount": 5})
    assert info.value.code == "parameter_unknown"
    assert stripe_client.v1.customers.retrieve(customer.id).balance == 600

    other = stripe_client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as info:
        txns.retrieve(other.id, made[0].id)  # another customer's transaction
    assert info.value.http_status == 404
    assert txns.list(other.id).data == []


def test_refused_requests_change_nothing(stripe_client, stripe_server, customer):
    txns = stripe_client.v1.customers.balance_transactions
    with pytest.raises(stripe.InvalidRequestError) as info:
        txns.create(customer.id, params={"currency": "usd"})
    assert (info.value.code, info.value.param) == ("parameter_missing", "amount")
    with pytest.raises(stripe.InvalidRequestError) as info:
        txns.create(customer.id, params={"amount": -100, "currency": "xyz"})
    assert info.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as info:
        txns.create(customer.id, params={"amount": "ten", "currency": "usd"})
    assert info.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as info:
        txns.create("cus_missing", params={"amount": -100, "currency": "usd"})
    assert info.value.http_status == 404
    stripe_client.v1.customers.delete(customer.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        txns.create(customer.id, params={"amount": -100, "currency": "usd"})
    assert info.value.http_status == 404
    assert stripe_server.state.store.count("customer_balance_transaction") == 0


def test_setting_balance_on_the_customer_is_recorded(stripe_client):
    c = stripe_client.v1
    customer = c.customers.create(params={"balance": 1200})
    (initial,) = c.customers.balance_transactions.list(customer.id).data
    assert (initial.type, initial.amount, initial.ending_balance) == ("initial", 1200, 1200)
    c.customers.update(customer.id, params={"balance": -300})
    latest = c.customers.balance_transactions.list(customer.id).data[0]
    assert (latest.type, latest.amount, latest.ending_balance) == ("adjustment", -1500, -300)
    c.customers.update(customer.id, params={"name": "no balance change"})
    assert len(c.customers.balance_transactions.list(customer.id).data) == 2
