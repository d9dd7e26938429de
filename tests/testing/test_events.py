"""Events: types, snapshots, request info, filters, and Stripe's 30-day window on the server clock."""

from __future__ import annotations

import pytest
import stripe


def _flow(client):
    customer = client.v1.customers.create(params={"name": "Ev"}, options={"idempotency_key": "ev-create"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"name": "Ev2"})
    client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "customer": customer.id, "payment_method": pm.id, "confirm": True}
    )
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True}
        )
    client.v1.payment_methods.detach(pm.id)
    client.v1.customers.delete(customer.id)
    return customer


def test_each_change_emits_the_stripe_event(stripe_client):
    _flow(stripe_client)
    types = [e.type for e in stripe_client.v1.events.list(params={"limit": 100}).data][::-1]
    assert types == [
        "customer.created",
        "payment_method.attached",
        "customer.updated",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "payment_method.detached",
        "customer.deleted",
    ]


def test_event_contents(stripe_client, stripe_server):
    customer = _flow(stripe_client)
    created = stripe_client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert created.data.object.id == customer.id and created.data.object.name == "Ev"  # a snapshot
    assert created.request.idempotency_key == "ev-create"
    assert created.request.id == next(
        r["request_id"] for r in stripe_server.requests if r["idempotency_key"] == "ev-create"
    )
    assert created.api_version and created.pending_webhooks == 0
    updated = stripe_client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert updated.data.previous_attributes.to_dict() == {"name": "Ev"}
    assert stripe_client.v1.events.retrieve(created.id).id == created.id


def test_type_wildcard_and_types(stripe_client):
    _flow(stripe_client)
    customer_events = {e.type for e in stripe_client.v1.events.list(params={"type": "customer.*"}).data}
    assert customer_events == {"customer.created", "customer.updated", "customer.deleted"}
    picked = stripe_client.v1.events.list(params={"types": ["charge.succeeded", "charge.failed"]}).data
    assert sorted(e.type for e in picked) == ["charge.failed", "charge.succeeded"]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.events.list(params={"type": "charge.failed", "types": ["charge.succeeded"]})


def test_events_older_than_30_days_are_gone(stripe_client, stripe_server):
    stripe_client.v1.customers.create()
    old = stripe_client.v1.events.list().data[0]
    retention = 30 * 86400  # Stripe keeps events 30 days: a fixed span, not calendar months
    stripe_server.set_clock(old.created + retention - 86400)
    assert stripe_client.v1.events.retrieve(old.id).id == old.id
    stripe_server.set_clock(old.created + retention + 1)
    recent = stripe_client.v1.customers.create()
    assert [e.data.object.id for e in stripe_client.v1.events.list().data] == [recent.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.events.retrieve(old.id)
    assert info.value.http_status == 404


def test_events_created_filter(stripe_client, stripe_server):
    stripe_client.v1.customers.create()
    cut = stripe_server.advance_clock(seconds=60)
    stripe_client.v1.customers.create()
    found = stripe_client.v1.events.list(params={"created": {"gte": cut}}).data
    assert len(found) == 1 and found[0].created >= cut


def test_event_api_version_is_the_sdks():
    from stripe._api_version import _ApiVersion

    from airflow_stripe_automation.testing.store import API_VERSION

    assert API_VERSION == _ApiVersion.CURRENT
