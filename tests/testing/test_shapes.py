"""Every object the server returns has the top-level keys of Stripe's fixture for its type and Stripe's id prefix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stripe

from airflow_stripe_automation.testing._stripe_fixtures import FIXTURES_JSON
from airflow_stripe_automation.testing.templates import fixture

OWN_TYPES = {"customer", "payment_method", "payment_intent", "charge", "balance_transaction", "event"}
SHARED = Path("/work/shared/stripe/fixtures3.json")


def assert_shape(obj: dict, fixture_name: str | None = None) -> None:
    name = fixture_name or obj["object"]
    template = fixture(name)
    assert set(obj) == set(template), (name, set(obj) ^ set(template))
    prefix = template["id"].split("_")[0] + "_"
    assert obj["id"].startswith(prefix), (name, obj["id"])
    if "livemode" in obj:
        assert obj["livemode"] is False


@pytest.fixture
def scenario(stripe_client, stripe_server, http):
    """A bit of everything: customers, cards, a success, a decline, a capture, a deletion."""
    c = stripe_client.v1
    cus = c.customers.create(params={"email": "shape@example.com", "metadata": {"a": "1"}})
    pm = c.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    ok = c.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "customer": cus.id, "payment_method": pm.id, "confirm": True}
    )
    with pytest.raises(stripe.CardError):
        c.payment_intents.create(
            params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True}
        )
    gone = c.customers.create(params={"name": "to delete"})
    c.customers.delete(gone.id)
    return {"customer": cus.id, "payment_method": pm.id, "payment_intent": ok.id, "deleted": gone.id}


def test_objects_over_http_have_the_fixture_keys(scenario, http):
    assert_shape(http("GET", f"/v1/customers/{scenario['customer']}").body)
    assert_shape(http("GET", f"/v1/payment_methods/{scenario['payment_method']}").body)
    pi = http("GET", f"/v1/payment_intents/{scenario['payment_intent']}").body
    assert_shape(pi)
    charge = http("GET", f"/v1/charges/{pi['latest_charge']}").body
    assert_shape(charge)
    expanded = http("GET", f"/v1/charges/{charge['id']}", {"expand[]": "balance_transaction"}).body
    assert_shape(expanded["balance_transaction"])
    for event in http("GET", "/v1/events", {"limit": 100}).body["data"]:
        assert_shape(event)
        assert_shape(event["data"]["object"])
    deleted = http("GET", f"/v1/customers/{scenario['deleted']}").body
    assert set(deleted) == set(fixture("deleted_customer"))
    assert deleted["deleted"] is True


def test_every_stored_object_has_the_fixture_keys(scenario, stripe_server):
    """Generic: whatever families exist, every object they stored matches its fixture."""
    store = stripe_server.state.store
    seen = set()
    for object_id, type_name, obj in store.items():
        if object_id in store.deleted:
            continue
        assert_shape(obj, store.types[type_name].fixture)
        seen.add(type_name)
    assert OWN_TYPES <= seen


def test_failed_charge_and_declined_intent_keep_the_shape(stripe_client, http):
    c = stripe_client.v1
    with pytest.raises(Exception) as info:
        c.payment_intents.create(
            params={"amount": 900, "currency": "eur", "payment_method": "pm_card_chargeDeclined", "confirm": True}
        )
    error = info.value.json_body["error"]
    assert_shape(error["payment_intent"])
    assert_shape(error["payment_method"])
    assert_shape(http("GET", f"/v1/charges/{error['charge']}").body)


def test_list_and_search_envelopes(stripe_client, http):
    stripe_client.v1.customers.create(params={"email": "x@example.com"})
    listed = http("GET", "/v1/customers").body
    assert set(listed) == {"object", "data", "has_more", "url"} and listed["object"] == "list"
    assert listed["url"] == "/v1/customers"
    found = http("GET", "/v1/customers/search", {"query": "email:'x@example.com'"}).body
    assert set(found) == {"object", "data", "has_more", "next_page", "url"} and found["object"] == "search_result"


@pytest.mark.skipif(not SHARED.exists(), reason="the shared copy of Stripe's fixtures is not here")
def test_embedded_fixtures_are_stripes():
    shared = json.loads(SHARED.read_text())["resources"]
    for name in ("customer", "payment_method", "payment_intent", "charge", "event", "balance_transaction"):
        assert json.loads(FIXTURES_JSON)[name] == shared[name]
