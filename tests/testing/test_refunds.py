"""Refunds: full and partial, what Stripe refuses, the charge's bookkeeping, events, idempotency, lists."""

from __future__ import annotations

import json

import pytest
import stripe

from airflow_stripe_automation.testing._stripe_fixtures import FIXTURES_JSON

from .test_shapes import SHARED, assert_shape


@pytest.fixture
def paid(stripe_client):
    """A captured 20.00 USD card payment of a customer."""
    customer = stripe_client.v1.customers.create(params={"email": "refund@example.com"})
    return stripe_client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "description": "Order 7",
        }
    )


def _refund_error(client, **params) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.refunds.create(params=params)
    assert info.value.http_status == 400
    return info.value


def test_partial_then_full_refund(stripe_client, stripe_server, paid, http):
    c = stripe_client.v1
    partial = c.refunds.create(params={"payment_intent": paid.id, "amount": 500, "reason": "requested_by_customer"})
    assert (partial.status, partial.amount, partial.currency, partial.reason) == (
        "succeeded",
        500,
        "usd",
        "requested_by_customer",
    )
    assert (partial.charge, partial.payment_intent, partial.customer) == (paid.latest_charge, paid.id, paid.customer)
    assert partial.payment_method == paid.payment_method
    assert_shape(http("GET", f"/v1/refunds/{partial.id}").body)
    txn = c.refunds.retrieve(partial.id, params={"expand": ["balance_transaction"]}).balance_transaction
    assert (txn.type, txn.amount, txn.fee, txn.net, txn.source) == ("refund", -500, 0, -500, partial.id)
    assert_shape(txn.to_dict())

    charge = c.charges.retrieve(paid.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (500, False)

    rest = c.refunds.create(params={"charge": paid.latest_charge})  # amount defaults to what is left
    assert rest.amount == 1500 and rest.reason is None
    charge = c.charges.retrieve(paid.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (2000, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, partial.id]
    assert c.payment_intents.retrieve(paid.id).status == "succeeded"  # a refund does not change the intent

    refunded = stripe_server.events("charge.refunded")
    assert len(refunded) == 2
    assert refunded[0]["data"]["previous_attributes"]["amount_refunded"] == 0
    assert refunded[1]["data"]["previous_attributes"]["refunded"] is False
    assert refunded[1]["data"]["object"]["amount_refunded"] == 2000
    assert [e["data"]["object"]["id"] for e in stripe_server.events("refund.created")] == [partial.id, rest.id]


def test_refunding_more_than_is_left(stripe_client, stripe_server, paid):
    err = _refund_error(stripe_client, payment_intent=paid.id, amount=2500)
    assert (err.param, err.code) == ("amount", "amount_too_large")
    assert err.user_message == "Refund amount ($25.00) is greater than unrefunded amount on charge ($20.00)"
    stripe_client.v1.refunds.create(params={"charge": paid.latest_charge, "amount": 1500})
    err = _refund_error(stripe_client, charge=paid.latest_charge, amount=600)
    assert "Refund amount ($6.00) is greater than unrefunded amount on charge ($5.00)" == err.user_message
    assert stripe_server.state.store.count("refund") == 1
    assert stripe_client.v1.charges.retrieve(paid.latest_charge).amount_refunded == 1500


def test_refunding_a_fully_refunded_charge(stripe_client, paid):
    stripe_client.v1.refunds.create(params={"payment_intent": paid.id})
    for params in ({"charge": paid.latest_charge}, {"payment_intent": paid.id, "amount": 1}):
        err = _refund_error(stripe_client, **params)
        assert err.code == "charge_already_refunded"
        assert err.user_message == f"Charge {paid.latest_charge} has already been refunded."


def test_charge_and_payment_intent_are_exclusive_and_one_is_required(stripe_client, stripe_server, paid):
    err = _refund_error(stripe_client, charge=paid.latest_charge, payment_intent=paid.id)
    assert err.param == "payment_intent"
    err = _refund_error(stripe_client, amount=100)
    assert "charge or payment_intent" in err.user_message
    err = _refund_error(stripe_client, charge="ch_missing")
    assert (err.code, err.param) == ("resource_missing", "charge")
    assert stripe_server.state.store.count("refund") == 0


@pytest.mark.parametrize("reason", ["expired_uncaptured_charge", "because", ""])
def test_reason_must_be_one_of_stripes(stripe_client, paid, reason):
    err = _refund_error(stripe_client, payment_intent=paid.id, reason=reason)
    assert err.param == "reason"


def test_failed_uncaptured_and_unpaid_charges_cannot_be_refunded(stripe_client):
    c = stripe_client.v1
    with pytest.raises(stripe.CardError) as info:
        c.payment_intents.create(
            params={"amount": 900, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True}
        )
    failed = info.value.json_body["error"]
    err = _refund_error(stripe_client, charge=failed["charge"])
    assert (err.code, err.param) == ("charge_not_refundable", "charge")
    err = _refund_error(stripe_client, payment_intent=failed["payment_intent"]["id"])  # no successful charge
    assert err.param == "payment_intent"

    held = c.payment_intents.create(
        params={
            "amount": 900,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    err = _refund_error(stripe_client, payment_intent=held.id)
    assert err.code == "charge_not_refundable" and "cancel" in err.user_message
    c.payment_intents.cancel(held.id)  # releasing the authorization counts as a full refund
    assert _refund_error(stripe_client, charge=held.latest_charge).code == "charge_already_refunded"


def test_refund_idempotency(stripe_client, stripe_server, paid):
    params = {"payment_intent": paid.id, "amount": 700}
    one = stripe_client.v1.refunds.create(params=params, options={"idempotency_key": "refund-order-7"})
    two = stripe_client.v1.refunds.create(params=params, options={"idempotency_key": "refund-order-7"})
    assert one.id == two.id
    assert two.last_response.headers["Idempotent-Replayed"] == "true"
    assert stripe_server.state.store.count("refund") == 1
    assert stripe_client.v1.charges.retrieve(paid.latest_charge).amount_refunded == 700
    assert len(stripe_server.events("refund.created")) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.refunds.create(params={**params, "amount": 800}, options={"idempotency_key": "refund-order-7"})


def test_update_merges_metadata_and_emits(stripe_client, stripe_server, paid):
    c = stripe_client.v1
    refund = c.refunds.create(params={"payment_intent": paid.id, "amount": 300, "metadata": {"ticket": "T-1"}})
    assert refund.metadata.to_dict() == {"ticket": "T-1"}
    updated = c.refunds.update(refund.id, params={"metadata": {"agent": "ana", "ticket": ""}})
    assert updated.metadata.to_dict() == {"agent": "ana"}
    assert c.refunds.retrieve(refund.id).metadata.to_dict() == {"agent": "ana"}
    assert c.charges.retrieve(paid.latest_charge).refunds.data[0].metadata.to_dict() == {"agent": "ana"}
    for kind in ("refund.updated", "charge.refund.updated"):
        (event,) = stripe_server.events(kind)
        assert event["data"]["previous_attributes"] == {"metadata": {"ticket": "T-1", "agent": None}}
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.refunds.update(refund.id, params={"amount": 5})
    assert info.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.refunds.cancel(refund.id)  # a card refund succeeds at once: nothing to cancel
    assert "requires_action" in info.value.user_message


def test_lists_and_charge_refunds(stripe_client, stripe_server, paid, http):
    c = stripe_client.v1
    other = c.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    first = c.refunds.create(params={"payment_intent": paid.id, "amount": 100})
    stripe_server.advance_clock(seconds=100)
    second = c.refunds.create(params={"payment_intent": paid.id, "amount": 200})
    third = c.refunds.create(params={"payment_intent": other.id})
    assert [r.id for r in c.refunds.list().data] == [third.id, second.id, first.id]
    assert [r.id for r in c.refunds.list(params={"payment_intent": paid.id}).data] == [second.id, first.id]
    assert [r.id for r in c.refunds.list(params={"charge": other.latest_charge}).data] == [third.id]
    assert [r.id for r in c.refunds.list(params={"created": {"lt": second.created}}).data] == [first.id]
    page = c.refunds.list(params={"limit": 2})
    assert page.has_more is True and len(page.data) == 2
    sub = http("GET", f"/v1/charges/{paid.latest_charge}/refunds").body
    assert [r["id"] for r in sub["data"]] == [second.id, first.id]
    assert sub["url"] == f"/v1/charges/{paid.latest_charge}/refunds"
    assert http("GET", f"/v1/charges/{other.latest_charge}/refunds/{third.id}").body["id"] == third.id
    assert http("GET", f"/v1/charges/{paid.latest_charge}/refunds/{third.id}").status == 404
    assert third.currency == "eur" and third.amount == 1000


def test_partially_captured_charge_refunds_only_the_captured_part(stripe_client):
    c = stripe_client.v1
    pi = c.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    c.payment_intents.capture(pi.id, params={"amount_to_capture": 600})
    err = _refund_error(stripe_client, payment_intent=pi.id, amount=700)
    assert err.code == "amount_too_large" and "($6.00)" in err.user_message
    assert c.refunds.create(params={"payment_intent": pi.id}).amount == 600
    assert c.charges.retrieve(pi.latest_charge).refunded is True


@pytest.mark.skipif(not SHARED.exists(), reason="the shared copy of Stripe's fixtures is not here")
@pytest.mark.parametrize(
    "name",
    ["refund", "customer_balance_transaction", "billing.credit_grant", "payment_link", "item",
     "radar.early_fraud_warning", "tax_id", "deleted_tax_id"],
)  # fmt: skip
def test_embedded_fixtures_of_the_payment_side_types_are_stripes(name):
    """The templates refunds, balances, grants, links, warnings and tax IDs are built from."""
    assert json.loads(FIXTURES_JSON)[name] == json.loads(SHARED.read_text())["resources"][name]
