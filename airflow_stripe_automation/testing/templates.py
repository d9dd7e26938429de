"""Stripe's fixture objects as templates: every object the server returns starts as a copy of one.

Taking the fixture for the type and overriding fields (rather than writing dict literals) keeps the
top-level keys identical to Stripe's, including the ones no code here cares about yet.
"""

from __future__ import annotations

import json
from typing import Any

from ._stripe_fixtures import FIXTURES_JSON

_FIXTURES: dict[str, Any] | None = None


#: Where Stripe's fixtures lag behind the API version the SDK pins (2026-10-28.endive, checked
#: by tests/testing/test_spec_objects.py): keys each type gained (with their empty value) or lost.
_ADDED: dict[str, dict[str, Any]] = {
    "payment_intent": {"allowed_payment_method_types": None, "payment_record": None},
    "product": {"tax_details": None},
    "subscription_item": {"current_trial": None},
}
_REMOVED: dict[str, tuple[str, ...]] = {
    "invoice": ("subscription",),  # since 2025-03-31.basil: parent.subscription_details.subscription
}


def _amend(fixtures: dict[str, Any]) -> dict[str, Any]:
    for name, added in _ADDED.items():
        fixtures[name].update(clone(added))
    for name, removed in _REMOVED.items():
        for key in removed:
            fixtures[name].pop(key, None)
    card = fixtures["charge"]["payment_method_details"]["card"]
    card.setdefault("electronic_commerce_indicator", None)
    sub = fixtures["subscription"]
    sub["cancellation_details"].setdefault("feedback_option", None)
    sub["trial_settings"]["end_behavior"].setdefault("billing_cycle_anchor", None)
    sub["pending_update"].setdefault("cancel_at_period_end", None)
    for item in sub["items"]["data"]:
        item.setdefault("current_trial", None)
    settings = fixtures["payment_link"]["subscription_data"]["invoice_settings"]
    for key in ("account_tax_ids", "custom_fields", "description", "footer"):
        settings.setdefault(key, None)
    return fixtures


def _all() -> dict[str, Any]:
    global _FIXTURES
    if _FIXTURES is None:
        _FIXTURES = _amend(json.loads(FIXTURES_JSON))
    return _FIXTURES


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object for resource type ``name`` (e.g. ``"customer"``)."""
    return clone(_all()[name])


def fixture_names() -> list[str]:
    return sorted(_all())


def clone(value: Any) -> Any:
    """Deep copy of JSON data (several times faster than ``copy.deepcopy``)."""
    if type(value) is dict:
        return {k: clone(v) for k, v in value.items()}
    if type(value) is list:
        return [clone(v) for v in value]
    return value
