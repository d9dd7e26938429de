"""Form decoding of Stripe's nested parameters, as the SDK and curl send them."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.testing import errors
from airflow_stripe_automation.testing.forms import as_list, decode


def test_nested_hashes_arrays_and_lists():
    params = decode(
        "metadata[order]=42&metadata[note]=a%20b&items[0][price]=p1&items[0][quantity]=2&items[1][price]=p2"
        "&expand[]=customer&expand[]=latest_charge&confirm=true&empty="
    )
    assert params["metadata"] == {"order": "42", "note": "a b"}
    assert as_list(params["items"], "items") == [{"price": "p1", "quantity": "2"}, {"price": "p2"}]
    assert params["expand"] == ["customer", "latest_charge"]
    assert params["confirm"] == "true" and params["empty"] == ""


def test_list_of_hashes_with_empty_brackets():
    assert decode("a[][x]=1&a[][y]=2&a[][x]=3") == {"a": [{"x": "1", "y": "2"}, {"x": "3"}]}


def test_digit_keys_stay_keys_until_an_array_is_expected():
    params = decode("metadata[0]=zero&expand[0]=b&expand[1]=a")
    assert params["metadata"] == {"0": "zero"}
    assert as_list(params["expand"], "expand") == ["b", "a"]


def test_broken_names_are_400s():
    with pytest.raises(errors.StripeError) as info:
        decode("metadata[oops=1")
    assert info.value.status == 400


def test_sdk_nested_params_round_trip(stripe_client, stripe_server):
    customer = stripe_client.v1.customers.create(
        params={
            "metadata": {"plan": "gold", "seats": "3"},
            "address": {"city": "Paris", "country": "FR"},
            "preferred_locales": ["fr", "en"],
            "invoice_settings": {"footer": "Merci"},
        }
    )
    assert customer.metadata.to_dict() == {"plan": "gold", "seats": "3"}
    assert customer.address.city == "Paris" and customer.address.line1 is None
    assert customer.preferred_locales == ["fr", "en"]
    assert customer.invoice_settings.footer == "Merci"
    recorded = stripe_server.write_requests()[-1]["params"]
    assert recorded["preferred_locales"] == {"0": "fr", "1": "en"}


def test_booleans_must_be_true_or_false(http):
    response = http("POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd", "confirm": "1"})
    assert response.status == 400 and response.body["error"]["param"] == "confirm"
