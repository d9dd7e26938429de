"""Customers: metadata merge and removal, default payment method, delete, and their events."""

from __future__ import annotations

import pytest
import stripe


def test_metadata_merges_and_empty_values_remove_keys(stripe_client, stripe_server):
    c = stripe_client.v1.customers
    customer = c.create(params={"metadata": {"keep": "1", "drop": "2"}})
    updated = c.update(customer.id, params={"metadata": {"drop": "", "new": "3"}})
    assert updated.metadata.to_dict() == {"keep": "1", "new": "3"}
    event = stripe_server.events("customer.updated")[-1]
    assert event["data"]["previous_attributes"] == {"metadata": {"drop": "2", "new": None}}
    cleared = c.update(customer.id, params={"metadata": ""})
    assert cleared.metadata.to_dict() == {}


def test_update_without_change_emits_no_event(stripe_client, stripe_server):
    customer = stripe_client.v1.customers.create(params={"name": "Same"})
    stripe_client.v1.customers.update(customer.id, params={"name": "Same"})
    assert [e["type"] for e in stripe_server.events()] == ["customer.created"]


def test_empty_string_unsets_a_field(stripe_client):
    customer = stripe_client.v1.customers.create(params={"description": "vip", "phone": "+33100000000"})
    updated = stripe_client.v1.customers.update(customer.id, params={"description": ""})
    assert updated.description is None and updated.phone == "+33100000000"


def test_default_payment_method_must_be_attached(stripe_client):
    c = stripe_client.v1
    customer = c.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    assert info.value.param == "invoice_settings[default_payment_method]"
    pm = c.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    updated = c.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    assert updated.invoice_settings.default_payment_method == pm.id


def test_detaching_the_default_payment_method_clears_it(stripe_client, stripe_server):
    c = stripe_client.v1
    customer = c.customers.create()
    pm = c.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    c.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    detached = c.payment_methods.detach(pm.id)
    assert detached.customer is None
    assert c.customers.retrieve(customer.id).invoice_settings.default_payment_method is None
    event = stripe_server.events("payment_method.detached")[-1]
    assert event["data"]["previous_attributes"] == {"customer": customer.id}
    with pytest.raises(stripe.InvalidRequestError):  # a detached PaymentMethod cannot be used again
        c.payment_methods.attach(pm.id, params={"customer": customer.id})


def test_create_with_payment_method(stripe_client, stripe_server):
    customer = stripe_client.v1.customers.create(
        params={"payment_method": "pm_card_visa", "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    pms = stripe_client.v1.customers.payment_methods.list(customer.id).data
    assert len(pms) == 1 and customer.invoice_settings.default_payment_method == pms[0].id
    assert [e["type"] for e in stripe_server.events()][:2] == ["customer.created", "payment_method.attached"]


def test_delete(stripe_client, stripe_server):
    c = stripe_client.v1.customers
    customer = c.create(params={"email": "gone@example.com"})
    deleted = c.delete(customer.id)
    assert (deleted.id, deleted.deleted) == (customer.id, True)
    again = c.retrieve(customer.id)
    assert again.deleted is True
    assert c.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.update(customer.id, params={"name": "zombie"})
    assert info.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        c.delete(customer.id)
    event = stripe_server.events("customer.deleted")[-1]
    assert event["data"]["object"]["email"] == "gone@example.com"


def test_invalid_email_and_enum(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.create(params={"email": "not an email"})
    assert info.value.param == "email"
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.create(params={"tax_exempt": "sometimes"})
    assert info.value.param == "tax_exempt"
