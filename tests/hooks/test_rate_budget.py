"""The hook's rate budget against the real local Stripe server: paced requests see no 429, refused ones are resent.

Assertions are on what reached the server (its request log and ``rate_limited`` counter) and on
objects counted there, never on how long anything took: timings live in ``bench/rate_budget.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe

from airflow_stripe_automation.errors import StripeRetryPolicy, translate
from airflow_stripe_automation.hooks.http_client import BudgetedHTTPClient
from airflow_stripe_automation.hooks.stripe import StripeConnectionError, StripeHook, parse_connection
from airflow_stripe_automation.rate_budget import RateBudget, RateLimitBackoff

KEY = "sk_test_51SecretValueThatMustNeverLeak"
LOGGER = "airflow_stripe_automation.hooks.http_client"


def _hook(monkeypatch, server, conn_id: str, **extra) -> StripeHook:
    extra = {"api_base": server.url, "max_network_retries": 0, **extra}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "stripe", "password": server.api_key, "extra": extra}),
    )
    return StripeHook(stripe_conn_id=conn_id)


def _budgeted_client(server, **kwargs) -> stripe.StripeClient:
    """A client like the hook's, with the 429 pause recorded instead of slept."""
    return stripe.StripeClient(
        server.api_key,
        base_addresses={"api": server.url},
        max_network_retries=0,
        http_client=BudgetedHTTPClient(RateBudget(1000), **kwargs),
    )


# -- (a) within the server's limit: no 429 at all ------------------------------------------------


def test_reads_within_the_budget_never_meet_the_servers_rate_limit(monkeypatch, stripe_server, stripe_client):
    customer = stripe_client.v1.customers.create(params={"email": "paced@example.com"})
    hook = _hook(monkeypatch, stripe_server, "stripe_paced", max_requests_per_second=16)
    # Stripe-like: 20 a second with a second's burst. 40 reads go out from 4 threads sharing the
    # hook, as a batch task's workers would; unpaced, they would arrive in a fraction of a second.
    stripe_server.set_rate_limit(20)

    with ThreadPoolExecutor(4) as pool:
        read = list(pool.map(lambda _: hook.retrieve(customer.id)["email"], range(40)))

    assert read == ["paced@example.com"] * 40
    assert stripe_server.rate_limited == 0
    reads = [r for r in stripe_server.requests if r["path"] == f"/v1/customers/{customer.id}"]
    assert len(reads) == 40 and {r["status"] for r in reads} == {200}  # each sent once: nothing was retried
    assert (hook.http_client.rate_limited, hook.http_client.retried) == (0, 0)
    budget = hook.http_client.budget
    assert budget.per_second == 16 and budget.reserved == 40 and budget.delayed > 0  # the budget did the pacing


# -- (b) beyond it: 429s are resent with the same key, and logged as rate limiting ---------------


def test_writes_beyond_the_servers_limit_are_resent_with_their_key_and_applied_once(monkeypatch, stripe_server, caplog):
    hook = _hook(monkeypatch, stripe_server, "stripe_eager", max_requests_per_second=100)
    stripe_server.set_rate_limit(5)  # far below the budget: the server refuses what the budget lets through

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        created = [
            hook.get_conn()
            .v1.customers.create(params={"email": f"lead{i}@example.com"}, options={"idempotency_key": f"lead-{i}"})
            .id
            for i in range(15)
        ]

    refused = stripe_server.rate_limited
    stripe_server.set_rate_limit(None)  # counting what the server holds is no part of the test
    assert len(set(created)) == 15
    listed = hook.get_conn().v1.customers.list(params={"limit": 100}).data
    assert sorted(c.email for c in listed) == sorted(f"lead{i}@example.com" for i in range(15))  # once each
    assert refused > 0 and hook.http_client.rate_limited == refused == hook.http_client.retried

    writes = [r for r in stripe_server.requests if r["method"] == "POST"]
    assert Counter(r["status"] for r in writes) == {200: 15, 429: refused}
    for i in range(15):  # every attempt of a write carried that write's key; exactly one was done
        attempts = [r for r in writes if r["idempotency_key"] == f"lead-{i}"]
        assert [r["status"] for r in attempts][-1] == 200 and [r["status"] for r in attempts].count(200) == 1
    assert len(writes) == 15 + refused  # no request without its key, none lost

    warnings = [r for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == refused and all(r.levelno == logging.WARNING for r in warnings)
    assert warnings[0].getMessage().startswith("Stripe rate limit (429) on POST /v1/customers; retrying in ")
    assert "(attempt 2 of 5)" in warnings[0].getMessage()
    assert stripe_server.api_key not in caplog.text


def test_after_the_last_attempt_the_429_surfaces_as_before(stripe_server, caplog):
    slept: list[float] = []
    client = _budgeted_client(stripe_server, sleep=slept.append, jitter=lambda: 0.0)
    stripe_server.fail_next(status=429, count=5, path="/v1/customers")

    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(stripe.RateLimitError) as info:
        client.v1.customers.create(params={"email": "late@example.com"}, options={"idempotency_key": "late"})

    assert slept == [0.25, 0.5, 1.0, 2.0]  # exponential backoff between the 5 attempts
    assert [r["idempotency_key"] for r in stripe_server.requests] == ["late"] * 5
    assert stripe_server.requests[-1]["status"] == 429 and client.v1.customers.list().data == []
    # what errors.py makes of it is unchanged: a retryable error for the task's retry policy
    assert translate(info.value, "create a customer") is info.value
    assert StripeRetryPolicy().evaluate(info.value, 1, 3).reason == "Stripe rate limit (429); backing off"
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER][-1] == (
        "Stripe rate limit (429) on POST /v1/customers; giving up after 5 attempts"
    )


def test_a_429_that_clears_is_resent_once_it_clears(stripe_server):
    slept: list[float] = []
    client = _budgeted_client(stripe_server, sleep=slept.append, jitter=lambda: 0.5)
    stripe_server.fail_next(status=429, count=2, path="/v1/customers")

    created = client.v1.customers.create(params={"email": "once@example.com"}, options={"idempotency_key": "once"})

    assert [r["status"] for r in stripe_server.requests] == [429, 429, 200]
    assert slept == [0.375, 0.75]
    assert [c.id for c in client.v1.customers.list().data] == [created.id]


class ScriptedHTTPClient(stripe.HTTPClient):
    """Answers from a script of (status, headers), recording the headers of each request it gets."""

    name = "scripted"

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self.script = script
        self.sent: list[dict[str, str]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.sent.append(dict(headers or {}))
        status, response_headers = self.script.pop(0)
        return b"{}", status, response_headers


def test_retry_after_is_read_from_the_response_and_a_long_one_is_left_to_airflow(caplog):
    slept: list[float] = []
    inner = ScriptedHTTPClient([(429, {"retry-after": "3"}), (429, {"Retry-After": "3600"})])
    client = BudgetedHTTPClient(RateBudget(1000), inner, sleep=slept.append, jitter=lambda: 0.0)
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "k1"}

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _, status, _ = client.request_with_retries("post", "https://api.stripe.com/v1/refunds?x=1", headers, "a=1")

    assert status == 429 and slept == [3.0]  # Stripe's 3 s honoured; its hour is not slept through
    assert [h["Idempotency-Key"] for h in inner.sent] == ["k1", "k1"]
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        "Stripe rate limit (429) on POST /v1/refunds; retrying in 3.0 s (attempt 2 of 5)",
        "Stripe rate limit (429) on POST /v1/refunds; Retry-After 3600 is longer than a task waits (60 s): "
        "leaving it to the task's retry",
    ]
    assert KEY not in caplog.text


def test_a_429_stripe_says_not_to_retry_is_not_resent(stripe_server):
    client = _budgeted_client(stripe_server, sleep=lambda s: None)
    stripe_server.fail_next(status=429, count=1, should_retry=False)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.list()
    assert [r["status"] for r in stripe_server.requests] == [429]


def test_other_errors_are_left_to_the_sdk_and_errors_py(stripe_server):
    slept: list[float] = []
    client = _budgeted_client(stripe_server, sleep=slept.append)
    stripe_server.fail_next(status=500, count=1)
    with pytest.raises(stripe.APIError):
        client.v1.customers.list()
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve("cus_missing")
    assert slept == [] and [r["status"] for r in stripe_server.requests] == [500, 404]


def test_the_async_path_is_paced_and_resends_a_429_too(stripe_server):
    budget = RateBudget(1000)
    http_client = BudgetedHTTPClient(budget, backoff=RateLimitBackoff(base=0.01), jitter=lambda: 0.0)
    client = stripe.StripeClient(
        stripe_server.api_key, base_addresses={"api": stripe_server.url}, max_network_retries=0, http_client=http_client
    )
    stripe_server.fail_next(status=429, count=1, path="/v1/customers")

    async def main() -> str:
        try:
            created = await client.v1.customers.create_async(
                params={"email": "async@example.com"}, options={"idempotency_key": "async"}
            )
            return created.id
        finally:
            await http_client.close_async()

    created_id = asyncio.run(main())
    assert [r["status"] for r in stripe_server.requests] == [429, 200]
    assert {r["idempotency_key"] for r in stripe_server.requests} == {"async"}
    assert budget.reserved == 2 and http_client.retried == 1
    assert [c.id for c in client.v1.customers.list().data] == [created_id]


def test_the_trigger_gets_the_same_budgeted_client(monkeypatch, stripe_server):
    hook = _hook(monkeypatch, stripe_server, "stripe_trigger", max_requests_per_second="7.5")
    client = asyncio.run(hook.aget_conn())
    assert client is hook.get_conn()
    assert isinstance(hook.http_client, BudgetedHTTPClient) and hook.http_client.budget.per_second == 7.5
    client.v1.customers.list()
    assert hook.http_client.budget.reserved == 1


# -- (c) the connection extra ------------------------------------------------------------------


def test_the_budget_defaults_to_stripes_limit_for_the_keys_mode():
    assert parse_connection("c", KEY, {}).max_requests_per_second == 25
    assert parse_connection("c", KEY, {"max_requests_per_second": ""}).max_requests_per_second == 25
    assert parse_connection("c", KEY, {"max_requests_per_second": None}).max_requests_per_second == 25
    live = parse_connection("c", "sk_live_51LiveSecret", {"allow_live_mode": True})
    assert live.max_requests_per_second == 100
    assert parse_connection("c", KEY, {"max_requests_per_second": 8}).max_requests_per_second == 8
    assert parse_connection("c", KEY, {"max_requests_per_second": " 12.5 "}).max_requests_per_second == 12.5
    assert "max_requests_per_second=25" in repr(parse_connection("c", KEY, {}))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "must be positive, got 0"),
        (-5, "must be positive, got -5"),
        ("0", "must be positive, got '0'"),
        ("fast", "must be a number of requests a second .* got 'fast'"),
        ("nan", "must be a number"),
        ("inf", "must be a number"),
        (True, "must be a number"),
        ([25], "must be a number"),
    ],
)
def test_a_bad_budget_is_refused_clearly_without_echoing_the_key(value, message):
    for key in (KEY, "sk_live_51LiveSecretThatMustNeverLeak"):
        with pytest.raises(StripeConnectionError, match=message) as info:
            parse_connection("stripe_budget", key, {"max_requests_per_second": value, "allow_live_mode": True})
        text = str(info.value)
        assert "stripe_budget" in text and "max_requests_per_second" in text and key not in text
        assert "25 requests a second in test mode and 100 in live mode" in text
