"""Customer metadata and details updates against the local Stripe server."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.customers import (
    StripeUpdateCustomerMetadataOperator,
    StripeUpdateCustomerOperator,
)
from tests.operators.conftest import writes


@pytest.fixture
def customer(stripe_client):
    return stripe_client.v1.customers.create(
        params={"email": "vip@example.com", "name": "Ada", "metadata": {"source": "web", "stale": "yes"}}
    )


def test_metadata_is_merged_and_empty_values_remove_keys(stripe_client, make_context, customer):
    out = StripeUpdateCustomerMetadataOperator(
        task_id="tag", customer_id=customer.id, metadata={"tier": "VIP", "stale": ""}
    ).execute(make_context())
    assert out["metadata"] == {"source": "web", "tier": "VIP"}
    assert stripe_client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"source": "web", "tier": "VIP"}


def test_metadata_update_is_sent_once_over_retries_and_runs(stripe_server, make_context, customer):
    op = StripeUpdateCustomerMetadataOperator(task_id="tag", customer_id=customer.id, metadata={"tier": "VIP"})
    results = [op.execute(make_context(run_id=run)) for run in ("r1", "r1", "r2")]
    assert [r["already_done"] for r in results] == [False, True, True]
    assert len(writes(stripe_server, f"/v1/customers/{customer.id}")) == 1


def test_metadata_dry_run_and_bad_input(stripe_client, stripe_server, make_context, customer):
    StripeUpdateCustomerMetadataOperator(
        task_id="tag", customer_id=customer.id, metadata={"tier": "VIP"}, dry_run=True
    ).execute(make_context())
    assert writes(stripe_server, f"/v1/customers/{customer.id}") == []
    assert "tier" not in stripe_client.v1.customers.retrieve(customer.id).metadata
    count = len(stripe_server.requests)
    with pytest.raises(StripeInputError, match="metadata is required"):
        StripeUpdateCustomerMetadataOperator(task_id="t", customer_id=customer.id, metadata={}).execute(make_context())
    with pytest.raises(StripeInputError, match="starting with 'cus_'"):
        StripeUpdateCustomerMetadataOperator(task_id="t", customer_id="acct_1", metadata={"a": "b"}).execute(
            make_context()
        )
    assert len(stripe_server.requests) == count


def test_details_update_only_touches_given_fields(stripe_client, stripe_server, make_context, customer):
    op = StripeUpdateCustomerOperator(
        task_id="sync",
        customer_id=customer.id,
        phone="+49 30 1234567",
        name="",
        address={"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "de"},
        tax_id={"type": "eu_vat", "value": "DE123456789"},
    )
    op.execute(make_context())
    after = stripe_client.v1.customers.retrieve(customer.id)
    assert (after.name, after.email, after.phone) == ("Ada", "vip@example.com", "+49 30 1234567")
    assert (after.address.city, after.address.country, after.address.line1) == ("Berlin", "DE", "Unter den Linden 1")
    tax_ids = list(stripe_client.v1.customers.tax_ids.list(customer.id).auto_paging_iter())
    assert [(t.type, t.value) for t in tax_ids] == [("eu_vat", "DE123456789")]

    again = op.execute(make_context(run_id="another"))
    assert again["already_done"] is True
    assert len(writes(stripe_server, f"/v1/customers/{customer.id}")) == 2  # one update + one tax id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "nothing to update"),
        ({"email": "not-an-email"}, "not an email address"),
        ({"address": {"street": "x"}}, "unknown keys"),
        ({"address": {"country": "Germany"}}, "two-letter ISO code"),
        ({"shipping": {"name": "Ada"}}, "needs a name and an address"),
        ({"tax_id": {"type": "eu_vat"}}, "tax_id must be a mapping"),
    ],
)
def test_details_bad_input(stripe_server, make_context, kwargs, message):
    with pytest.raises(StripeInputError, match=message):
        StripeUpdateCustomerOperator(task_id="sync", customer_id="cus_1", **kwargs).execute(make_context())
    assert stripe_server.requests == []
