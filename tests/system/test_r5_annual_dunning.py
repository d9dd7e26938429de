"""R5 — annual dunning end to end: retries, grace period, cancel, write off; and every way it must stop."""

from __future__ import annotations

import threading
import time

import pendulum
import pytest

from tests.testing.billing_helpers import customer, price, subscribe

DAG_ID = "stripe_annual_dunning"
# Fast settings for a test run: 2 attempts within ~2 seconds, a grace period of ~1 second.
FAST = {"max_attempts": 2, "retry_window_days": 2 / 86400, "grace_days": 1 / 86400}


@pytest.fixture
def failed_renewal(stripe_server, stripe_client):
    """A yearly subscriber whose card fails at renewal, a year from now (server time)."""

    def _make(interval: str = "year"):
        cus = customer(stripe_client, card="pm_card_visa", email=f"{interval}ly@example.com")
        sub = subscribe(stripe_client, cus.id, price(stripe_client, 120000, interval=interval).id)
        failing = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
        stripe_client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": failing.id}})
        stripe_server.advance_clock(days=366 if interval == "year" else 31)
        invoices = list(
            stripe_client.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).auto_paging_iter()
        )
        assert len(invoices) == 1, "the renewal invoice failed and stayed open"
        return sub, invoices[0]

    return _make


def _window(stripe_server, since: int | None = None) -> dict[str, str]:
    """A run conf replaying the window from ``since`` (default: an hour ago) to now, server time."""
    now = pendulum.from_timestamp(stripe_server.now())
    start = pendulum.from_timestamp(since) if since else now.subtract(days=2)
    return {"since": start.subtract(minutes=5).isoformat(), "until": now.add(minutes=1).isoformat()}


def test_exhausted_retries_cancel_and_write_off_yearly_subscriptions_only(
    run_dag, stripe_server, stripe_client, failed_renewal
):
    yearly_sub, yearly_invoice = failed_renewal("year")
    failed_at = stripe_server.now() - 2 * 86400  # the renewal happened at the period end, before "now"
    monthly_sub, monthly_invoice = failed_renewal("month")  # a month later
    attempts_before = stripe_client.v1.invoices.retrieve(yearly_invoice.id).attempt_count  # Stripe's own retries

    dag_run, tis = run_dag(DAG_ID, {**FAST, **_window(stripe_server, since=failed_at)})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    assert stripe_client.v1.subscriptions.retrieve(yearly_sub.id).status == "canceled"
    assert stripe_client.v1.invoices.retrieve(yearly_invoice.id).status == "uncollectible"
    assert stripe_client.v1.invoices.retrieve(yearly_invoice.id).attempt_count == attempts_before + FAST["max_attempts"]
    # the monthly subscription is not this recipe's business
    assert stripe_client.v1.subscriptions.retrieve(monthly_sub.id).status == "past_due"
    assert stripe_client.v1.invoices.retrieve(monthly_invoice.id).status == "open"


def test_an_invoice_paid_before_the_retries_stops_everything(run_dag, stripe_server, stripe_client, failed_renewal):
    sub, invoice = failed_renewal()
    stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})

    dag_run, tis = run_dag(DAG_ID, {**FAST, **_window(stripe_server)})

    assert dag_run.state == "success"
    states = {k[0].split(".")[-1]: ti.state for k, ti in tis.items() if isinstance(k, tuple)}
    assert states == {
        "retry_policy": "success",
        "grace_period": "skipped",
        "recheck_invoice": "skipped",
        "cancel_subscription": "skipped",
        "mark_uncollectible": "skipped",
    }
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_an_invoice_paid_during_the_grace_period_is_not_cancelled(
    run_dag, stripe_server, stripe_client, failed_renewal
):
    sub, invoice = failed_renewal()
    conf = {**FAST, "grace_days": 10 / 86400, **_window(stripe_server)}

    def pay_once_grace_starts():
        # the grace period starts after the last attempt: wait for the policy's final pay request
        deadline = time.time() + 60
        while time.time() < deadline:
            pays = [r for r in stripe_server.requests if r["path"] == f"/v1/invoices/{invoice.id}/pay"]
            if len(pays) >= FAST["max_attempts"]:
                time.sleep(3)  # past the policy's end, inside the 10 s grace period
                stripe_server.client().v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
                return
            time.sleep(0.05)

    payer = threading.Thread(target=pay_once_grace_starts, daemon=True)
    payer.start()
    dag_run, tis = run_dag(DAG_ID, conf)
    payer.join(5)

    assert dag_run.state == "success"
    states = {k[0].split(".")[-1]: ti.state for k, ti in tis.items() if isinstance(k, tuple)}
    assert states["grace_period"] == "success" and states["recheck_invoice"] == "success"
    assert states["cancel_subscription"] == "skipped" and states["mark_uncollectible"] == "skipped"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status != "canceled"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_the_grace_period_defers_seven_days_after_the_last_attempt(make_context):
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_stripe_automation.operators.delay import StripeDelayOperator

    finished = int(time.time()) - 3600
    op = StripeDelayOperator(
        task_id="grace_period", delay=7, start=finished, stripe_object={"invoice": "in_1", "outcome": "exhausted"}
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    assert deferred.value.trigger.moment == finished + 7 * 86400
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.trigger.serialize()[1]["moment"] == finished + 7 * 86400
