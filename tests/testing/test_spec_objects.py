"""Every object the local Stripe server answers is the object Stripe's API version 2026-10-28 describes.

One scenario drives every endpoint the server serves with the calls the provider and the tests make
(create, retrieve, update, list, search, delete, the actions; expanded fields; nested hashes and
arrays sent the way the SDK encodes them), and every response body is kept. Each API object in them
(list items, expanded and embedded objects, each event's ``data.object``) is validated against its
schema in the spec (:mod:`tests.testing.spec`): no key missing, none extra, the right types, enum
values the spec lists.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_stripe_automation.testing import app as server_app
from tests.testing.billing_helpers import RENEWAL_MARGIN, period_end
from tests.testing.spec import mismatches, previous_attributes_mismatches, walk_responses

CUSTOM_FIELDS = [{"name": "PO number", "value": "PO-1"}, {"name": "Cost centre", "value": "CC-7"}]
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US", "state": "OR"}


@pytest.fixture
def responses(stripe_server, monkeypatch) -> list[tuple[str, Any]]:
    """Every response body the server's endpoints produce during the test, as ``("METHOD /path", body)``."""
    seen: list[tuple[str, Any]] = []
    original = server_app.run_handler

    def recording(state, route, params, args, rid, key, path, encode_body=None):
        result = original(state, route, params, args, rid, key, path, encode_body)
        body = json.loads(result) if isinstance(result, bytes) else result
        seen.append((f"{route.method} {route.path}", body))
        return result

    monkeypatch.setattr(server_app, "run_handler", recording)
    return seen


def _scenario(client: Any, server: Any) -> None:
    v1 = client.v1
    # customers, their tax ids, balance and payment methods
    cus = v1.customers.create(
        params={
            "email": "spec@example.com",
            "name": "Spec Check",
            "address": ADDRESS,
            "shipping": {"name": "Spec Check", "address": ADDRESS, "phone": "+15555550100"},
            "invoice_settings": {
                "custom_fields": CUSTOM_FIELDS,
                "footer": "Thanks",
                "rendering_options": {"amount_tax_display": "include_inclusive_tax"},
            },
            "payment_method": "pm_card_visa",
            "preferred_locales": ["en", "fr"],
            "metadata": {"tier": "gold"},
        }
    )
    v1.customers.update(
        cus.id,
        params={
            "invoice_settings": {
                "default_payment_method": cus.invoice_settings.default_payment_method
                or v1.customers.payment_methods.list(cus.id).data[0].id
            }
        },
    )
    v1.customers.retrieve(
        cus.id, params={"expand": ["tax_ids", "subscriptions", "invoice_settings.default_payment_method"]}
    )
    v1.customers.list(params={"email": "spec@example.com"})
    v1.customers.search(params={"query": "email:'spec@example.com'"})
    tax_id = v1.customers.tax_ids.create(cus.id, params={"type": "eu_vat", "value": "DE123456789"})
    v1.customers.tax_ids.retrieve(cus.id, tax_id.id)
    v1.customers.tax_ids.list(cus.id)
    v1.customers.tax_ids.delete(cus.id, tax_id.id)
    txn = v1.customers.balance_transactions.create(
        cus.id, params={"amount": -500, "currency": "usd", "description": "Goodwill"}
    )
    v1.customers.balance_transactions.update(cus.id, txn.id, params={"metadata": {"why": "late"}})
    v1.customers.balance_transactions.retrieve(cus.id, txn.id)
    v1.customers.balance_transactions.list(cus.id)
    pm = v1.payment_methods.attach("pm_card_mastercard", params={"customer": cus.id})
    v1.payment_methods.update(
        pm.id, params={"billing_details": {"name": "Spec Check", "address": ADDRESS}, "metadata": {"k": "v"}}
    )
    v1.payment_methods.retrieve(pm.id)
    v1.payment_methods.list(params={"customer": cus.id, "type": "card"})
    v1.customers.payment_methods.list(cus.id)
    v1.customers.payment_methods.retrieve(cus.id, pm.id)
    v1.payment_methods.detach(pm.id)
    default_pm = v1.customers.retrieve(cus.id).invoice_settings.default_payment_method

    # products and prices
    product = v1.products.create(
        params={"name": "Spec plan", "description": "All of it", "metadata": {"a": "b"}, "tax_code": "txcd_10000000"}
    )
    v1.products.update(product.id, params={"description": "Most of it"})
    v1.products.retrieve(product.id)
    v1.products.list()
    v1.products.search(params={"query": "name:'Spec plan'"})
    monthly = v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
            "lookup_key": "spec_monthly",
        }
    )
    one_off = v1.prices.create(params={"currency": "usd", "unit_amount": 1500, "product_data": {"name": "Setup fee"}})
    v1.prices.update(monthly.id, params={"nickname": "Monthly", "metadata": {"x": "y"}})
    v1.prices.retrieve(monthly.id, params={"expand": ["product"]})
    v1.prices.list(params={"lookup_keys": ["spec_monthly"], "expand": ["data.product"]})
    v1.prices.search(params={"query": "lookup_key:'spec_monthly'"})
    product_with_price = v1.products.create(
        params={"name": "Bundled", "default_price_data": {"currency": "usd", "unit_amount": 900}}
    )
    v1.products.retrieve(product_with_price.id, params={"expand": ["default_price"]})
    spare = v1.products.create(params={"name": "Spare"})
    v1.products.delete(spare.id)

    # payments: intents, charges, refunds, fraud warnings
    pi = v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": default_pm,
            "confirm": True,
            "off_session": True,
            "description": "Lead fee",
            "metadata": {"lead": "1"},
            "receipt_email": "spec@example.com",
            "shipping": {"name": "Spec Check", "address": ADDRESS},
            "statement_descriptor_suffix": "LEAD",
        }
    )
    v1.payment_intents.retrieve(
        pi.id, params={"expand": ["latest_charge", "latest_charge.balance_transaction", "customer", "payment_method"]}
    )
    v1.payment_intents.update(pi.id, params={"metadata": {"lead": "2"}})
    v1.payment_intents.list(params={"customer": cus.id})
    v1.payment_intents.search(params={"query": "status:'succeeded'"})
    manual = v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": default_pm,
            "capture_method": "manual",
            "excluded_payment_method_types": ["ideal"],
        }
    )
    v1.payment_intents.update(manual.id, params={"excluded_payment_method_types": ["ideal", "sofort"]})
    v1.payment_intents.confirm(manual.id)
    v1.payment_intents.capture(manual.id, params={"amount_to_capture": 800})
    to_cancel = v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "transfer_data": {"destination": "acct_1Spec", "amount": 500}}
    )
    v1.payment_intents.cancel(to_cancel.id, params={"cancellation_reason": "abandoned"})
    declined = v1.payment_intents.create(params={"amount": 900, "currency": "usd", "customer": cus.id})
    try:
        v1.payment_intents.confirm(declined.id, params={"payment_method": "pm_card_chargeDeclined"})
    except Exception:  # a 402: its error body holds the intent, read back below
        pass
    v1.payment_intents.retrieve(declined.id)
    charge_id = v1.payment_intents.retrieve(pi.id).latest_charge
    v1.charges.retrieve(charge_id, params={"expand": ["balance_transaction", "payment_intent", "customer"]})
    v1.charges.update(charge_id, params={"description": "Lead fee (updated)", "metadata": {"c": "d"}})
    v1.charges.list(params={"customer": cus.id})
    v1.charges.search(params={"query": "amount>100"})
    refund = v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 500, "reason": "requested_by_customer", "metadata": {"r": "1"}}
    )
    v1.refunds.update(refund.id, params={"metadata": {"r": "2"}})
    v1.refunds.retrieve(refund.id, params={"expand": ["charge"]})
    v1.refunds.list(params={"charge": charge_id})
    server.call("GET", f"/v1/charges/{charge_id}/refunds")  # the SDK no longer has these two
    server.call("GET", f"/v1/charges/{charge_id}/refunds/{refund.id}")
    server.create_early_fraud_warning(charge_id)
    (efw,) = v1.radar.early_fraud_warnings.list(params={"charge": charge_id}).data
    v1.radar.early_fraud_warnings.retrieve(efw.id, params={"expand": ["charge", "payment_intent"]})

    # invoices and invoice items
    item = v1.invoice_items.create(
        params={
            "customer": cus.id,
            "amount": 1200,
            "currency": "usd",
            "description": "Consulting",
            "metadata": {"i": "1"},
        }
    )
    v1.invoice_items.update(item.id, params={"description": "Consulting (2h)"})
    v1.invoice_items.retrieve(item.id)
    v1.invoice_items.list(params={"customer": cus.id})
    v1.invoice_items.create(params={"customer": cus.id, "pricing": {"price": one_off.id}, "quantity": 2})
    invoice = v1.invoices.create(
        params={
            "customer": cus.id,
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "custom_fields": CUSTOM_FIELDS,
            "description": "Spec invoice",
            "footer": "Pay soon",
            "metadata": {"inv": "1"},
            "rendering": {"amount_tax_display": "exclude_tax"},
            "pending_invoice_items_behavior": "include",
        }
    )
    v1.invoices.update(
        invoice.id, params={"custom_fields": [{"name": "PO number", "value": "PO-2"}], "statement_descriptor": "SPEC"}
    )
    v1.invoices.add_lines(
        invoice.id, params={"lines": [{"amount": 300, "description": "Extra"}, {"pricing": {"price": one_off.id}}]}
    )
    lines = v1.invoices.line_items.list(invoice.id)
    v1.invoices.remove_lines(invoice.id, params={"lines": [{"id": lines.data[0].id, "behavior": "delete"}]})
    v1.invoices.finalize_invoice(invoice.id)
    v1.invoices.send_invoice(invoice.id)
    v1.invoices.retrieve(invoice.id, params={"expand": ["customer", "payments", "confirmation_secret"]})
    v1.invoices.pay(invoice.id, params={"payment_method": default_pm})
    v1.invoices.line_items.list(invoice.id)
    v1.invoices.list(params={"customer": cus.id, "status": "paid", "expand": ["data.payments"]})
    v1.invoices.search(params={"query": "status:'paid'"})
    (payment,) = v1.invoice_payments.list(params={"invoice": invoice.id}).data
    v1.invoice_payments.retrieve(payment.id)
    to_void = v1.invoices.create(params={"customer": cus.id, "auto_advance": False})
    v1.invoice_items.create(params={"customer": cus.id, "invoice": to_void.id, "amount": 400, "currency": "usd"})
    v1.invoices.finalize_invoice(to_void.id)
    v1.invoices.void_invoice(to_void.id)
    bad_debt = v1.invoices.create(params={"customer": cus.id, "collection_method": "send_invoice", "days_until_due": 7})
    v1.invoice_items.create(params={"customer": cus.id, "invoice": bad_debt.id, "amount": 400, "currency": "usd"})
    v1.invoices.finalize_invoice(bad_debt.id)
    v1.invoices.mark_uncollectible(bad_debt.id)
    draft = v1.invoices.create(params={"customer": cus.id})
    v1.invoices.delete(draft.id)
    lone = v1.invoice_items.create(params={"customer": cus.id, "amount": 100, "currency": "usd"})
    v1.invoice_items.delete(lone.id)

    # subscriptions and their items, through a trial and a renewal
    sub = v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": monthly.id, "quantity": 2, "metadata": {"seat": "2"}}],
            "metadata": {"plan": "pro"},
            "description": "Spec subscription",
            "invoice_settings": {"custom_fields": CUSTOM_FIELDS},
            "expand": ["latest_invoice"],
        }
    )
    v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice", "customer", "items.data.price.product"]})
    v1.subscriptions.update(sub.id, params={"metadata": {"plan": "pro+"}, "cancel_at_period_end": True})
    v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    v1.subscriptions.list(params={"customer": cus.id, "expand": ["data.latest_invoice"]})
    v1.subscriptions.search(params={"query": "status:'active'"})
    (si,) = v1.subscription_items.list(params={"subscription": sub.id}).data
    v1.subscription_items.retrieve(si.id)
    trial = v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": monthly.id}],
            "trial_period_days": 7,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        }
    )
    server.set_clock(period_end(client, sub.id) + RENEWAL_MARGIN)
    v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    v1.invoices.list(params={"subscription": sub.id})
    v1.subscriptions.cancel(
        trial.id, params={"cancellation_details": {"comment": "too pricey", "feedback": "too_expensive"}}
    )
    server.advance_clock(days=1)

    # payment links
    link = v1.payment_links.create(
        params={
            "line_items": [
                {
                    "price": one_off.id,
                    "quantity": 1,
                    "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 5},
                }
            ],
            "custom_fields": [{"key": "ref", "label": {"type": "custom", "custom": "Reference"}, "type": "text"}],
            "shipping_address_collection": {"allowed_countries": ["US", "CA"]},
            "metadata": {"l": "1"},
            "after_completion": {"type": "redirect", "redirect": {"url": "https://example.com/thanks"}},
        }
    )
    v1.payment_links.update(link.id, params={"active": False})
    v1.payment_links.retrieve(link.id)
    v1.payment_links.list()
    v1.payment_links.line_items.list(link.id)
    sub_link = v1.payment_links.create(
        params={
            "line_items": [{"price": monthly.id, "quantity": 1}],
            "subscription_data": {"description": "Via link", "trial_period_days": 14},
        }
    )
    v1.payment_links.retrieve(sub_link.id)

    # credit grants
    grant = v1.billing.credit_grants.create(
        params={
            "customer": cus.id,
            "category": "promotional",
            "amount": {"type": "monetary", "monetary": {"value": 1000, "currency": "usd"}},
            "applicability_config": {"scope": {"price_type": "metered"}},
            "name": "Welcome credit",
        }
    )
    v1.billing.credit_grants.update(grant.id, params={"metadata": {"g": "1"}})
    v1.billing.credit_grants.retrieve(grant.id)
    v1.billing.credit_grants.list(params={"customer": cus.id})
    v1.billing.credit_grants.void_grant(grant.id)
    other = v1.billing.credit_grants.create(
        params={
            "customer": cus.id,
            "category": "paid",
            "amount": {"type": "monetary", "monetary": {"value": 500, "currency": "usd"}},
            "applicability_config": {"scope": {"price_type": "metered"}},
        }
    )
    v1.billing.credit_grants.expire(other.id)

    # a customer deleted, and every event
    gone = v1.customers.create(params={"email": "gone@example.com"})
    v1.customers.delete(gone.id)
    events = v1.events.list(params={"limit": 100})
    for event in events.data[:5]:
        v1.events.retrieve(event.id)
    while events.has_more:
        events = v1.events.list(params={"limit": 100, "starting_after": events.data[-1].id})


def _nested_types(value: Any) -> set[str]:
    """The ``object`` of every object inside a body (expanded and embedded ones too)."""
    if isinstance(value, list):
        return set().union(*(_nested_types(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = {value["object"]} if isinstance(value.get("object"), str) and "id" in value else set()
    return found.union(*(_nested_types(v) for v in value.values()))


def test_every_object_the_server_returns_matches_the_spec(stripe_server, stripe_client, responses):
    _scenario(stripe_client, stripe_server)
    found: dict[str, set[str]] = {}
    types: set[str] = set()
    for endpoint, body in responses:
        for name, obj in walk_responses(body):
            types.add(name)
            problems = mismatches(obj, name)
            if name == "event":
                problems += previous_attributes_mismatches(obj)
            for problem in problems:
                found.setdefault(problem, set()).add(endpoint)
    for _, body in responses:
        types |= _nested_types(body)
    served = {t.name for f in stripe_server.state.families for t in f.types}
    assert served - types == set(), "object types the scenario never saw"
    report = [f"{problem}   (from {', '.join(sorted(found[problem])[:2])})" for problem in sorted(found)]
    assert report == [], f"{len(report)} mismatches with the spec:\n" + "\n".join(report)
