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


def _as_it_fails(stripe_server, *invoices) -> None:
    """Stand Stripe's clock at the moment the renewals failed: the sweep runs as the failure happens.

    The retry schedule starts from the failure (on Stripe's clock), so a run two hours later would
    find its fast test schedule over and make one catch-up attempt; pinned here, the schedule's
    attempts come due one by one, on the worker's clock, as in production.
    """
    stripe_server.set_clock(max(i.status_transitions.finalized_at for i in invoices), pin=True)


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
    _as_it_fails(stripe_server, yearly_invoice)

    dag_run, tis = run_dag(DAG_ID, {**FAST, **_window(stripe_server, since=failed_at)})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    assert stripe_client.v1.subscriptions.retrieve(yearly_sub.id).status == "canceled"
    assert stripe_client.v1.invoices.retrieve(yearly_invoice.id).status == "uncollectible"
    assert stripe_client.v1.invoices.retrieve(yearly_invoice.id).attempt_count == attempts_before + FAST["max_attempts"]
    # the monthly subscription is not this recipe's business
    assert stripe_client.v1.subscriptions.retrieve(monthly_sub.id).status == "past_due"
    assert stripe_client.v1.invoices.retrieve(monthly_invoice.id).status == "open"

    # Reprocessing the window: the written-off invoice is done; no wait, no write.
    writes = len(stripe_server.write_requests())
    again, tis = run_dag(DAG_ID, {**FAST, **_window(stripe_server, since=failed_at)})
    assert again.state == "success"
    states = {k[0].split(".")[-1]: ti.state for k, ti in tis.items() if isinstance(k, tuple)}
    assert states["retry_policy"] == "success" and states["grace_period"] == "skipped"
    assert len(stripe_server.write_requests()) == writes


def test_a_backfill_long_after_the_failure_keeps_its_dates_and_makes_one_catch_up_attempt(
    run_dag, stripe_server, stripe_client, failed_renewal, xcoms
):
    """The schedule starts when the payment failed: run two hours later, its 2-second window is over.

    The attempts whose time has passed are not made one after another (the same card declined twice
    in a second): one attempt now, in the last slot, and the invoice's retries are exhausted.
    """
    sub, invoice, failed_at = failed_renewal("year")  # Stripe's clock ends two hours past the failure
    attempts_before = stripe_client.v1.invoices.retrieve(invoice.id).attempt_count

    dag_run, tis = run_dag(DAG_ID, {**FAST, **_window(stripe_server, since=failed_at)})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    assert stripe_client.v1.invoices.retrieve(invoice.id).attempt_count == attempts_before + 1
    (result,) = xcoms(dag_run)[("each_failed_invoice.retry_policy", "return_value")]
    assert (result["outcome"], result["attempts"], result["missed"]) == ("exhausted", 2, 1)
    pays = [r for r in stripe_server.write_requests() if r["path"] == f"/v1/invoices/{invoice.id}/pay"]
    assert [p["idempotency_key"].rsplit("/", 2)[-2:] for p in pays] == [["attempt", "2"]]  # the last slot's key
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"


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
        # A grace period's wait names what it waits for: one object, or (a batch) the list of them.
        about = self.state.get("about")
        actions = [pending.pop(one, None) for one in (about if isinstance(about, list) else [about])]
        if any(actions):
            for action in filter(None, actions):
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
    sub, invoice, failed_at = failed_renewal()
    during_grace_period(
        invoice.id, lambda: stripe_client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    )
    # The grace period starts when the retries end, which is the failure plus their window: a run two
    # hours after the failure would find an hour's grace over already (as a late backfill should).
    _as_it_fails(stripe_server, invoice)

    # An hour's grace: however slowly the grace task starts after the retries, it still waits (defers).
    dag_run, tis = run_dag(DAG_ID, {**FAST, "grace_days": 1 / 24, **_window(stripe_server, since=failed_at)})

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


# -- batches: several invoices in one mapped group, each on its own schedule ------------------------


@pytest.fixture
def yearly_renewals_failed_together(stripe_server, stripe_client):
    """``make(n)``: n yearly subscribers whose cards fail at the same renewal; ``(subs, invoices, renewed_at)``.

    All subscribe at one server moment, so they renew at one period end; the clock ends past it.
    """

    def _make(count: int):
        start = stripe_server.now()
        subs = []
        yearly = price(stripe_client, 120000, interval="year")
        for i in range(count):
            stripe_server.set_clock(start, pin=True)  # the same period for all of them
            cus = customer(stripe_client, card="pm_card_visa", email=f"annual{i}@example.com")
            subs.append(subscribe(stripe_client, cus.id, yearly.id))
            failing = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
            stripe_client.v1.customers.update(
                cus.id, params={"invoice_settings": {"default_payment_method": failing.id}}
            )
        renewed_at = past_renewal(stripe_server, stripe_client, subs[0].id)
        invoices = [
            one
            for sub in subs
            for one in stripe_client.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).data
        ]
        assert len(invoices) == count, "each renewal failed and stayed open"
        return subs, invoices, renewed_at

    return _make


@pytest.fixture
def after_attempt(monkeypatch):
    """``after_attempt(invoice_id, n, action)``: run ``action`` once invoice's attempt ``n`` is made, before the next.

    Hooks the wait of a batch's retry schedule: the wait that follows attempt ``n`` runs the action
    first, so the order is fixed, not raced against the clock.
    """
    from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

    pending: dict[tuple[str, int], object] = {}
    real_run = WaitUntilTrigger.run

    async def run(self):
        for one in ((self.state.get("batch") or {}).get("waiting") or {}).values():
            action = pending.pop((one["inputs"]["invoice"], one["progress"]["attempts"]), None)
            if action is not None:
                await asyncio.to_thread(action)  # the synchronous Stripe client must not block the loop
        async for event in real_run(self):
            yield event

    monkeypatch.setattr(WaitUntilTrigger, "run", run)
    yield lambda invoice_id, n, action: pending.__setitem__((invoice_id, n), action)
    assert not pending, f"no wait followed {sorted(pending)}"


def test_a_batch_keeps_each_invoices_own_schedule_and_outcome(
    run_dag, stripe_server, stripe_client, yearly_renewals_failed_together, after_attempt, xcoms
):
    subs, invoices, failed_at = yearly_renewals_failed_together(4)
    exhausted, paid_before, paid_by_retry, exhausted_too = range(4)
    stripe_client.v1.invoices.pay(invoices[paid_before].id, params={"payment_method": "pm_card_visa"})
    attempts_before = [stripe_client.v1.invoices.retrieve(i.id).attempt_count for i in invoices]

    def fix_the_card():  # the customer updates their card between attempts 1 and 2
        cus = invoices[paid_by_retry].customer
        card = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": cus})
        stripe_client.v1.customers.update(cus, params={"invoice_settings": {"default_payment_method": card.id}})

    after_attempt(invoices[paid_by_retry].id, 1, fix_the_card)
    _as_it_fails(stripe_server, *invoices)

    dag_run, tis = run_dag(DAG_ID, {**FAST, "batch_size": 3, **_window(stripe_server, since=failed_at)})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    tickets = xcoms(dag_run)[("subscription_payment_failed", "return_value")]
    assert sorted(t["count"] for t in tickets) == [1, 3]  # 4 invoices in batches of 3: two mapped groups
    status = {n: stripe_client.v1.subscriptions.retrieve(subs[n].id).status for n in range(4)}
    assert status == {exhausted: "canceled", paid_before: "active", paid_by_retry: "active", exhausted_too: "canceled"}
    after = [stripe_client.v1.invoices.retrieve(i.id) for i in invoices]
    assert [i.status for i in after] == ["uncollectible", "paid", "paid", "uncollectible"]
    # Each invoice's own attempts: both for the exhausted ones, one for the card fixed after it, none
    # for the one paid before the run; each attempt once, whatever shares its batch.
    assert [a.attempt_count - b for a, b in zip(after, attempts_before, strict=True)] == [2, 0, 2, 2]
    pays = [r["path"] for r in stripe_server.write_requests() if r["path"].endswith("/pay")]
    assert sorted(pays) == sorted(
        [f"/v1/invoices/{invoices[n].id}/pay" for n in (exhausted, paid_by_retry, exhausted_too) for _ in (1, 2)]
        + [f"/v1/invoices/{invoices[paid_before].id}/pay"]  # the test's own payment
    )


def test_an_invoice_failing_for_good_leaves_its_batch_mates_on_their_schedule_and_is_named(
    run_dag, stripe_server, stripe_client, yearly_renewals_failed_together, after_attempt, capfd
):
    subs, invoices, failed_at = yearly_renewals_failed_together(3)
    refused = invoices[1].id
    attempts_before = [stripe_client.v1.invoices.retrieve(i.id).attempt_count for i in invoices]
    # After its first attempt Stripe refuses the key (401) on that invoice's next attempt: nothing a retry mends.
    after_attempt(refused, 1, lambda: stripe_server.fail_next(401, path=f"/v1/invoices/{refused}/pay", method="POST"))
    _as_it_fails(stripe_server, *invoices)

    dag_run, tis = run_dag(DAG_ID, {**FAST, **_window(stripe_server, since=failed_at)})

    assert dag_run.state == "failed"
    retry = tis[("each_failed_invoice.retry_policy", 0)]
    assert retry.state == "failed" and retry.try_number == 1  # permanent: not retried
    after = [stripe_client.v1.invoices.retrieve(i.id).attempt_count for i in invoices]
    assert [a - b for a, b in zip(after, attempts_before, strict=True)] == [2, 1, 2]  # the others went on
    log = capfd.readouterr().out
    assert f"{refused}: failed: StripeActionFailed: Stripe refused attempt 2 to pay invoice {refused}" in log
    failed = [line for line in log.splitlines() if "objects failed" in line]
    assert failed and f"1 of 3 objects failed (2 done, 0 skipped, 1 failed of 3): {refused}" in failed[0]
    # Nobody is canceled while their batch has a failure to look at.
    assert {stripe_client.v1.subscriptions.retrieve(s.id).status for s in subs} == {"past_due"}


def test_a_batch_grace_period_waits_until_the_latest_end_and_skips_the_paid(make_context):
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_stripe_automation.operators.delay import StripeDelayOperator

    finished = int(time.time()) - 3600
    results = [
        {"invoice": "in_1", "outcome": "exhausted", "finished_at": finished},
        {"invoice": "in_2", "outcome": "paid", "finished_at": finished + 50},  # paid by a retry: no grace
        {"invoice": "in_3", "outcome": "exhausted", "finished_at": finished + 20},
        None,  # skipped by an earlier step
    ]
    op = StripeDelayOperator(
        task_id="grace_period",
        delay=7,
        start="{{ obj.finished_at }}",
        condition={"field": "outcome", "op": "ne", "value": "paid"},
        stripe_object=results,
    )
    context = make_context()
    op.render_template_fields(context)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    # One wait for the batch, until the latest end: every invoice waits at least its own seven days.
    assert deferred.value.trigger.moment == finished + 20 + 7 * 86400
    assert deferred.value.kwargs["about"] == ["in_1", "in_3"]

    out = op.execute_complete(context, event={"status": "due", "state": deferred.value.trigger.state})
    assert [r and r["about"] for r in out] == ["in_1", None, "in_3", None]
    assert out[0]["waited_until"] == pendulum.from_timestamp(finished + 7 * 86400).to_iso8601_string()
    assert context["ti"].pushed == {"batch_skipped": [1, 3]}  # the steps after it skip the paid invoice too
