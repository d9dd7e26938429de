"""The table of Stripe object types: every row names a real SDK service, a dashboard page and a Stripe type."""

from __future__ import annotations

import json
import re

import pytest
import stripe

from airflow_stripe_automation import object_types
from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.object_types import OBJECT_TYPES, by_id, by_object, dashboard_path
from airflow_stripe_automation.operators.base import dashboard_path as dashboard_path_from_operators
from airflow_stripe_automation.testing.templates import fixture

READ_BY_ID = [kind for kind in OBJECT_TYPES if kind.service]


def test_prefixes_are_unique_and_none_is_a_prefix_of_another():
    prefixes = [kind.prefix for kind in OBJECT_TYPES]
    assert len(set(prefixes)) == len(prefixes)
    for a in prefixes:
        assert a.endswith("_")
        assert not [b for b in prefixes if b != a and b.startswith(a)], a  # by_id's first match is the only one


@pytest.mark.parametrize("kind", READ_BY_ID, ids=lambda kind: kind.prefix)
def test_every_service_is_a_real_stripe_client_service(kind):
    service = stripe.StripeClient("sk_test_x").v1
    for part in kind.service.split("."):
        service = getattr(service, part)
    assert type(service).__name__.endswith("Service"), service  # not a namespace such as v1.radar
    assert callable(service.retrieve)
    # Stripe updates all of them but early fraud warnings (which take no metadata)
    assert callable(getattr(service, "update", None)) == (kind.object != "radar.early_fraud_warning")


def test_the_types_not_read_by_id_are_the_known_ones():
    # Giving one of these a service makes StripeRetrieveOperator accept its ids: a deliberate change.
    assert sorted(kind.prefix for kind in OBJECT_TYPES if kind.service is None) == ["cbtxn_", "credgr_", "evt_"]
    assert object_types.readable_prefixes() == sorted(kind.prefix for kind in READ_BY_ID)


@pytest.mark.parametrize("kind", OBJECT_TYPES, ids=lambda kind: kind.prefix)
def test_every_prefix_has_a_dashboard_url(kind, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_STRIPE_TABLE", json.dumps({"conn_type": "stripe", "password": "sk_test_table", "extra": {}})
    )
    object_id = f"{kind.prefix}123"
    url = StripeHook(stripe_conn_id="stripe_table").dashboard_url(dashboard_path(object_id))
    assert re.fullmatch(rf"https://dashboard\.stripe\.com/test/[a-z]+(?:[/-][a-z]+)*/{object_id}", url), url


@pytest.mark.parametrize("kind", OBJECT_TYPES, ids=lambda kind: kind.prefix)
def test_every_object_name_is_a_stripe_type(kind):
    # Stripe's own example object of that type says the same ``object``.
    assert fixture(kind.object)["object"] == kind.object


def test_lookups():
    assert by_id("in_123").service == "invoices"
    assert by_id("issfr_1").object == "radar.early_fraud_warning"
    assert by_id("acct_123") is None
    assert by_id("") is None
    assert by_object("charge").prefix == "ch_"  # not py_: the first row wins
    assert by_object("invoice").dashboard_section == "invoices"
    assert by_object("account") is None
    assert dashboard_path("pi_1") == "payments/pi_1"
    assert dashboard_path("acct_1") is None
    assert dashboard_path_from_operators is dashboard_path  # operators import it from operators.base
