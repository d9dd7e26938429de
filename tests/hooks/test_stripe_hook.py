"""StripeHook: connection parsing, the client it builds, test_connection, and the key kept secret."""

from __future__ import annotations

import json

import pytest

from airflow_stripe_automation.hooks.stripe import StripeConnectionError, StripeHook, parse_connection

KEY = "sk_test_51SecretValueThatMustNeverLeak"


def test_parse_reads_extras():
    s = parse_connection(
        "c",
        KEY,
        {
            "api_base": "http://127.0.0.1:1234/",
            "stripe_account": "acct_1",
            "api_version": "2026-10-28.endive",
            "max_network_retries": "4",
        },
    )
    assert (s.api_base, s.stripe_account, s.api_version, s.max_network_retries, s.livemode) == (
        "http://127.0.0.1:1234",
        "acct_1",
        "2026-10-28.endive",
        4,
        False,
    )
    assert KEY not in repr(s)


def test_restricted_keys_are_accepted():
    assert parse_connection("c", "rk_test_abc", {}).api_key == "rk_test_abc"


@pytest.mark.parametrize(
    ("password", "extra", "message"),
    [
        (None, {}, "has no API key"),
        ("pk_test_123", {}, "not a Stripe secret or restricted key"),
        ("sk_live_123", {}, "live-mode key"),
        (KEY, {"api_base": "ftp://x"}, "api_base must be an http"),
        (KEY, {"stripe_account": "123"}, "acct_"),
        (KEY, {"max_network_retries": "many"}, "max_network_retries"),
    ],
)
def test_bad_connections_are_refused_without_echoing_the_key(password, extra, message):
    with pytest.raises(StripeConnectionError, match=message) as info:
        parse_connection("stripe_x", password, extra)
    assert "stripe_x" in str(info.value)
    if password:
        assert password not in str(info.value)


def test_live_keys_need_allow_live_mode():
    s = parse_connection("c", "sk_live_abc", {"allow_live_mode": "true"})
    assert s.livemode is True
    for yes in (True, 1, "1", " Yes ", "ON"):
        assert parse_connection("c", "sk_live_abc", {"allow_live_mode": yes}).livemode is True
    for no in (False, 0, "false", "off", "no", "", None):
        with pytest.raises(StripeConnectionError, match="live-mode key"):
            parse_connection("c", "sk_live_abc", {"allow_live_mode": no})


@pytest.mark.parametrize("value", ["sure", "y", "enabled", "2", 2])
def test_an_unreadable_allow_live_mode_is_refused_without_echoing_the_key(value):
    live_key = "sk_live_51LiveSecretThatMustNeverLeak"
    with pytest.raises(StripeConnectionError, match="'allow_live_mode' must be true or false") as info:
        parse_connection("stripe_live", live_key, {"allow_live_mode": value})
    assert "stripe_live" in str(info.value)
    assert live_key not in str(info.value)
    # a test-mode key never reads the switch
    assert parse_connection("stripe_test", KEY, {"allow_live_mode": value}).livemode is False


def _conn_env(monkeypatch, conn_id, password, extra):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "stripe", "password": password, "extra": extra})
    )


def test_get_conn_returns_a_cached_client_that_reaches_the_server(monkeypatch, stripe_server):
    _conn_env(monkeypatch, "stripe_hooktest", stripe_server.api_key, {"api_base": stripe_server.url})
    hook = StripeHook(stripe_conn_id="stripe_hooktest")
    client = hook.get_conn()
    assert hook.get_conn() is client
    created = client.v1.customers.create(params={"email": "a@example.com"})
    assert client.v1.customers.retrieve(created.id).email == "a@example.com"


def test_test_connection(monkeypatch, stripe_server):
    _conn_env(monkeypatch, "stripe_ok", stripe_server.api_key, {"api_base": stripe_server.url})
    assert StripeHook(stripe_conn_id="stripe_ok").test_connection() == (True, "Connection to Stripe works")

    _conn_env(monkeypatch, "stripe_bad", "sk_test_wrongbutwellformed", {"api_base": stripe_server.url + "/nope"})
    ok, message = StripeHook(stripe_conn_id="stripe_bad").test_connection()
    assert ok is False and "sk_test_wrongbutwellformed" not in message


def test_dashboard_url_follows_mode_and_account(monkeypatch):
    _conn_env(monkeypatch, "stripe_dash", KEY, {"stripe_account": "acct_9"})
    url = StripeHook(stripe_conn_id="stripe_dash").dashboard_url("payments/pi_1")
    assert url == "https://dashboard.stripe.com/acct_9/test/payments/pi_1"


def test_the_dashboard_link_of_a_local_server_object_opens_on_that_server(monkeypatch, stripe_server, stripe_client):
    """With api_base on the local Stripe server, the link opens the server's page of the object."""
    import urllib.request

    cus = stripe_client.v1.customers.create(params={"email": "linked@example.com"})
    _conn_env(monkeypatch, "stripe_local", KEY, {"api_base": stripe_server.url})
    url = StripeHook(stripe_conn_id="stripe_local").dashboard_url(f"customers/{cus.id}")

    assert url == f"{stripe_server.url}/_testing/dashboard/customers/{cus.id}"
    with urllib.request.urlopen(url, timeout=10) as page:
        assert json.loads(page.read())["email"] == "linked@example.com"


def test_provider_declares_the_connection_type():
    from airflow_stripe_automation import get_provider_info

    info = get_provider_info()
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "stripe" and conn["hook-class-name"].endswith("StripeHook")
    assert set(conn["conn-fields"]) == {
        "api_base",
        "stripe_account",
        "api_version",
        "max_network_retries",
        "allow_live_mode",
        "max_requests_per_second",
    }


@pytest.mark.slow  # the airflow CLI in a subprocess
def test_airflow_lists_the_provider_and_its_connection_type(airflow_db):
    """What a user checks after ``pip install``: ``airflow providers list`` and the connection types."""
    import os
    import subprocess
    import sys

    env = os.environ.copy()
    listed = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "airflow-stripe-automation" in listed
    hooks = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"stripe"' in hooks and "StripeHook" in hooks


def test_every_declared_module_imports():
    import importlib

    from airflow_stripe_automation import get_provider_info

    info = get_provider_info()
    modules = [
        m
        for section in ("hooks", "operators", "sensors", "triggers")
        for entry in info.get(section, [])
        for m in entry["python-modules"]
    ]
    assert modules
    for module in modules:
        importlib.import_module(module)
    for link in info["extra-links"]:
        module, _, name = link.rpartition(".")
        assert getattr(importlib.import_module(module), name)
