"""Exactly-once mails under injected faults: the real local Stripe server, the real SMTP sink."""

from __future__ import annotations

import pytest
import stripe


def test_a_fault_can_let_the_first_matching_requests_through(stripe_server, stripe_client):
    customer = stripe_client.v1.customers.create()
    stripe_server.fail_next(500, path=f"/v1/customers/{customer.id}", method="POST", after=1)

    stripe_client.v1.customers.update(customer.id, params={"metadata": {"a": "1"}})
    with pytest.raises(stripe.APIError):
        stripe_client.v1.customers.update(customer.id, params={"metadata": {"b": "2"}})
    stripe_client.v1.customers.update(customer.id, params={"metadata": {"c": "3"}})

    assert stripe_client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"a": "1", "c": "3"}
