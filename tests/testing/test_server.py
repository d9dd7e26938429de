"""The server's controls: lifecycle, reset, clock, request log, injected failures, HTTP control API, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import stripe

from airflow_stripe_automation.testing import LocalStripeServer
from tests.testing.conftest import cli_server


def test_context_manager_and_free_port():
    with LocalStripeServer(port=0) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url) and server.port != 0
        assert server.api_key.startswith("sk_test_local")
        customer = server.client().v1.customers.create(params={"name": "ctx"})
        assert customer.id.startswith("cus_")
        url = server.url
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/_testing/health", timeout=1)


def test_reset_drops_everything(stripe_client, stripe_server):
    stripe_client.v1.customers.create(options={"idempotency_key": "before-reset"})
    stripe_server.advance_clock(days=3)
    stripe_server.fail_next(500, count=5)
    stripe_server.reset()
    assert stripe_server.requests == [] and stripe_server.events() == []
    assert abs(stripe_server.now() - time.time()) < 2
    again = stripe_client.v1.customers.create(options={"idempotency_key": "before-reset"})
    assert stripe_client.v1.customers.list().data[0].id == again.id  # no replay, no injected failure


def test_clock(stripe_server, stripe_client):
    assert stripe_server.set_clock(2_000_000_000) == 2_000_000_000
    assert stripe_server.advance_clock(days=1, seconds=10) in (2_000_086_410, 2_000_086_411)
    assert stripe_client.v1.customers.create().created >= 2_000_086_410
    with pytest.raises(ValueError):
        stripe_server.advance_clock(seconds=-1)


def test_request_log(stripe_client, stripe_server):
    stripe_client.v1.customers.create(params={"metadata": {"a": "1"}}, options={"idempotency_key": "log-1"})
    stripe_client.v1.customers.list(params={"limit": 3})
    writes = stripe_server.write_requests()
    assert len(writes) == 1
    (write,) = writes
    summary = {k: write[k] for k in ("method", "path", "params", "idempotency_key", "status", "replayed")}
    assert summary == {
        "method": "POST",
        "path": "/v1/customers",
        "params": {"metadata": {"a": "1"}},
        "idempotency_key": "log-1",
        "status": 200,
        "replayed": False,
    }
    read = stripe_server.requests[-1]
    assert (read["method"], read["params"], read["idempotency_key"]) == ("GET", {"limit": "3"}, None)


def test_injected_500_is_retried_by_the_sdk_with_the_same_key(stripe_server):
    stripe_server.fail_next(500, count=1, path="/v1/customers")
    client = stripe_server.client(max_network_retries=2)
    customer = client.v1.customers.create(params={"name": "retry"})
    first, second = stripe_server.write_requests()
    assert (first["status"], second["status"]) == (500, 200)
    assert first["idempotency_key"] == second["idempotency_key"]
    assert stripe_server.state.store.count("customer") == 1 and customer.name == "retry"


def test_injected_429(stripe_server, stripe_client):
    stripe_server.fail_next(429)
    with pytest.raises(stripe.RateLimitError) as info:
        stripe_client.v1.customers.list()
    assert info.value.http_status == 429 and info.value.json_body["error"]["code"] == "rate_limit"
    stripe_server.fail_next(429, should_retry=True, method="POST")
    stripe_server.client(max_network_retries=1).v1.customers.create()
    assert [r["status"] for r in stripe_server.write_requests()] == [429, 200]


def test_injected_failures_match_path_prefix_and_count(stripe_server, stripe_client):
    stripe_server.fail_next(503, count=2, path="/v1/payment_intents*")
    stripe_client.v1.customers.create()  # not matched
    for _ in range(2):
        with pytest.raises(stripe.APIError) as info:
            stripe_client.v1.payment_intents.list()
        assert info.value.http_status == 503
    assert stripe_client.v1.payment_intents.list().data == []


def _post(url, data=b""):
    request = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_http_control_api(stripe_server, stripe_client):
    base = stripe_server.url + "/_testing"
    assert _get(base + "/health")["status"] == "ok"
    before = _get(base + "/clock")["now"]
    after = _post(base + "/clock/advance", b"seconds=3600")["now"]
    assert after - before in (3600, 3601) and stripe_server.now() == after
    stripe_client.v1.customers.create()
    logged = _get(base + "/requests")["data"]
    assert [r["path"] for r in logged] == ["/v1/customers"]
    _post(base + "/fail_next", b"status=500&count=1")
    with pytest.raises(stripe.APIError):
        stripe_client.v1.customers.list()
    _post(base + "/reset")
    assert stripe_server.requests == [] and stripe_client.v1.customers.list().data == []


def test_cli_serves_and_stops_on_sigterm():
    with cli_server() as (process, port, line):
        assert f"http://127.0.0.1:{port}" in line
        assert _get(f"http://127.0.0.1:{port}/_testing/health")["status"] == "ok"
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": f"http://127.0.0.1:{port}"})
        assert client.v1.customers.create(params={"name": "cli"}).name == "cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_plugin_fixtures_share_one_server(local_stripe_server, stripe_server, stripe_client):
    assert stripe_server is local_stripe_server
    assert stripe_client.v1.customers.list().data == []


def test_plugin_import_is_cheap():
    code = (
        "import sys; import airflow_stripe_automation.testing.pytest_plugin; "
        "print(sorted(m for m in ('aiohttp', 'stripe') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _fixtures_in_an_empty_dir(tmp_path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return done.stdout


def test_an_installed_provider_registers_no_fixtures(tmp_path):
    """The plugin is opt-in: a user's pytest session sees none of its fixtures unless it loads it."""
    plain = _fixtures_in_an_empty_dir(tmp_path)
    assert "tmp_path" in plain  # pytest answered, with its own fixtures
    for name in ("stripe_server", "stripe_client", "local_stripe_server", "smtp_sink"):
        assert name not in plain
    loaded = _fixtures_in_an_empty_dir(tmp_path, "-p", "airflow_stripe_automation.testing.pytest_plugin")
    assert "stripe_server" in loaded and "smtp_sink" in loaded
