"""Behaviours Stripe documents that the spec cannot say: includable lists, metadata limits, descriptors,
nested required parameters, as the SDK meets them."""

from __future__ import annotations

import pytest
import stripe

from .billing_helpers import customer, price, subscribe


def test_a_customer_includes_its_tax_ids_and_subscriptions_when_asked(stripe_client):
    cus = customer(stripe_client)
    tax_id = stripe_client.v1.customers.tax_ids.create(cus.id, params={"type": "eu_vat", "value": "DE123456789"})
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    plain = stripe_client.v1.customers.retrieve(cus.id)
    assert "tax_ids" not in plain and "subscriptions" not in plain  # left out unless asked, as at Stripe
    full = stripe_client.v1.customers.retrieve(cus.id, params={"expand": ["tax_ids", "subscriptions"]})
    assert [t.id for t in full.tax_ids.data] == [tax_id.id]
    assert [s.id for s in full.subscriptions.data] == [sub.id]
    assert full.subscriptions.url == f"/v1/customers/{cus.id}/subscriptions"
    listed = stripe_client.v1.customers.list(params={"expand": ["data.tax_ids"]}).data
    assert [t.id for t in listed[0].tax_ids.data] == [tax_id.id]
    stripe_client.v1.subscriptions.cancel(sub.id)
    again = stripe_client.v1.customers.retrieve(cus.id, params={"expand": ["subscriptions"]})
    assert again.subscriptions.data == []  # canceled subscriptions are not listed


def test_a_51st_metadata_key_is_refused_on_update(stripe_client):
    cus = stripe_client.v1.customers.create(params={"metadata": {f"k{i}": "v" for i in range(50)}})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.update(cus.id, params={"metadata": {"k50": "v"}})
    assert info.value.http_status == 400 and "up to 50 keys" in info.value.user_message
    updated = stripe_client.v1.customers.update(cus.id, params={"metadata": {"k0": "", "k50": "v"}})
    assert len(updated.metadata.to_dict()) == 50  # one removed, one added: still 50


@pytest.mark.parametrize("text", ["Acme <Pro>", 'Say "hi"', "Bob's shop", "Star*"])
def test_statement_descriptors_refuse_the_characters_stripe_refuses(stripe_client, text):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "statement_descriptor_suffix": text}
        )
    assert info.value.param == "statement_descriptor_suffix"
    ok = stripe_client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "statement_descriptor_suffix": "ACME PRO"}
    )
    assert ok.statement_descriptor_suffix == "ACME PRO"


@pytest.mark.parametrize("resource", ["customers", "payment_intents"])
def test_a_shipping_address_needs_a_name(stripe_client, resource):
    params = {"shipping": {"address": {"line1": "1 Main St", "country": "US"}}}
    if resource == "payment_intents":
        params |= {"amount": 1000, "currency": "usd"}
    with pytest.raises(stripe.InvalidRequestError) as info:
        getattr(stripe_client.v1, resource).create(params=params)
    assert (info.value.http_status, info.value.code, info.value.param) == (400, "parameter_missing", "shipping[name]")
    params["shipping"]["name"] = "Ada"
    created = getattr(stripe_client.v1, resource).create(params=params)
    assert created.shipping.address.to_dict() == {
        "city": None, "country": "US", "line1": "1 Main St", "line2": None, "postal_code": None, "state": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "params", "param", "reason"),
    [
        ("subscriptions", {"billing_cycle_anchor": 1900000000}, "billing_cycle_anchor", "billing cycle anchors"),
        ("subscriptions", {"discounts": [{"coupon": "c"}]}, "discounts", "coupons"),
        ("subscriptions", {"default_tax_rates": ["txr_1"]}, "default_tax_rates", "no tax is computed"),
        ("prices", {"tiers_mode": "graduated"}, "tiers_mode", "per unit"),
        ("prices", {"currency_options": {"eur": {"unit_amount": 100}}}, "currency_options", "one currency"),
        ("invoices", {"discounts": [{"coupon": "c"}]}, "discounts", "coupons"),
        ("invoice_items", {"tax_rates": ["txr_1"]}, "tax_rates", "no tax is computed"),
    ],
)
def test_unimplemented_parameters_are_refused_with_their_reason(stripe_client, resource, params, param, reason):
    """Parameters a DAG may send that the local server does not model: a 400 that says so and why."""
    with pytest.raises(stripe.InvalidRequestError) as info:
        getattr(stripe_client.v1, resource).create(params=params)
    assert info.value.param == param
    assert "does not support" in info.value.user_message and reason in info.value.user_message
