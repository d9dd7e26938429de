"""Operators run directly (``op.execute(make_context())``) against the local Stripe server."""

from __future__ import annotations

import pytest


@pytest.fixture
def paid_charge(stripe_client):
    """A customer with a succeeded 50.00 USD payment; returns (customer, payment intent, charge)."""

    def _make(amount: int = 5000, currency: str = "usd"):
        customer = stripe_client.v1.customers.create(params={"email": "buyer@example.com", "name": "Buyer"})
        intent = stripe_client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "customer": customer.id,
                "payment_method": "pm_card_visa",
                "confirm": True,
                "off_session": True,
            }
        )
        return customer, intent, stripe_client.v1.charges.retrieve(intent.latest_charge)

    return _make


def writes(server, path_prefix: str) -> list[dict]:
    """The write requests the server received under ``path_prefix``."""
    return [r for r in server.write_requests() if r["path"].startswith(path_prefix)]
