"""StripeRetrieveOperator: summaries, extra fields, errors."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeActionFailed, StripeInputError
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator


def test_returns_the_summary_and_extra_fields(stripe_client, make_context):
    customer = stripe_client.v1.customers.create(
        params={
            "email": "ship@example.com",
            "shipping": {"name": "Ada", "address": {"line1": "1 Main St", "city": "Oslo"}},
        }
    )
    out = StripeRetrieveOperator(task_id="read", object_id=customer.id, fields=["shipping.address.city"]).execute(
        make_context()
    )
    assert (out["id"], out["object"], out["email"], out["shipping.address.city"]) == (
        customer.id,
        "customer",
        "ship@example.com",
        "Oslo",
    )


def test_unknown_prefix_and_missing_object(stripe_server, make_context):
    with pytest.raises(StripeInputError, match="not an id this operator can read"):
        StripeRetrieveOperator(task_id="read", object_id="acct_123").execute(make_context())
    assert stripe_server.requests == []
    with pytest.raises(StripeActionFailed, match="No such customer"):
        StripeRetrieveOperator(task_id="read", object_id="cus_doesnotexist").execute(make_context())
