"""Billing objects have the top-level keys of Stripe's fixture for their type and Stripe's id prefixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_stripe_automation.testing._stripe_fixtures import FIXTURES_JSON
from airflow_stripe_automation.testing.templates import fixture

from .billing_helpers import customer, draft_invoice, price, subscribe
from .test_shapes import assert_shape

BILLING_TYPES = {"product", "price", "subscription", "subscription_item", "invoice", "invoiceitem", "invoice_payment"}
PREFIXES = {"product": "prod_", "price": "price_", "subscription": "sub_", "subscription_item": "si_",
            "invoice": "in_", "invoiceitem": "ii_", "invoice_payment": "inpay_", "line_item": "il_"}  # fmt: skip
SHARED = Path("/work/shared/stripe/fixtures3.json")


def _check(obj: dict, name: str | None = None) -> None:
    name = name or obj["object"]
    if name in ("invoice_payment", "line_item"):  # the fixtures' example ids (obj_123, il_tmp_) are not real ones
        template = fixture(name)
        assert set(obj) == set(template), (name, set(obj) ^ set(template))
        assert obj["livemode"] is False
    else:
        assert_shape(obj, name)
    if name in PREFIXES:
        assert obj["id"].startswith(PREFIXES[name]), (name, obj["id"])


@pytest.fixture
def scenario(stripe_client, stripe_server):
    c = stripe_client.v1
    cus = customer(stripe_client)
    plan = price(stripe_client)
    sub = subscribe(stripe_client, cus.id, plan.id)
    failing = customer(stripe_client, card="pm_card_chargeCustomerFail", email="f@example.com")
    subscribe(stripe_client, failing.id, plan.id)  # incomplete, a failed invoice
    draft = draft_invoice(stripe_client, cus.id, amounts=(100, 200))
    voided = c.invoices.void_invoice(c.invoices.finalize_invoice(draft_invoice(stripe_client, cus.id).id).id)
    gone = draft_invoice(stripe_client, cus.id)
    c.invoices.delete(gone.id)
    pending = c.invoice_items.create(params={"customer": cus.id, "amount": 50, "currency": "usd"})
    gone_item = c.invoice_items.create(params={"customer": cus.id, "amount": 60, "currency": "usd"})
    c.invoice_items.delete(gone_item.id)
    product = c.products.create(params={"name": "Temp"})
    c.products.delete(product.id)
    stripe_server.advance_clock(days=32)  # a renewal
    return {
        "sub": sub.id, "draft": draft.id, "void": voided.id, "deleted_invoice": gone.id, "pending": pending.id,
        "deleted_item": gone_item.id, "deleted_product": product.id, "price": plan.id, "product": plan.product,
    }  # fmt: skip


def test_objects_over_http(scenario, http):
    sub = http("GET", f"/v1/subscriptions/{scenario['sub']}", {"expand[]": "latest_invoice"}).body
    _check({**sub, "latest_invoice": sub["latest_invoice"]["id"]})
    _check(sub["latest_invoice"])
    for item in sub["items"]["data"]:
        _check(item)
        _check(item["price"], "price")
    _check(http("GET", f"/v1/prices/{scenario['price']}").body)
    _check(http("GET", f"/v1/products/{scenario['product']}").body)
    for invoice in http("GET", "/v1/invoices", {"limit": 100}).body["data"]:
        _check(invoice)
        for line in invoice["lines"]["data"]:
            _check(line, "line_item")
    for line in http("GET", f"/v1/invoices/{scenario['draft']}/lines").body["data"]:
        _check(line, "line_item")
    _check(http("GET", f"/v1/invoiceitems/{scenario['pending']}").body)
    for payment in http("GET", "/v1/invoice_payments", {"limit": 100}).body["data"]:
        _check(payment)
    deleted = http("DELETE", f"/v1/invoices/{scenario['draft']}").body
    assert set(deleted) == set(fixture("deleted_invoice")) and deleted["deleted"] is True
    for event in http("GET", "/v1/events", {"limit": 100}).body["data"]:
        obj = event["data"]["object"]
        if obj["object"] in BILLING_TYPES:
            _check(obj)


def test_every_stored_billing_object_has_the_fixture_keys(scenario, stripe_server):
    store = stripe_server.state.store
    seen = set()
    for object_id, type_name, obj in store.items():
        if object_id in store.deleted or type_name not in BILLING_TYPES:
            continue
        _check(obj, store.types[type_name].fixture)
        seen.add(type_name)
        if type_name == "invoice":
            for line in store.private(object_id).get("lines", []):
                _check(line, "line_item")
    assert seen == BILLING_TYPES
    for key, stub_type in (("deleted_product", "deleted_product"), ("deleted_item", "deleted_invoiceitem"),
                           ("deleted_invoice", "deleted_invoice")):  # fmt: skip
        stub = store.lookup(scenario[key])
        assert set(stub) == set(fixture(stub_type)) and stub["deleted"] is True


@pytest.mark.skipif(not SHARED.exists(), reason="the shared copy of Stripe's fixtures is not here")
def test_embedded_billing_fixtures_are_stripes():
    """The embedded data is Stripe's, untouched; where the API version moved on, templates amend it on top."""
    embedded = json.loads(FIXTURES_JSON)
    shared = json.loads(SHARED.read_text())["resources"]
    for name in sorted(BILLING_TYPES | {"line_item", "deleted_invoice", "deleted_invoiceitem", "deleted_product"}):
        assert embedded[name] == shared[name]
