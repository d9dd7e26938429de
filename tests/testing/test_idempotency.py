"""Idempotency keys: replay, mismatch, what is saved, expiry on the server clock, scope, concurrency."""

from __future__ import annotations

import threading
import time

import pytest
import stripe

CHARGE = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


def test_same_key_same_params_replays_without_side_effects(stripe_client, stripe_server, http):
    first = http("POST", "/v1/customers", {"email": "k@example.com"}, headers={"Idempotency-Key": "key-1"})
    events = len(stripe_server.events())
    again = http("POST", "/v1/customers", {"email": "k@example.com"}, headers={"Idempotency-Key": "key-1"})
    assert (again.status, again.body) == (first.status, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Original-Request"] == first.headers["Request-Id"] != again.headers["Request-Id"]
    assert stripe_server.state.store.count("customer") == 1
    assert len(stripe_server.events()) == events
    assert [r["replayed"] for r in stripe_server.write_requests()] == [False, True]


def test_sdk_replay_of_a_payment(stripe_client, stripe_server):
    one = stripe_client.v1.payment_intents.create(params=CHARGE, options={"idempotency_key": "pay-1"})
    two = stripe_client.v1.payment_intents.create(params=CHARGE, options={"idempotency_key": "pay-1"})
    assert one.id == two.id and one.latest_charge == two.latest_charge
    assert two.last_response.headers["Idempotent-Replayed"] == "true"
    assert stripe_server.state.store.count("charge") == 1
    assert [r["idempotency_key"] for r in stripe_server.write_requests()] == ["pay-1", "pay-1"]


def test_same_key_different_params_is_an_idempotency_error(stripe_client):
    stripe_client.v1.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": "k"})
    with pytest.raises(stripe.IdempotencyError) as info:
        stripe_client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "k"})
    assert info.value.http_status == 400
    assert info.value.json_body["error"]["type"] == "idempotency_error"
    assert info.value.json_body["error"]["code"] == "idempotency_error"


def test_same_key_on_another_endpoint_is_an_idempotency_error(stripe_client):
    stripe_client.v1.customers.create(options={"idempotency_key": "shared"})
    with pytest.raises(stripe.IdempotencyError) as info:
        stripe_client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd"}, options={"idempotency_key": "shared"}
        )
    assert "same endpoint" in str(info.value)


def test_validation_errors_are_not_saved(stripe_client, stripe_server):
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.create(params={"amount": 1000}, options={"idempotency_key": "fix-me"})
    fixed = stripe_client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd"}, options={"idempotency_key": "fix-me"}
    )
    assert fixed.status == "requires_payment_method"
    assert stripe_server.requests[-1]["replayed"] is False


def test_a_decline_is_saved_and_replayed(stripe_client, stripe_server):
    params = {**CHARGE, "payment_method": "pm_card_chargeDeclined"}
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as info:
            stripe_client.v1.payment_intents.create(params=params, options={"idempotency_key": "declined"})
        errors.append(info.value)
    assert errors[0].json_body == errors[1].json_body
    assert errors[1].headers["Idempotent-Replayed"] == "true"
    assert stripe_server.state.store.count("charge") == 1


def test_keys_expire_after_24_hours_of_server_time(stripe_client, stripe_server):
    first = stripe_client.v1.customers.create(options={"idempotency_key": "daily"})
    stripe_server.advance_clock(seconds=23 * 3600)
    assert stripe_client.v1.customers.create(options={"idempotency_key": "daily"}).id == first.id
    stripe_server.advance_clock(seconds=3601)
    fresh = stripe_client.v1.customers.create(options={"idempotency_key": "daily"})
    assert fresh.id != first.id
    assert stripe_server.state.store.count("customer") == 2


def test_keys_are_scoped_per_api_key(stripe_server):
    def client(key):
        return stripe.StripeClient(key, base_addresses={"api": stripe_server.url}, max_network_retries=0)

    a = client("sk_test_account_a").v1.customers.create(options={"idempotency_key": "same"})
    b = client("sk_test_account_b").v1.customers.create(options={"idempotency_key": "same"})
    assert a.id != b.id


def test_keys_longer_than_255_characters_are_refused(http, stripe_server):
    response = http("POST", "/v1/customers", headers={"Idempotency-Key": "x" * 256})
    assert response.status == 400
    assert stripe_server.state.store.count("customer") == 0
    assert http("POST", "/v1/customers", headers={"Idempotency-Key": "x" * 255}).status == 200


def test_concurrent_requests_with_one_key(stripe_server, http):
    # The first request holds its key for 3 s; the second is sent as soon as the first has taken it
    # (its delay fault is used up), so it arrives while the first is in flight however slow the machine.
    stripe_server.slow_next(3, path="/v1/customers")
    results = {}

    def first():
        results["first"] = http("POST", "/v1/customers", {"name": "n"}, headers={"Idempotency-Key": "race"})

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 60
    while len(stripe_server.state.faults) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not len(stripe_server.state.faults), "the first request never reached the server"
    second = http("POST", "/v1/customers", {"name": "n"}, headers={"Idempotency-Key": "race"})
    thread.join()
    assert results["first"].status == 200
    assert second.status == 409
    assert (second.body["error"]["type"], second.body["error"]["code"]) == (
        "invalid_request_error",
        "idempotency_key_in_use",
    )
    assert "in-progress" in second.body["error"]["message"]
    third = http("POST", "/v1/customers", {"name": "n"}, headers={"Idempotency-Key": "race"})
    assert third.body["id"] == results["first"].body["id"]
    assert stripe_server.state.store.count("customer") == 1


def test_get_requests_ignore_keys(http):
    assert http("GET", "/v1/customers", headers={"Idempotency-Key": "x" * 300}).status == 200
