"""Updating charges and PaymentIntents after payment: metadata merges, descriptions, and the events."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def paid(stripe_client):
    return stripe_client.v1.payment_intents.create(
        params={
            "amount": 1200,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"order": "7", "channel": "web"},
        }
    )


def test_charge_metadata_and_description(stripe_client, stripe_server, paid):
    charges = stripe_client.v1.charges
    assert charges.retrieve(paid.latest_charge).metadata.to_dict() == {"order": "7", "channel": "web"}
    updated = charges.update(
        paid.latest_charge, params={"metadata": {"channel": "", "ticket": "T-9"}, "description": "Order 7"}
    )
    assert updated.metadata.to_dict() == {"order": "7", "ticket": "T-9"}
    assert updated.description == "Order 7"
    (event,) = stripe_server.events("charge.updated")
    assert event["data"]["previous_attributes"] == {
        "description": None,
        "metadata": {"channel": "web", "ticket": None},
    }
    charges.update(paid.latest_charge, params={"metadata": ""})
    assert charges.retrieve(paid.latest_charge).metadata.to_dict() == {}
    charges.update(paid.latest_charge, params={"metadata": {}})  # no change: no event
    assert len(stripe_server.events("charge.updated")) == 2
    with pytest.raises(stripe.InvalidRequestError) as info:
        charges.update(paid.latest_charge, params={"amount": 1})
    assert info.value.code == "parameter_unknown"


def test_payment_intent_metadata_after_success(stripe_client, stripe_server, paid):
    intents = stripe_client.v1.payment_intents
    updated = intents.update(paid.id, params={"metadata": {"order": "", "refund_ticket": "R-1"}, "description": "x"})
    assert updated.metadata.to_dict() == {"channel": "web", "refund_ticket": "R-1"}
    assert intents.retrieve(paid.id).description == "x"
    assert not [e for e in stripe_server.events() if e["type"] == "payment_intent.updated"]  # no such Stripe event
    with pytest.raises(stripe.InvalidRequestError) as info:  # the amount is settled once it has succeeded
        intents.update(paid.id, params={"amount": 5000})
    assert info.value.code == "payment_intent_unexpected_state"
    assert intents.retrieve(paid.id).amount == 1200
