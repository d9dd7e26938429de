"""Auth, error bodies and status codes in Stripe's format, and the Request-Id on every response."""

from __future__ import annotations

import re

import pytest
import stripe


def test_missing_key_is_a_401(http):
    response = http("GET", "/v1/customers", key=None)
    assert response.status == 401
    assert response.body["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in response.body["error"]["message"]


def test_invalid_key_is_a_401_that_does_not_echo_the_key(http):
    secret = "sk_prod_abcdefghijklmnopqrstuvwxyz123456"
    response = http("GET", "/v1/customers", key=secret)
    assert response.status == 401
    message = response.body["error"]["message"]
    assert message.startswith("Invalid API Key provided")
    assert secret not in message and "abcdefghijkl" not in message
    assert message.endswith("3456")


def test_live_keys_are_refused(http):
    response = http("GET", "/v1/customers", key="sk_live_0123456789abcdefghijklmnop")
    assert response.status == 401
    assert "test mode only" in response.body["error"]["message"]
    assert "0123456789abcdefghij" not in response.body["error"]["message"]


@pytest.mark.parametrize("key", ["sk_test_anything_goes", "rk_test_restricted123"])
def test_any_test_key_is_accepted(http, key):
    assert http("GET", "/v1/customers", key=key).status == 200


def test_the_sdk_raises_authentication_error(stripe_server):
    client = stripe.StripeClient("sk_test_", base_addresses={"api": stripe_server.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list()


def test_missing_object_is_a_404_resource_missing(stripe_client, http):
    response = http("GET", "/v1/customers/cus_doesnotexist")
    assert response.status == 404
    error = response.body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "resource_missing"
    assert error["param"] == "id"
    assert error["message"] == "No such customer: 'cus_doesnotexist'"
    assert error["request_log_url"].endswith(response.headers["Request-Id"])
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.retrieve("pi_nope")
    assert info.value.http_status == 404 and info.value.code == "resource_missing"
    assert info.value.user_message == "No such payment_intent: 'pi_nope'"


def test_unknown_parameter_is_a_400(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.create(params={"emial": "typo@example.com"})
    assert info.value.http_status == 400
    assert info.value.param == "emial" and info.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.create(params={"invoice_settings": {"default_pm": "pm_x"}})
    assert info.value.param == "invoice_settings[default_pm]"


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"currency": "usd"}, "amount", "parameter_missing"),
        ({"amount": 1000}, "currency", "parameter_missing"),
        ({"amount": 0, "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": -5, "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": "12.5", "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": 10, "currency": "usd"}, "amount", "amount_too_small"),
        ({"amount": 1000, "currency": "xyz"}, "currency", None),
        ({"amount": 1000, "currency": "usdd"}, "currency", None),
        ({"amount": 1000, "currency": "usd", "confirm": "yes"}, "confirm", None),
        ({"amount": 1000, "currency": "usd", "customer": "cus_missing"}, "customer", "resource_missing"),
        ({"amount": 1000, "currency": "usd", "payment_method": "pm_missing"}, "payment_method", "resource_missing"),
    ],
)
def test_bad_payment_intent_params_are_400s_with_the_param(stripe_client, stripe_server, params, param, code):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(params=params)
    assert info.value.http_status == 400
    assert info.value.param == param
    assert info.value.code == code
    assert stripe_server.state.store.count("payment_intent") == 0


def test_currency_is_normalised_to_lowercase(stripe_client):
    pi = stripe_client.v1.payment_intents.create(params={"amount": 1000, "currency": "EUR"})
    assert pi.currency == "eur"


def test_unknown_routes_are_stripes_404(http):
    for method, path in (
        ("GET", "/v1/nothing_here"),
        ("DELETE", "/v1/payment_intents/pi_123"),
        ("PUT", "/v1/customers"),
    ):
        response = http(method, path)
        assert response.status == 404, (method, path)
        assert response.body["error"]["type"] == "invalid_request_error"
        assert f"Unrecognized request URL ({method}: {path})" in response.body["error"]["message"]


def test_every_response_has_a_request_id(http):
    responses = [
        http("GET", "/v1/customers"),
        http("POST", "/v1/customers", {"email": "a@example.com"}),
        http("GET", "/v1/customers/cus_missing"),
        http("GET", "/v1/customers", key=None),
        http("GET", "/v1/unknown"),
        http("GET", "/_testing/health"),
    ]
    ids = [r.headers["Request-Id"] for r in responses]
    assert all(re.fullmatch(r"req_[A-Za-z0-9]{14}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_the_sdk_exposes_the_request_id(stripe_client, stripe_server):
    customer = stripe_client.v1.customers.create(params={"name": "x"})
    assert customer.last_response.request_id == stripe_server.requests[-1]["request_id"]


def test_bad_limit_is_a_400_on_limit(stripe_client):
    for limit in (0, 101):
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.customers.list(params={"limit": limit})
        assert info.value.param == "limit"


def test_unknown_api_version_is_refused(http):
    response = http("GET", "/v1/customers", headers={"Stripe-Version": "yesterday"})
    assert response.status == 400 and "API version" in response.body["error"]["message"]
