"""How Stripe errors reach Airflow: what fails at once, what is retried, with which message."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import stripe
from airflow.sdk import RetryAction
from airflow.sdk.exceptions import AirflowFailException

from airflow_stripe_automation.errors import (
    StripeActionFailed,
    StripeBatchIncomplete,
    StripeCardDeclined,
    StripeRetryPolicy,
    default_retries,
    translate,
)
from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator


def _declined(stripe_client):
    cus = stripe_client.v1.customers.create(params={"email": "d@example.com"})
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "customer": cus.id,
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
                "confirm": True,
            }
        )
    return info.value


def test_a_decline_fails_at_once_with_the_decline_code_and_request_id(stripe_client):
    err = translate(_declined(stripe_client), "a charge of $10.00")
    assert isinstance(err, StripeCardDeclined) and isinstance(err, AirflowFailException)
    assert err.decline_code == "insufficient_funds" and err.request_id.startswith("req_")
    assert "card_declined (insufficient_funds)" in str(err) and err.request_id in str(err)


def test_an_invalid_request_fails_at_once_naming_the_param(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.retrieve("cus_missing")
    err = translate(info.value, "reading cus_missing")
    assert isinstance(err, StripeActionFailed) and "resource_missing" in str(err) and "(param id)" in str(err)


def test_retryable_errors_keep_their_type_and_get_a_retry_decision():
    policy = StripeRetryPolicy(rate_limit_delay=timedelta(seconds=30), server_error_delay=timedelta(seconds=10))
    rate_limited = stripe.RateLimitError("slow down")
    server_error = stripe.APIError("boom")
    assert translate(rate_limited, "x") is rate_limited and translate(server_error, "x") is server_error

    assert policy.evaluate(rate_limited, 1, 3).retry_delay == timedelta(seconds=30)
    assert policy.evaluate(server_error, 3, 5).action == RetryAction.RETRY
    assert policy.evaluate(server_error, 3, 5).retry_delay == timedelta(seconds=40)  # doubles per try
    assert policy.evaluate(ValueError("other"), 1, 3).action == RetryAction.DEFAULT
    # a batch whose failed objects met outages: retried soon, with the same backoff
    assert policy.evaluate(StripeBatchIncomplete("1 of 4 objects failed"), 2, 4).retry_delay == timedelta(seconds=20)
    assert StripeRetryPolicy.deserialize(policy.serialize()).rate_limit_delay == timedelta(seconds=30)


def test_a_429_is_retried_by_the_sdk_with_the_same_key_and_charges_once(
    monkeypatch, stripe_server, stripe_client, customer_with_card, make_context
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_STRIPE_RETRYING",
        json.dumps(
            {
                "conn_type": "stripe",
                "password": stripe_server.api_key,
                "extra": {"api_base": stripe_server.url, "max_network_retries": 2},
            }
        ),
    )
    stripe_server.fail_next(status=429, count=1, path="/v1/payment_intents", method="POST", should_retry=True)

    out = StripeOneTimeChargeOperator(
        task_id="charge", stripe_conn_id="stripe_retrying", customer_id=customer_with_card.id, amount=1200
    ).execute(make_context())

    posts = [r for r in stripe_server.requests if r["method"] == "POST" and r["path"] == "/v1/payment_intents"]
    assert [r["status"] for r in posts] == [429, 200]
    assert len({r["idempotency_key"] for r in posts}) == 1
    assert out["status"] == "succeeded"
    intents = stripe_client.v1.payment_intents.list(params={"customer": customer_with_card.id}).data
    assert [pi.amount for pi in intents] == [1200]


def test_stripe_tasks_retry_by_default_so_their_policy_can_act_and_default_args_still_win():
    import pendulum
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_stripe_automation.operators.email import StripeSendEmailOperator

    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    with DAG(dag_id="retries_default", schedule=None, start_date=start) as dag:
        charge = StripeOneTimeChargeOperator(task_id="charge", customer_id="cus_1", amount=100, currency="usd")
        told = StripeOneTimeChargeOperator(task_id="told", customer_id="cus_1", amount=1, currency="usd", retries=1)
        mails = StripeSendEmailOperator.partial(task_id="mail", to="a@example.com", subject="s").expand(
            stripe_object=[{"id": "in_1"}]
        )
    with DAG(dag_id="retries_dag_says", schedule=None, start_date=start, default_args={"retries": 0}):
        quiet_charge = StripeOneTimeChargeOperator(task_id="charge", customer_id="cus_1", amount=1, currency="usd")
        quiet_mails = StripeSendEmailOperator.partial(task_id="mail", to="a@example.com", subject="s").expand(
            stripe_object=[{"id": "in_1"}]
        )

    from airflow_stripe_automation.sensors.invoices import StripeInvoiceOverdueSensor

    assert StripeInvoiceOverdueSensor(task_id="overdue", wait_for_match=False).retries == 3
    assert default_retries() == 3  # [core] default_task_retries is 0 here
    assert (charge.retries, told.retries, mails.retries) == (3, 1, 3)
    assert (quiet_charge.retries, quiet_mails.retries) == (0, 0)
    # What the scheduler reads: the serialised DAG, mapped tasks included.
    served = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert {t: served.get_task(t).retries for t in ("charge", "told", "mail")} == {"charge": 3, "told": 1, "mail": 3}
