"""Every request parameter Stripe documents for an endpoint the local server serves is accepted, or
refused with a reason listed here; nested required parameters are enforced as Stripe enforces them.

Each endpoint runs in a fresh server (``AppState.call``: the same validation as over HTTP, without
it) seeded with one object of each kind, so a parameter reaches the endpoint's validation. Each
parameter of the spec's ``x-endpoints`` entry is sent alone with a value of its type (the first enum
value, a hash of its required keys): the server may accept it, refuse the value (it knows the name),
or refuse it as something it does not implement (``The local Stripe server does not support
`x` (reason)``) — then the endpoint and parameter must be in :data:`REFUSED` with that reason. It
may never answer ``parameter_unknown`` for a documented parameter.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_stripe_automation.testing import errors
from airflow_stripe_automation.testing.app import AppState
from airflow_stripe_automation.testing.resources import radar
from airflow_stripe_automation.testing.resources.payment_methods import OTHER_TYPES
from tests.testing.spec import spec

OTHER_PAYMENT_METHOD_TYPES = " ".join(OTHER_TYPES)

#: what the local server refuses: ("METHOD path", the parameters, the reason its 400 gives)
_REFUSALS: list[tuple[str, str, str]] = [
    ("POST /v1/invoiceitems", "customer_account", "Accounts v2: customers are v1 Customer objects here"),
    ("POST /v1/invoiceitems", "discounts", "discounts: no coupons or promotion codes here"),
    ("POST /v1/invoiceitems", "quantity_decimal", "decimal quantities"),
    ("POST /v1/invoiceitems", "tax_behavior tax_code", "taxes: no tax is computed"),
    ("POST /v1/invoiceitems", "tax_rates", "tax rates: no tax is computed, so the totals would be wrong"),
    ("POST /v1/invoiceitems/{id}", "discounts", "discounts: no coupons or promotion codes here"),
    ("POST /v1/invoiceitems/{id}", "invoicing_rules", "invoicing rules"),
    ("POST /v1/invoiceitems/{id}", "quantity_decimal", "decimal quantities"),
    ("POST /v1/invoiceitems/{id}", "tax_behavior tax_code", "taxes: no tax is computed"),
    ("POST /v1/invoiceitems/{id}", "tax_rates", "tax rates: no tax is computed, so the totals would be wrong"),
    ("POST /v1/invoices", "account_tax_ids", "tax ids on invoices"),
    ("POST /v1/invoices", "application_fee_amount on_behalf_of transfer_data", "Connect: no connected accounts here"),
    ("POST /v1/invoices", "customer_account", "Accounts v2: customers are v1 Customer objects here"),
    ("POST /v1/invoices", "default_source", "sources: use payment methods"),
    ("POST /v1/invoices", "default_tax_rates", "tax rates: no tax is computed, so the totals would be wrong"),
    ("POST /v1/invoices", "discounts", "discounts: no coupons or promotion codes here"),
    ("POST /v1/invoices", "from_invoice", "invoice revisions"),
    ("POST /v1/invoices", "shipping_cost shipping_details", "shipping costs and details on invoices"),
    ("POST /v1/invoices/{id}", "account_tax_ids", "tax ids on invoices"),
    (
        "POST /v1/invoices/{id}",
        "application_fee_amount on_behalf_of transfer_data",
        "Connect: no connected accounts here",
    ),
    ("POST /v1/invoices/{id}", "default_source", "sources: use payment methods"),
    ("POST /v1/invoices/{id}", "default_tax_rates", "tax rates: no tax is computed, so the totals would be wrong"),
    ("POST /v1/invoices/{id}", "discounts", "discounts: no coupons or promotion codes here"),
    ("POST /v1/invoices/{id}", "shipping_cost shipping_details", "shipping costs and details on invoices"),
    ("POST /v1/invoices/{id}/pay", "source", "sources: use payment_method"),
    ("POST /v1/payment_intents/{id}/confirm", "amount_to_confirm", "partial confirmation"),
    ("POST /v1/payment_links", "application_fee_amount application_fee_percent", "Connect application fees"),
    ("POST /v1/payment_links", "name_collection", "name collection"),
    ("POST /v1/payment_links", "on_behalf_of", "Connect: no connected accounts here"),
    ("POST /v1/payment_links", "optional_items", "optional items"),
    ("POST /v1/payment_links", "transfer_data", "Connect transfers"),
    ("POST /v1/payment_links", "shipping_options", "shipping rates: no ShippingRate objects here"),
    ("POST /v1/payment_links/{id}", "application_fee_amount application_fee_percent", "Connect application fees"),
    ("POST /v1/payment_links/{id}", "name_collection", "name collection"),
    ("POST /v1/payment_links/{id}", "on_behalf_of", "Connect: no connected accounts here"),
    ("POST /v1/payment_links/{id}", "optional_items", "optional items"),
    ("POST /v1/payment_links/{id}", "transfer_data", "Connect transfers"),
    ("POST /v1/payment_links/{id}", "shipping_options", "shipping rates: no ShippingRate objects here"),
    ("POST /v1/payment_methods", OTHER_PAYMENT_METHOD_TYPES, "card PaymentMethods only"),
    ("POST /v1/payment_methods", "customer payment_method", "cloning a Connect platform's PaymentMethod"),
    ("POST /v1/payment_methods", "radar_options", "Radar sessions"),
    ("POST /v1/prices", "currency_options", "multi-currency prices: a price has one currency here"),
    ("POST /v1/prices", "tiers tiers_mode", "tiered prices: prices are per unit here"),
    ("POST /v1/prices/{id}", "currency_options", "multi-currency prices: a price has one currency here"),
    (
        "POST /v1/subscriptions",
        "application_fee_percent on_behalf_of transfer_data",
        "Connect: no connected accounts here",
    ),
    ("POST /v1/subscriptions", "backdate_start_date", "backdating"),
    (
        "POST /v1/subscriptions",
        "billing_cycle_anchor billing_cycle_anchor_config",
        "billing cycle anchors: periods run from the start or the trial end",
    ),
    ("POST /v1/subscriptions", "billing_schedules", "prebilling"),
    ("POST /v1/subscriptions", "billing_thresholds", "usage thresholds: no metered billing here"),
    ("POST /v1/subscriptions", "customer_account", "Accounts v2: customers are v1 Customer objects here"),
    ("POST /v1/subscriptions", "default_source", "sources: use payment methods"),
    ("POST /v1/subscriptions", "default_tax_rates", "tax rates: no tax is computed, so the totals would be wrong"),
    ("POST /v1/subscriptions", "discounts", "discounts: no coupons or promotion codes here"),
    ("POST /v1/subscriptions", "pending_invoice_item_interval", "pending invoice item intervals"),
    ("POST /v1/subscriptions/{id}", "add_invoice_items", "adding invoice items on update"),
    (
        "POST /v1/subscriptions/{id}",
        "application_fee_percent on_behalf_of transfer_data",
        "Connect: no connected accounts here",
    ),
    (
        "POST /v1/subscriptions/{id}",
        "billing_cycle_anchor",
        "billing cycle anchors: periods run from the start or the trial end",
    ),
    ("POST /v1/subscriptions/{id}", "billing_schedules", "prebilling"),
    ("POST /v1/subscriptions/{id}", "billing_thresholds", "usage thresholds: no metered billing here"),
    ("POST /v1/subscriptions/{id}", "default_source", "sources: use payment methods"),
    ("POST /v1/subscriptions/{id}", "default_tax_rates", "tax rates: no tax is computed, so the totals would be wrong"),
    ("POST /v1/subscriptions/{id}", "discounts", "discounts: no coupons or promotion codes here"),
    ("POST /v1/subscriptions/{id}", "items", "changing subscription items (prorations)"),
    ("POST /v1/subscriptions/{id}", "pause_collection", "pausing subscriptions"),
    ("POST /v1/subscriptions/{id}", "pending_invoice_item_interval", "pending invoice item intervals"),
]
REFUSED: dict[tuple[str, str, str], str] = {
    (*endpoint.split(" "), name): reason for endpoint, names, reason in _REFUSALS for name in names.split()
}

_PLACEHOLDER = re.compile(r"\{[^}]+\}")


def _endpoints() -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["method"], _PLACEHOLDER.sub("{}", e["path"])): e for e in spec()["x-endpoints"]}


def _routes() -> list[tuple[str, str]]:
    return sorted({(r.method, r.path) for r in AppState().routes})


def _seed(state: AppState) -> dict[str, str]:
    """One object of each kind the paths name; returns ids by placeholder kind."""
    call = state.call
    cus = call("POST", "/v1/customers", {"email": "p@example.com", "payment_method": "pm_card_visa"})
    pm = call("GET", f"/v1/customers/{cus['id']}/payment_methods")["data"][0]["id"]
    call("POST", f"/v1/customers/{cus['id']}", {"invoice_settings": {"default_payment_method": pm}})
    price = call(
        "POST",
        "/v1/prices",
        {"currency": "usd", "unit_amount": 1000, "recurring": {"interval": "month"}, "product_data": {"name": "P"}},
    )
    pi = call(
        "POST", "/v1/payment_intents", {"amount": 1000, "currency": "usd", "customer": cus["id"], "payment_method": pm}
    )
    paid = call(
        "POST",
        "/v1/payment_intents",
        {"amount": 1000, "currency": "usd", "customer": cus["id"], "payment_method": pm, "confirm": True},
    )
    charge = paid["latest_charge"]
    refund = call("POST", "/v1/refunds", {"charge": charge, "amount": 100})
    invoice = call("POST", "/v1/invoices", {"customer": cus["id"]})
    item = call(
        "POST", "/v1/invoiceitems", {"customer": cus["id"], "amount": 500, "currency": "usd", "invoice": invoice["id"]}
    )
    sub = call("POST", "/v1/subscriptions", {"customer": cus["id"], "items": [{"price": price["id"]}]})
    link = call("POST", "/v1/payment_links", {"line_items": [{"price": price["id"], "quantity": 1}]})
    grant = call(
        "POST",
        "/v1/billing/credit_grants",
        {
            "customer": cus["id"],
            "category": "paid",
            "amount": {"type": "monetary", "monetary": {"value": 100, "currency": "usd"}},
            "applicability_config": {"scope": {"price_type": "metered"}},
        },
    )
    tax_id = call("POST", f"/v1/customers/{cus['id']}/tax_ids", {"type": "eu_vat", "value": "DE123456789"})
    txn = call("POST", f"/v1/customers/{cus['id']}/balance_transactions", {"amount": -100, "currency": "usd"})
    with state.lock:
        efw = radar.create_warning(state.store, charge, "made_with_stolen_card", True)
        state.store.settle()
    event = call("GET", "/v1/events", {"limit": 1})["data"][0]
    return {
        "customers": cus["id"],
        "prices": price["id"],
        "products": price["product"],
        "payment_intents": pi["id"],
        "payment_methods": pm,
        "charges": charge,
        "refunds": refund["id"],
        "invoices": invoice["id"],
        "invoiceitems": item["id"],
        "invoice_payments": "",
        "subscriptions": sub["id"],
        "subscription_items": sub["items"]["data"][0]["id"],
        "payment_links": link["id"],
        "credit_grants": grant["id"],
        "tax_ids": tax_id["id"],
        "balance_transactions": txn["id"],
        "early_fraud_warnings": efw["id"],
        "events": event["id"],
    }


def _path(path: str, ids: dict[str, str]) -> str:
    parts = path.split("/")
    return "/".join(ids.get(parts[i - 1], "x") if p.startswith("{") else p for i, p in enumerate(parts))


def _sample(schema: dict[str, Any]) -> Any:
    """A value of the schema's type: the first enum value, a hash of its required keys."""
    if "anyOf" in schema:
        branches = schema["anyOf"]
        if not branches:  # a type the SDK's types leave open
            return "x"
        enums = [b for b in branches if "enum" in b]
        if enums:
            return enums[0]["enum"][0]
        typed = [b for b in branches if b.get("type") not in (None, "null")]
        return _sample(typed[0] if typed else branches[0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        if not props:
            return {"k": "v"}
        keys = list(schema.get("required") or []) or [next(iter(props))]
        return {k: _sample(props[k]) for k in keys if k in props}
    if kind == "array":
        return [_sample(schema.get("items") or {"type": "string"})]
    if kind == "boolean":
        return True
    if kind == "number":
        return 1
    return "x"


def _outcome(state: AppState, method: str, path: str, params: dict[str, Any]) -> tuple[str, str]:
    try:
        state.call(method, path, params)
    except errors.StripeError as exc:
        code, message = exc.fields.get("code"), exc.fields.get("message", "")
        if code == "parameter_unknown":
            return "unknown", str(exc.fields.get("param"))
        found = re.search(r"does not support `([^`]+)`(?: \((.+)\))?", message)
        if found:
            return "refused", f"{found.group(1)}: {found.group(2) or ''}"
        return "checked", message
    return "accepted", ""


def _cases() -> list[tuple[str, str]]:
    return [route for route in _routes() if (route[0], _PLACEHOLDER.sub("{}", route[1])) in _endpoints()]


@pytest.mark.parametrize(("method", "path"), _cases(), ids=lambda v: v)
def test_every_documented_parameter_is_accepted_or_refused_with_a_reason(method, path):
    endpoint = _endpoints()[(method, _PLACEHOLDER.sub("{}", path))]
    props = (endpoint.get("params") or {}).get("properties") or {}
    unknown, refused = [], {}
    for name, schema in props.items():
        if name == "expand":
            continue
        state = AppState()
        url = _path(path, _seed(state))
        kind, detail = _outcome(state, method, url, {name: _sample(schema)})
        if kind == "unknown" and detail == name:
            unknown.append(name)
        elif kind == "refused" and detail.split(":")[0] == name:
            refused[name] = detail.split(": ", 1)[1]
    assert unknown == [], f"{method} {path}: documented parameters answered parameter_unknown"
    listed = {p: r for (m, u, p), r in REFUSED.items() if (m, u) == (method, path)}
    assert refused == listed


def _nested_required_cases() -> list[tuple[str, str, str, str]]:
    """(method, path, hash parameter, one of its required keys) for the hashes the server implements."""
    cases = []
    for method, path in _cases():
        props = (_endpoints()[(method, _PLACEHOLDER.sub("{}", path))].get("params") or {}).get("properties") or {}
        for name, schema in props.items():
            if (method, path, name) in REFUSED or schema.get("type") != "object":
                continue
            for key in schema.get("required") or []:
                if set(schema.get("properties") or {}) - {key}:  # a form body cannot send an empty hash
                    cases.append((method, path, name, key))
    return cases


@pytest.mark.parametrize(("method", "path", "name", "key"), _nested_required_cases(), ids=lambda v: v)
def test_nested_required_parameters_are_enforced(method, path, name, key):
    """``shipping[address]`` without ``shipping[name]``: Stripe's 400 ``parameter_missing`` naming it."""
    schema = _endpoints()[(method, _PLACEHOLDER.sub("{}", path))]["params"]["properties"][name]
    value = {k: v for k, v in _sample(schema).items() if k != key}
    if not value:  # a hash of one required key: send another of its keys
        other = next(k for k in schema["properties"] if k != key)
        value = {other: _sample(schema["properties"][other])}
    state = AppState()
    url = _path(path, _seed(state))
    with pytest.raises(errors.StripeError) as raised:
        state.call(method, url, {name: value})
    assert (raised.value.fields.get("code"), raised.value.fields.get("param")) == (
        "parameter_missing",
        f"{name}[{key}]",
    )
