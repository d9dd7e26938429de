"""Rate limits, outages and resets on an action's write: retried, and done once.

A 429 burst is waited out by the hook's client (the log says rate limit); a longer one fails the
try as a rate limit, which the retry policy retries after a pause. A 500 or 503 fails the try (the
test connection has no SDK retries) and the policy retries it. A connection reset after the write
is resent by the SDK itself (``max_network_retries``, 2 by default) with the same key, and replayed.
A write stalled beyond the client's timeout is applied after the client gave up: its retries meet
Stripe's 409 for the key in use, then the saved result.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
import stripe
from airflow.sdk import RetryAction

from airflow_stripe_automation.errors import StripeRetryPolicy
from tests.conftest import TEST_BUDGET
from tests.reliability.conftest import PRIMARY, known_hole


def test_a_429_burst_is_waited_out_and_logged_as_rate_limiting(world, action, caplog):
    task = world(action)
    world.inject(task, "fail", status=429, count=2)
    with caplog.at_level(logging.WARNING, logger="airflow_stripe_automation.hooks.http_client"):
        task.run()
    assert world.effects(task) == action.once and task.tries == 1
    assert caplog.text.count("Stripe rate limit (429)") == 2 and "retrying in" in caplog.text
    assert [m["kind"] for m in world.server.faults_met] == ["fail", "fail"]


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_fails_the_try_and_the_retry_acts_once(world, action, status):
    task = world(action)
    world.inject(task, "fail", status=status)
    if action.handles_transient:
        task.run()  # the attempt is repeated, with its key, after a pause
    else:
        with pytest.raises(stripe.APIError) as failed:
            task.run()
        decision = StripeRetryPolicy().evaluate(failed.value, 1, 4)
        assert decision.action == RetryAction.RETRY and "5xx" in decision.reason
        (met,) = world.server.faults_met
        assert [r["status"] for r in world.server.requests if r["request_id"] == met["request_id"]] == [status]
        task.run()
    assert world.effects(task) == action.once


@pytest.fixture
def sdk_retries(stripe_connection, local_stripe_server, monkeypatch):
    """``stripe_default`` with the SDK's own retries on, as a connection has them by default (2)."""
    extra = {"api_base": local_stripe_server.url, "max_network_retries": 2, "max_requests_per_second": TEST_BUDGET}
    conn = {"conn_type": "stripe", "password": local_stripe_server.api_key, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_STRIPE_DEFAULT", json.dumps(conn))


def test_a_reset_after_the_write_is_resent_by_the_sdk_and_replayed(world, action, sdk_retries, request):
    known_hole(request, "sdk resend", action)
    task = world(action)
    world.inject(task, "drop")
    task.run()
    assert world.effects(task) == action.once and task.tries == 1
    dropped = world.server.faults_met[0]["request_id"]
    (lost,) = [r for r in world.server.requests if r["request_id"] == dropped]
    if lost["idempotency_key"]:  # a POST: the SDK resent its key, and Stripe replayed the write
        resent = [r for r in world.server.requests if r["idempotency_key"] == lost["idempotency_key"]]
        assert [r["replayed"] for r in resent] == [False, True]


@pytest.mark.parametrize("action", [a for a in PRIMARY if a.name == "charge"], ids=str)
def test_a_burst_longer_than_the_clients_attempts_fails_the_try_as_a_rate_limit(world, action, caplog):
    task = world(action)
    world.inject(task, "fail", status=429, count=5)  # the client makes 5 attempts in all
    with caplog.at_level(logging.WARNING), pytest.raises(stripe.RateLimitError) as limited:
        task.run()
    assert "giving up after 5 attempts" in caplog.text
    decision = StripeRetryPolicy().evaluate(limited.value, 1, 4)
    assert decision.action == RetryAction.RETRY and "rate limit (429)" in decision.reason
    task.run()
    assert world.effects(task) == action.once


def test_a_write_stalled_beyond_the_clients_timeout_is_retried_into_one_effect(world, primary_action):
    """The client gives up, Stripe goes on and applies the write; retries meet the key in use (409), then its result."""
    task = world(primary_action)
    task.timeout = 0.5
    world.inject(task, "stall", seconds=1.5)
    if primary_action.handles_transient:
        task.between_wakes = lambda: time.sleep(0.6)  # the attempt's pause before it is made again
        task.run()
    else:
        outcomes = []
        for _ in range(6):
            try:
                task.run()
            except (stripe.APIConnectionError, stripe.APIError) as err:  # a timeout, then Stripe's 409
                assert StripeRetryPolicy().evaluate(err, task.tries, 8).action == RetryAction.RETRY
                outcomes.append(type(err).__name__)
                time.sleep(0.5)
                continue
            break
        assert outcomes[0] == "APIConnectionError" and task.tries <= 6
    assert world.effects(task) == primary_action.once
    assert [m["kind"] for m in world.server.faults_met] == ["stall"]
