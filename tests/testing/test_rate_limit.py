"""The local server's optional rate limit answers like Stripe's: 429 ``rate_limit``, nothing done, nothing stored."""

from __future__ import annotations

import signal

import pytest
import stripe

from airflow_stripe_automation.testing import LocalStripeServer
from airflow_stripe_automation.testing.rate_limit import RateLimiter
from tests.testing.conftest import cli_server

# One request per 100 s: "the next request comes within the second" holds on any machine.
SLOW = 0.01


def test_the_bucket_holds_a_second_of_requests_and_refills_with_time():
    clock = [100.0]
    limiter = RateLimiter(2, now=lambda: clock[0])
    assert [limiter.admit() for _ in range(3)] == [True, True, False]
    clock[0] += 0.5  # one more request's worth
    assert [limiter.admit(), limiter.admit()] == [True, False]
    clock[0] += 10  # never more than a second's burst
    assert [limiter.admit() for _ in range(3)] == [True, True, False]
    assert limiter.refused == 3
    assert RateLimiter(None).admit() and RateLimiter(0.5, now=lambda: 0.0).admit()  # a burst of at least one
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


def test_beyond_the_limit_stripe_answers_429_and_does_nothing(stripe_server, stripe_client, http):
    stripe_server.set_rate_limit(SLOW)
    first = stripe_client.v1.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": "k1"})

    with pytest.raises(stripe.RateLimitError) as info:
        stripe_client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "k2"})
    assert (info.value.http_status, info.value.error.code) == (429, "rate_limit")
    assert "rate limit" in info.value.user_message
    refused = http("GET", "/v1/customers")
    assert refused.status == 429 and "Stripe-Should-Retry" not in refused.headers  # the SDK does not retry it
    assert stripe_server.rate_limited == 2
    assert [r["status"] for r in stripe_server.requests] == [200, 429, 429]

    stripe_server.set_rate_limit(None)
    again = stripe_client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "k2"})
    assert again.id != first.id  # the refused request was not stored against its key: it runs now
    assert [c.email for c in stripe_client.v1.customers.list().data] == ["b@example.com", "a@example.com"]


def test_the_control_api_is_not_limited_and_a_reset_returns_to_the_servers_setting():
    with LocalStripeServer(rate_limit=SLOW) as server:  # starting needs the health check to pass
        client = server.client()
        client.v1.customers.create()
        with pytest.raises(stripe.RateLimitError):
            client.v1.customers.create()
        server.reset()
        client.v1.customers.create()  # a fresh bucket
        with pytest.raises(stripe.RateLimitError):
            client.v1.customers.list()  # reads count too, as at Stripe


def test_the_cli_takes_a_rate_limit():
    with cli_server("--rate-limit", str(SLOW)) as (process, port, line):
        assert f"http://127.0.0.1:{port}" in line and "at most 0.01 requests/s" in line
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": f"http://127.0.0.1:{port}"})
        client.v1.customers.create()
        with pytest.raises(stripe.RateLimitError):
            client.v1.customers.create()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
