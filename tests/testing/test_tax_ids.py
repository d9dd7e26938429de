"""Customer tax IDs: create with format checks, list, retrieve, delete, and ``tax_id_data`` on customers."""

from __future__ import annotations

import pytest
import stripe

from airflow_stripe_automation.testing.templates import fixture

from .test_shapes import assert_shape


@pytest.fixture
def customer(stripe_client):
    return stripe_client.v1.customers.create(params={"name": "Taxed GmbH"})


def test_create_eu_vat(stripe_client, stripe_server, customer, http):
    tax_id = stripe_client.v1.customers.tax_ids.create(customer.id, params={"type": "eu_vat", "value": "DE123456789"})
    assert tax_id.id.startswith("txi_")
    assert (tax_id.type, tax_id.value, tax_id.country, tax_id.customer) == ("eu_vat", "DE123456789", "DE", customer.id)
    assert tax_id.owner.to_dict() == {"customer": customer.id, "type": "customer", "customer_account": None}
    assert tax_id.verification.status == "pending"
    assert_shape(http("GET", f"/v1/customers/{customer.id}/tax_ids/{tax_id.id}").body)
    (event,) = stripe_server.events("customer.tax_id.created")
    assert event["data"]["object"]["id"] == tax_id.id


@pytest.mark.parametrize(
    ("type_", "value", "country", "status"),
    [
        ("eu_vat", "EL123456789", "GR", "pending"),
        ("eu_vat", "FRAB123456789", "FR", "pending"),
        ("eu_vat", "NL123456789B01", "NL", "pending"),
        ("gb_vat", "GB123456789", "GB", "pending"),
        ("us_ein", "12-3456789", "US", "unavailable"),
        ("au_abn", "12345678912", "AU", "pending"),
        ("ch_vat", "CHE-123.456.789 MWST", "CH", "unavailable"),
        ("jp_trn", "T1234567890123", "JP", "unavailable"),
    ],
)
def test_types_and_countries(stripe_client, customer, type_, value, country, status):
    tax_id = stripe_client.v1.customers.tax_ids.create(customer.id, params={"type": type_, "value": value})
    assert (tax_id.country, tax_id.verification.status, tax_id.value) == (country, status, value)


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("eu_vat", "123456789"),  # no country prefix
        ("eu_vat", "US123456789"),  # not an EU member state
        ("eu_vat", "DE12345"),  # a German VAT number has 9 digits
        ("eu_vat", "DEABCDEFGHI"),
        ("gb_vat", "DE123456789"),
        ("us_ein", "12345"),
        ("au_abn", "1234"),
    ],
)
def test_malformed_values_are_refused(stripe_client, stripe_server, customer, type_, value):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.tax_ids.create(customer.id, params={"type": type_, "value": value})
    assert (info.value.code, info.value.param) == ("tax_id_invalid", "value")
    assert info.value.user_message == f"Invalid value for {type_}."
    assert stripe_server.state.store.count("tax_id") == 0


def test_unknown_type_and_missing_params(stripe_client, customer):
    tax_ids = stripe_client.v1.customers.tax_ids
    with pytest.raises(stripe.InvalidRequestError) as info:
        tax_ids.create(customer.id, params={"type": "xx_vat", "value": "123"})
    assert info.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as info:
        tax_ids.create(customer.id, params={"type": "eu_vat"})
    assert (info.value.code, info.value.param) == ("parameter_missing", "value")
    with pytest.raises(stripe.InvalidRequestError) as info:
        tax_ids.create("cus_missing", params={"type": "eu_vat", "value": "DE123456789"})
    assert info.value.http_status == 404


def test_list_retrieve_delete(stripe_client, stripe_server, customer):
    tax_ids = stripe_client.v1.customers.tax_ids
    first = tax_ids.create(customer.id, params={"type": "eu_vat", "value": "DE123456789"})
    second = tax_ids.create(customer.id, params={"type": "us_ein", "value": "12-3456789"})
    other = stripe_client.v1.customers.create()
    assert [t.id for t in tax_ids.list(customer.id).data] == [second.id, first.id]
    assert tax_ids.list(other.id).data == []
    with pytest.raises(stripe.InvalidRequestError) as info:
        tax_ids.retrieve(other.id, first.id)
    assert info.value.http_status == 404
    assert tax_ids.retrieve(customer.id, first.id).value == "DE123456789"

    deleted = tax_ids.delete(customer.id, first.id)
    assert deleted.to_dict() == {"id": first.id, "object": "tax_id", "deleted": True}
    assert set(deleted.to_dict()) == set(fixture("deleted_tax_id"))
    assert [t.id for t in tax_ids.list(customer.id).data] == [second.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        tax_ids.retrieve(customer.id, first.id)
    assert info.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        tax_ids.delete(customer.id, first.id)
    (event,) = stripe_server.events("customer.tax_id.deleted")
    assert event["data"]["object"]["id"] == first.id and event["data"]["object"]["type"] == "eu_vat"


def test_tax_id_data_on_customer_create(stripe_client, stripe_server):
    c = stripe_client.v1
    customer = c.customers.create(
        params={
            "name": "Two IDs",
            "tax_id_data": [{"type": "eu_vat", "value": "ATU12345678"}, {"type": "gb_vat", "value": "GB123456789"}],
        }
    )
    listed = c.customers.tax_ids.list(customer.id).data
    assert sorted((t.type, t.country) for t in listed) == [("eu_vat", "AT"), ("gb_vat", "GB")]
    assert [e["type"] for e in stripe_server.events()][:3] == [
        "customer.created",
        "customer.tax_id.created",
        "customer.tax_id.created",
    ]

    with pytest.raises(stripe.InvalidRequestError) as info:
        c.customers.create(params={"email": "bad@example.com", "tax_id_data": [{"type": "eu_vat", "value": "DE1"}]})
    assert (info.value.code, info.value.param) == ("tax_id_invalid", "tax_id_data[0][value]")
    assert c.customers.list(params={"email": "bad@example.com"}).data == []  # nothing was created
