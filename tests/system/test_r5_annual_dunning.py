"""R5 — annual dunning end to end: retries, grace period, cancel, write off; and every way it must stop."""

from __future__ import annotations

import asyncio
import time

import pendulum
import pytest

from tests.testing.billing_helpers import customer, past_renewal, price, subscribe

DAG_ID = "stripe_annual_dunning"
# Fast settings for a test run: 2 attempts within ~2 seconds, a grace period of ~1 second.
FAST = {"max_attempts": 2, "retry_window_days": 2 / 86400, "grace_days": 1 / 86400}


@pytest.fixture
def failed_renewal(stripe_server, stripe_client):
    """A subscriber whose card fails at renewal: ``(subscription, open renewal invoice, renewal time)``.

    The server clock ends two hours past the period end (a year or a calendar month ahead).
    """

    def _make(interval: str = "year"):
        cus = customer(stripe_client, card="pm_card_visa", email=f"{interval}ly@example.com")
        sub = subscribe(stripe_client, cus.id, price(stripe_client, 120000, interval=interval).id)
        failing = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
        stripe_client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": failing.id}})
        renewed_at = past_renewal(stripe_server, stripe_client, sub.id)
        invoices = list(
            stripe_client.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).auto_paging_iter()
        )
        assert len(invoices) == 1, "the renewal invoice failed and stayed open"
        return sub, invoices[0], renewed_at

    return _make


def _window(stripe_server, since: int | None = None) -> dict[str, str]:
    """A run conf replaying the window from ``since`` (default: two days ago) to now, server time."""
    now = pendulum.from_timestamp(stripe_server.now())
    start = pendulum.from_timestamp(since) if since else now.subtract(days=2)
    return {"since": start.subtract(minutes=5).isoformat(), "until": now.add(minutes=1).isoformat()}


def test_exhausted_retries_cancel_and_write_off_yearly_subscriptions_only(
    run_dag, stripe_server, stripe_client, failed_renewal
):
    yearly_sub, yearly_invoice, failed_at = failed_renewal("year")
    monthly_sub, monthly_invoice, _ = failed_renewal("month")  # a calendar month later
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
    sub, invoice, _ = failed_renewal()
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


@pytest.fixture
def during_grace_period(monkeypatch):
    """``during_grace_period(invoice_id, action)``: run ``action`` while that invoice's grace period waits.

    The action runs once the grace period's wait has begun (the retries are over); then the wait is
    over, as if its hour had passed: the order is fixed, not raced against the clock.
    """
    from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

    pending = {}
    real_run = WaitUntilTrigger.run

    async def run(self):
        action = pending.pop(self.state.get("about"), None) if "attempts" not in self.state else None
        if action is not None:
            await asyncio.to_thread(action)  # the synchronous Stripe client must not block the loop
            self.moment = min(self.moment, time.time())  # the hour has passed
        async for event in real_run(self):
            yield event

    monkeypatch.setattr(WaitUntilTrigger, "run", run)
    yield pending.__setitem__
    assert not pending, f"no grace period waited for {sorted(pending)}"


def test_an_invoice_paid_during_the_grace_period_is_not_cancelled(
    run_dag, stripe_server, stripe_client, failed_renewal, during_grace_period
):
    sub, invoice, _ = failed_renewal()
    during_grace_period(
        invoice.id, lambda: stripe_client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    )

    # An hour's grace: however slowly the grace task starts after the retries, it still waits (defers).
    dag_run, tis = run_dag(DAG_ID, {**FAST, "grace_days": 1 / 24, **_window(stripe_server)})

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
