"""Radar early fraud warnings: made by the test helper (Python and HTTP), listed and filtered, and
no longer actionable once their charge is fully refunded."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

from airflow_stripe_automation.testing.errors import StripeError
from airflow_stripe_automation.testing.templates import fixture


def _pay(client, amount=2000):
    return client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )


def _control(server, form: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        server.url + "/_testing/early_fraud_warnings", data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_helper_creates_a_warning_like_stripe(stripe_client, stripe_server, http):
    pi = _pay(stripe_client)
    warning = stripe_server.create_early_fraud_warning(pi.latest_charge)
    assert warning["id"].startswith("issfr_")
    assert (warning["charge"], warning["fraud_type"], warning["actionable"]) == (
        pi.latest_charge,
        "made_with_stolen_card",
        True,
    )
    body = http("GET", f"/v1/radar/early_fraud_warnings/{warning['id']}").body
    # Stripe's keys: the fixture's, plus payment_intent (in the API and the SDK, missing from the fixture)
    assert set(body) == set(fixture("radar.early_fraud_warning")) | {"payment_intent"}
    assert body["payment_intent"] == pi.id and body["livemode"] is False
    fetched = stripe_client.v1.radar.early_fraud_warnings.retrieve(warning["id"])
    assert fetched.object == "radar.early_fraud_warning" and fetched.charge == pi.latest_charge
    expanded = stripe_client.v1.radar.early_fraud_warnings.retrieve(warning["id"], params={"expand": ["charge"]})
    assert expanded.charge.payment_intent == pi.id
    assert fetched.payment_intent == pi.id
    expanded = stripe_client.v1.radar.early_fraud_warnings.retrieve(
        warning["id"], params={"expand": ["payment_intent"]}
    )
    assert expanded.payment_intent.latest_charge == pi.latest_charge
    (event,) = stripe_server.events("radar.early_fraud_warning.created")
    assert event["data"]["object"] == warning
    assert event["request"] == {"id": None, "idempotency_key": None}  # Stripe's doing, not an API request's


def test_helper_refuses_what_cannot_happen(stripe_client, stripe_server):
    with pytest.raises(StripeError, match="No such charge"):
        stripe_server.create_early_fraud_warning("ch_nope")
    pi = _pay(stripe_client)
    with pytest.raises(StripeError, match="fraud_type"):
        stripe_server.create_early_fraud_warning(pi.latest_charge, fraud_type="bad_vibes")
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_intents.create(
            params={"amount": 900, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True}
        )
    with pytest.raises(StripeError, match="failed"):
        stripe_server.create_early_fraud_warning(info.value.json_body["error"]["charge"])
    assert stripe_server.events("radar.early_fraud_warning.created") == []


def test_http_control_endpoint(stripe_client, stripe_server):
    pi = _pay(stripe_client)
    status, body = _control(
        stripe_server, {"charge": pi.latest_charge, "fraud_type": "card_never_received", "actionable": "false"}
    )
    assert status == 200
    assert (body["object"], body["fraud_type"], body["actionable"]) == (
        "radar.early_fraud_warning",
        "card_never_received",
        False,
    )
    assert stripe_client.v1.radar.early_fraud_warnings.retrieve(body["id"]).fraud_type == "card_never_received"
    status, body = _control(stripe_server, {"charge": "ch_missing"})
    assert status == 400 and body["error"]["code"] == "resource_missing"
    status, body = _control(stripe_server, {"charge": pi.latest_charge, "fraud_type": "nope"})
    assert status == 400 and body["error"]["param"] == "fraud_type"
    status, body = _control(stripe_server, {})
    assert status == 400 and body["error"]["param"] == "charge"
    assert len(stripe_server.events("radar.early_fraud_warning.created")) == 1


def test_there_is_no_public_create_endpoint(http):
    response = http("POST", "/v1/radar/early_fraud_warnings", {"charge": "ch_x"})
    assert response.status == 404 and "Unrecognized request URL" in response.body["error"]["message"]


def test_list_filters(stripe_client, stripe_server):
    first_pi, second_pi = _pay(stripe_client), _pay(stripe_client, 3000)
    first = stripe_server.create_early_fraud_warning(first_pi.latest_charge, fraud_type="misc")
    stripe_server.advance_clock(seconds=60)
    second = stripe_server.create_early_fraud_warning(second_pi.latest_charge)
    warnings = stripe_client.v1.radar.early_fraud_warnings
    assert [w.id for w in warnings.list().data] == [second["id"], first["id"]]
    assert [w.id for w in warnings.list(params={"charge": first_pi.latest_charge}).data] == [first["id"]]
    assert [w.id for w in warnings.list(params={"payment_intent": second_pi.id}).data] == [second["id"]]
    assert [w.id for w in warnings.list(params={"created": {"gte": second["created"]}}).data] == [second["id"]]
    assert warnings.list(params={"charge": "ch_unknown"}).data == []
    page = warnings.list(params={"limit": 1})
    assert page.has_more is True
    assert [w.id for w in warnings.list(params={"starting_after": page.data[0].id}).data] == [first["id"]]
    with pytest.raises(stripe.InvalidRequestError) as info:
        warnings.list(params={"fraud_type": "misc"})
    assert info.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as info:
        warnings.retrieve("issfr_missing")
    assert info.value.http_status == 404


def test_full_refund_makes_the_warning_not_actionable(stripe_client, stripe_server):
    pi = _pay(stripe_client)
    warning = stripe_server.create_early_fraud_warning(pi.latest_charge)
    stripe_client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500})
    assert stripe_client.v1.radar.early_fraud_warnings.retrieve(warning["id"]).actionable is True
    assert stripe_server.events("radar.early_fraud_warning.updated") == []
    stripe_client.v1.refunds.create(params={"payment_intent": pi.id}, options={"idempotency_key": "settle"})
    assert stripe_client.v1.radar.early_fraud_warnings.retrieve(warning["id"]).actionable is False
    (event,) = stripe_server.events("radar.early_fraud_warning.updated")
    assert event["data"]["previous_attributes"] == {"actionable": True}
    assert event["data"]["object"]["actionable"] is False
    assert event["request"]["idempotency_key"] == "settle"
    late = stripe_server.create_early_fraud_warning(pi.latest_charge)  # arrives after the refund
    assert late["actionable"] is False


def test_released_authorization_also_settles_the_warning(stripe_client, stripe_server):
    held = stripe_client.v1.payment_intents.create(
        params={
            "amount": 900,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    warning = stripe_server.create_early_fraud_warning(held.latest_charge)
    assert warning["actionable"] is True
    stripe_client.v1.payment_intents.cancel(held.id)
    assert stripe_client.v1.radar.early_fraud_warnings.retrieve(warning["id"]).actionable is False
