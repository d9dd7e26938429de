"""Billing credit grants: create, list, update, void and expire, with Stripe's validation and events."""

from __future__ import annotations

import pytest
import stripe

from airflow_stripe_automation.testing.templates import fixture


@pytest.fixture
def customer(stripe_client):
    return stripe_client.v1.customers.create(params={"email": "credits@example.com"})


def _grant_params(customer_id: str, **extra) -> dict:
    return {
        "customer": customer_id,
        "amount": {"type": "monetary", "monetary": {"value": 5000, "currency": "usd"}},
        "applicability_config": {"scope": {"price_type": "metered"}},
        **extra,
    }


def test_create_with_stripes_shape_and_defaults(stripe_client, stripe_server, customer, http):
    grant = stripe_client.v1.billing.credit_grants.create(
        params=_grant_params(customer.id, name="Welcome credit", metadata={"campaign": "spring"})
    )
    body = http("GET", f"/v1/billing/credit_grants/{grant.id}").body
    assert set(body) == set(fixture("billing.credit_grant"))
    assert body["id"].startswith("credgr_") and body["livemode"] is False
    assert body["object"] == "billing.credit_grant"
    assert body["customer"] == customer.id  # an id unless expanded
    assert body["amount"] == {"monetary": {"currency": "usd", "value": 5000}, "type": "monetary"}
    assert body["applicability_config"] == {"scope": {"price_type": "metered"}}
    assert (body["category"], body["priority"], body["expires_at"], body["voided_at"]) == ("paid", 50, None, None)
    assert body["effective_at"] == body["created"] == body["updated"]
    assert (body["name"], body["metadata"]) == ("Welcome credit", {"campaign": "spring"})
    expanded = stripe_client.v1.billing.credit_grants.retrieve(grant.id, params={"expand": ["customer"]})
    assert expanded.customer.email == "credits@example.com"
    (event,) = stripe_server.events("billing.credit_grant.created")
    assert event["data"]["object"]["id"] == grant.id


def test_list_by_customer(stripe_client, customer):
    grants = stripe_client.v1.billing.credit_grants
    other = stripe_client.v1.customers.create()
    mine = [grants.create(params=_grant_params(customer.id, category=c)) for c in ("paid", "promotional")]
    theirs = grants.create(params=_grant_params(other.id))
    assert [g.id for g in grants.list(params={"customer": customer.id}).data] == [mine[1].id, mine[0].id]
    assert [g.id for g in grants.list(params={"customer": other.id}).data] == [theirs.id]
    assert [g.id for g in grants.list(params={"limit": 1}).data] == [theirs.id]
    assert mine[1].category == "promotional"


def test_void_and_expire(stripe_client, stripe_server, customer):
    grants = stripe_client.v1.billing.credit_grants
    grant = grants.create(params=_grant_params(customer.id))
    stripe_server.advance_clock(seconds=30)
    voided = grants.void_grant(grant.id)
    assert voided.voided_at == stripe_server.now() or voided.voided_at == stripe_server.now() - 1
    assert voided.updated == voided.voided_at
    (event,) = stripe_server.events("billing.credit_grant.updated")
    assert event["data"]["previous_attributes"]["voided_at"] is None
    with pytest.raises(stripe.InvalidRequestError) as info:
        grants.void_grant(grant.id)
    assert "already been voided" in info.value.user_message
    with pytest.raises(stripe.InvalidRequestError):
        grants.expire(grant.id)

    later = grants.create(params=_grant_params(customer.id, expires_at=stripe_server.now() + 86400))
    expired = grants.expire(later.id)
    assert expired.expires_at <= stripe_server.now() < later.expires_at
    with pytest.raises(stripe.InvalidRequestError) as info:
        grants.expire(later.id)
    assert "already expired" in info.value.user_message
    assert len(stripe_server.events("billing.credit_grant.updated")) == 2


def test_update_expiry_and_metadata(stripe_client, stripe_server, customer):
    grants = stripe_client.v1.billing.credit_grants
    grant = grants.create(params=_grant_params(customer.id, metadata={"a": "1"}))
    when = stripe_server.now() + 7 * 86400
    updated = grants.update(grant.id, params={"expires_at": when, "metadata": {"b": "2"}})
    assert updated.expires_at == when and updated.metadata.to_dict() == {"a": "1", "b": "2"}
    cleared = grants.update(grant.id, params={"expires_at": ""})
    assert cleared.expires_at is None
    previous = [e["data"]["previous_attributes"] for e in stripe_server.events("billing.credit_grant.updated")]
    assert previous[0]["expires_at"] is None and previous[0]["metadata"] == {"b": None}
    assert previous[1]["expires_at"] == when
    with pytest.raises(stripe.InvalidRequestError) as info:
        grants.update(grant.id, params={"expires_at": grant.effective_at - 10})
    assert info.value.param == "expires_at"
    with pytest.raises(stripe.InvalidRequestError) as info:
        grants.update(grant.id, params={"name": "renamed"})
    assert info.value.code == "parameter_unknown"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"amount": None}, "amount"),
        ({"amount": {"type": "monetary"}}, "amount[monetary]"),
        ({"amount": {"type": "credits", "monetary": {"value": 1, "currency": "usd"}}}, "amount[type]"),
        ({"amount": {"type": "monetary", "monetary": {"value": 0, "currency": "usd"}}}, "amount[monetary][value]"),
        ({"amount": {"type": "monetary", "monetary": {"value": 10, "currency": "zzz"}}}, "amount[monetary][currency]"),
        ({"applicability_config": None}, "applicability_config"),
        ({"applicability_config": {"scope": {"price_type": "licensed"}}}, "applicability_config[scope][price_type]"),
        (
            {"applicability_config": {"scope": {"price_type": "metered", "prices": [{"id": "price_x"}]}}},
            "applicability_config[scope][prices]",
        ),
        (
            {"applicability_config": {"scope": {"prices": [{"id": "price_x"}]}}},
            "applicability_config[scope][prices][0][id]",
        ),
        ({"category": "free"}, "category"),
        ({"customer": None}, "customer"),
        ({"customer": "cus_missing"}, "customer"),
        ({"priority": 101}, "priority"),
        ({"effective_at": 2_000_000_000, "expires_at": 1_999_999_999}, "expires_at"),
    ],
)
def test_invalid_grants_are_refused(stripe_client, stripe_server, customer, change, param):
    params = _grant_params(customer.id)
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing.credit_grants.create(params=params)
    assert info.value.http_status == 400 and info.value.param == param
    assert stripe_server.state.store.count("billing.credit_grant") == 0
