"""StripeInvoiceRetryOperator: the retry schedule, deferrals, stopping when paid, never paying twice.

Two ways, both against the local Stripe server: driving ``execute()`` / ``execute_complete()`` by
hand (each wake-up is one attempt; no waiting 60 days), and through ``dag.test()`` with a window of
seconds, so the triggers really run and the task really resumes.

Nothing here races the clock: deferral moments are checked against the schedule start the task
recorded (or bounded by readings taken around the call), and what a customer does "between two
attempts" in a ``dag.test()`` run happens inside that deferral, so it is an order, not a timing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_stripe_automation.errors import StripeActionFailed, StripeInputError
from airflow_stripe_automation.operators.dunning import StripeInvoiceRetryOperator
from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger
from tests.operators.test_invoices import new_customer, new_open_invoice

DAY = 86400


@pytest.fixture
def open_invoice(stripe_client):
    return lambda card="pm_card_visa", amount=120000: new_open_invoice(stripe_client, card, amount)


def _deferred(call) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as info:
        call()
    return info.value


def _pays(server, invoice_id):
    """The pay calls this provider made (the customer's own payment has no provider key)."""
    return [
        r
        for r in server.write_requests()
        if r["path"] == f"/v1/invoices/{invoice_id}/pay" and str(r["idempotency_key"]).startswith("airflow-stripe/")
    ]


def _use_card(stripe_client, customer_id, card="pm_card_visa"):
    pm = stripe_client.v1.payment_methods.attach(card, params={"customer": customer_id})
    stripe_client.v1.customers.update(customer_id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return pm


def test_attempts_are_spread_over_the_window_and_exhaust_without_failing(stripe_server, make_context, open_invoice):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id)  # 8 attempts over 60 days
    context = make_context()

    before = time.time()
    deferred = _deferred(lambda: op.execute(context))
    after = time.time()
    started = deferred.kwargs["started"]  # the schedule starts when the task does
    assert before <= started <= after
    assert isinstance(deferred.trigger, WaitUntilTrigger) and deferred.method_name == "execute_complete"
    assert deferred.trigger.moment == pytest.approx(started + 7.5 * DAY, abs=1e-3)
    assert deferred.kwargs["attempts"] == 0 and _pays(stripe_server, invoice.id) == []

    for attempt in range(1, 8):  # each wake-up makes one attempt, declined, and defers to the next
        deferred = _deferred(lambda kwargs=deferred.kwargs: op.execute_complete(context, event=None, **kwargs))
        assert deferred.kwargs["attempts"] == attempt and deferred.kwargs["started"] == started
        assert deferred.kwargs["last_decline_code"] == "generic_decline"
        assert deferred.trigger.moment == pytest.approx(started + 7.5 * DAY * (attempt + 1), abs=1e-3)
    assert deferred.trigger.moment == pytest.approx(started + 60 * DAY, abs=1e-3)  # the last one ends the window

    out = op.execute_complete(context, event=None, **deferred.kwargs)

    assert (out["outcome"], out["attempts"], out["status"], out["paid_by_retry"]) == ("exhausted", 8, "open", False)
    pays = _pays(stripe_server, invoice.id)
    assert len(pays) == 8 and len({p["idempotency_key"] for p in pays}) == 8  # one key per attempt


def test_a_card_fixed_before_attempt_3_is_charged_by_attempt_3(
    stripe_client, stripe_server, make_context, open_invoice
):
    invoice = open_invoice("pm_card_chargeCustomerFail", amount=99000)
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id, max_attempts=4, window=timedelta(days=28))
    context = make_context()

    deferred = _deferred(lambda: op.execute(context))
    deferred = _deferred(lambda: op.execute_complete(context, event=None, **deferred.kwargs))  # attempt 1
    deferred = _deferred(lambda: op.execute_complete(context, event=None, **deferred.kwargs))  # attempt 2
    _use_card(stripe_client, invoice.customer)
    out = op.execute_complete(context, event=None, **deferred.kwargs)  # attempt 3

    assert (out["outcome"], out["attempts"], out["paid_by_retry"]) == ("paid", 3, True)
    paid = stripe_client.v1.invoices.retrieve(invoice.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 99000, 0)
    assert [p["idempotency_key"].rsplit("/", 1)[-1] for p in _pays(stripe_server, invoice.id)] == ["1", "2", "3"]


def test_an_invoice_paid_by_the_customer_meanwhile_stops_the_retries(
    stripe_client, stripe_server, make_context, open_invoice
):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id)
    context = make_context()
    deferred = _deferred(lambda: op.execute(context))
    deferred = _deferred(lambda: op.execute_complete(context, event=None, **deferred.kwargs))  # attempt 1 declined

    pm = _use_card(stripe_client, invoice.customer)
    stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": pm.id})  # the customer pays

    out = op.execute_complete(context, event=None, **deferred.kwargs)
    assert (out["outcome"], out["attempts"], out["paid_by_retry"], out["status"]) == ("paid", 1, False, "paid")
    assert len(_pays(stripe_server, invoice.id)) == 1


def test_a_repeated_wake_up_replays_its_attempt_and_a_paid_invoice_is_never_paid_again(
    stripe_client, stripe_server, make_context, open_invoice
):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id, max_attempts=3, window=3)
    context = make_context()
    first = _deferred(lambda: op.execute(context))
    _deferred(lambda: op.execute_complete(context, event=None, **first.kwargs))  # attempt 1
    _deferred(lambda: op.execute_complete(context, event=None, **first.kwargs))  # the same wake-up, resumed again

    one, again = _pays(stripe_server, invoice.id)
    assert one["idempotency_key"] == again["idempotency_key"] and again["replayed"] is True  # no second charge try

    _use_card(stripe_client, invoice.customer)
    second = _deferred(lambda: op.execute_complete(context, event=None, **first.kwargs))
    assert second.kwargs["attempts"] == 1  # still the stored decline of attempt 1
    out = op.execute_complete(context, event=None, **second.kwargs)  # attempt 2 pays
    assert (out["outcome"], out["attempts"]) == ("paid", 2)

    before = len(stripe_server.write_requests())
    again_out = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id).execute(make_context(run_id="r2"))
    assert (again_out["outcome"], again_out["attempts"], again_out["paid_by_retry"]) == ("paid", 0, False)
    assert len(stripe_server.write_requests()) == before


def test_a_5xx_during_an_attempt_repeats_that_attempt_later_with_the_same_key(
    stripe_server, make_context, open_invoice
):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id, transient_retry_delay=timedelta(minutes=5))
    context = make_context()
    deferred = _deferred(lambda: op.execute(context))
    stripe_server.fail_next(503, path=f"/v1/invoices/{invoice.id}/pay")

    before = time.time()
    later = _deferred(lambda: op.execute_complete(context, event=None, **deferred.kwargs))
    after = time.time()
    assert later.kwargs["attempts"] == 0 and later.kwargs["transient"] == 1
    assert before + 300 <= later.trigger.moment <= after + 300  # 5 minutes after the failed request, not a slot

    after = _deferred(lambda: op.execute_complete(context, event=None, **later.kwargs))
    assert after.kwargs["attempts"] == 1 and after.kwargs["transient"] == 0
    failed, declined = [r for r in stripe_server.write_requests() if r["path"].endswith("/pay")]
    assert failed["status"] == 503 and failed["idempotency_key"] == declined["idempotency_key"]


def test_an_invoice_voided_meanwhile_ends_the_retries_as_closed(
    stripe_client, stripe_server, make_context, open_invoice
):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id)
    context = make_context()
    deferred = _deferred(lambda: op.execute(context))
    stripe_client.v1.invoices.void_invoice(invoice.id)

    out = op.execute_complete(context, event=None, **deferred.kwargs)
    assert (out["outcome"], out["status"], out["attempts"]) == ("closed", "void", 0)
    assert _pays(stripe_server, invoice.id) == []


def test_the_state_also_comes_back_in_the_trigger_event(stripe_server, make_context, open_invoice):
    """The scheduler resumes with kwargs + event; ``dag.test()`` with the event only: both must work."""
    invoice = open_invoice("pm_card_chargeCustomerFail")
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id, max_attempts=2, window=1)
    context = make_context()
    deferred = _deferred(lambda: op.execute(context))
    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == "airflow_stripe_automation.triggers.wait_until.WaitUntilTrigger"
    assert kwargs == {"moment": deferred.trigger.moment, "state": deferred.kwargs}
    trigger = WaitUntilTrigger(**{**kwargs, "moment": time.time() + 0.2})  # due soon: don't sleep 12 hours

    event = asyncio.run(trigger.run().__anext__())

    assert time.time() >= trigger.moment  # it did not fire before its moment (however late it fired)
    assert event.payload == {"status": "due", "moment": trigger.moment, "state": deferred.kwargs}
    nxt = _deferred(lambda: op.execute_complete(context, event=event.payload))
    assert nxt.kwargs["attempts"] == 1 and len(_pays(stripe_server, invoice.id)) == 1


def test_dry_run_sends_no_write_and_shows_the_schedule(stripe_server, make_context, open_invoice):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    before = len(stripe_server.write_requests())
    out = StripeInvoiceRetryOperator(task_id="retry", invoice_id=invoice.id, dry_run=True).execute(make_context())

    assert out["dry_run"] is True and len(out["schedule"]) == 8
    assert out["would"] == f"up to 8 payment attempts on invoice {invoice.id} over 60 days"
    assert len(stripe_server.write_requests()) == before


def test_a_draft_invoice_is_refused(stripe_client, stripe_server, make_context):
    customer = new_customer(stripe_client)
    draft = stripe_client.v1.invoices.create(params={"customer": customer.id, "auto_advance": False})
    with pytest.raises(StripeActionFailed, match="is a draft"):
        StripeInvoiceRetryOperator(task_id="retry", invoice_id=draft.id).execute(make_context())
    assert _pays(stripe_server, draft.id) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"invoice_id": ""}, "invoice_id is required"),
        ({"invoice_id": "sub_1"}, "starting with 'in_'"),
        ({"max_attempts": 0}, "max_attempts must be greater than zero"),
        ({"max_attempts": "26"}, "at most 25"),
        ({"window": 0}, "window must be longer than zero"),
        ({"window": "two months"}, "window must be a timedelta or a number of days"),
        ({"payment_method": "card_1"}, "starting with 'pm_'"),
    ],
)
def test_bad_input_is_refused_without_any_request(stripe_server, make_context, kwargs, message):
    args = {"invoice_id": "in_123", **kwargs}
    with pytest.raises(StripeInputError, match=message):
        StripeInvoiceRetryOperator(task_id="retry", **args).execute(make_context())
    assert stripe_server.requests == []


# -- through dag.test(): the triggers run inline, the task resumes for real --------------------

DAG_ID = "test_billing_invoice_retry"


@pytest.fixture
def while_waiting_for(monkeypatch):
    """``while_waiting_for(k, action)``: run ``action`` inside the deferral that ends with attempt ``k``.

    The real trigger still waits for its moment; the action runs after that and before the task
    resumes, so "the customer acts between attempts k-1 and k" holds however slow the machine is.
    """
    pending = {}
    real_run = WaitUntilTrigger.run

    async def run(self):
        async for event in real_run(self):
            action = pending.pop(self.state.get("attempts", 0) + 1, None)
            if action is not None:
                await asyncio.to_thread(action)  # the synchronous Stripe client must not block the loop
            yield event

    monkeypatch.setattr(WaitUntilTrigger, "run", run)
    yield pending.__setitem__
    assert not pending, f"the task never waited for attempt(s) {sorted(pending)}"


@pytest.fixture
def retry_dag(airflow_db, stripe_connection):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    bag = DagBag(dag_folder=str(REPO / "tests" / "dags" / f"{DAG_ID}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[DAG_ID]


@pytest.fixture
def dag_run_retry(retry_dag, stripe_server):
    """Run the test DAG with ``dag.test()``: ``(dag_run, task instance, returned value, xcoms)``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    def _run(invoice_id, max_attempts=3):
        dag_run = retry_dag.test(run_conf={"invoice_id": invoice_id, "max_attempts": max_attempts})
        with create_session() as session:
            ti = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=dag_run.run_id).one()
            session.expunge(ti)
            pushed = session.query(XComModel).filter_by(dag_id=DAG_ID, run_id=dag_run.run_id).all()
            xcoms = {x.key: x.value for x in pushed}
        return dag_run, ti, xcoms.get("return_value"), xcoms

    return _run


def test_dag_exhausts_its_attempts_and_succeeds(stripe_server, retry_dag, dag_run_retry, open_invoice):
    """The real thing, nothing patched: three deferrals, three wake-ups, three declines."""
    invoice = open_invoice("pm_card_chargeCustomerFail")
    window = retry_dag.get_task("retry_payment").window.total_seconds()
    began = time.time()

    dag_run, ti, out, xcoms = dag_run_retry(invoice.id)

    assert (dag_run.state, ti.state, ti.try_number) == ("success", "success", 1)  # declines are not failures
    assert (out["outcome"], out["attempts"], out["status"]) == ("exhausted", 3, "open")
    assert out["finished_at"] >= int(began + window)  # the last attempt waited for the end of the window
    pays = _pays(stripe_server, invoice.id)
    assert [p["idempotency_key"].rsplit("/", 1)[-1] for p in pays] == ["1", "2", "3"]
    assert str(xcoms["_link_StripeDashboardLink"]).endswith(f"/_testing/dashboard/invoices/{invoice.id}")


def test_dag_card_fixed_before_attempt_3_is_paid(
    stripe_client, stripe_server, dag_run_retry, open_invoice, while_waiting_for
):
    invoice = open_invoice("pm_card_chargeCustomerFail")
    while_waiting_for(3, lambda: _use_card(stripe_client, invoice.customer))

    dag_run, _, out, _ = dag_run_retry(invoice.id)

    assert (dag_run.state, out["outcome"], out["attempts"], out["paid_by_retry"]) == ("success", "paid", 3, True)
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert [p["idempotency_key"].rsplit("/", 1)[-1] for p in _pays(stripe_server, invoice.id)] == ["1", "2", "3"]


def test_dag_stops_when_the_customer_pays_meanwhile(
    stripe_client, stripe_server, dag_run_retry, open_invoice, while_waiting_for
):
    invoice = open_invoice("pm_card_chargeCustomerFail")

    def customer_pays():
        pm = _use_card(stripe_client, invoice.customer)
        stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": pm.id})

    while_waiting_for(2, customer_pays)
    dag_run, _, out, _ = dag_run_retry(invoice.id, max_attempts=4)

    assert (dag_run.state, out["outcome"], out["attempts"], out["paid_by_retry"]) == ("success", "paid", 1, False)
    assert len(_pays(stripe_server, invoice.id)) == 1


def test_the_old_import_path_still_works_and_names_the_new_one():
    from airflow_stripe_automation.operators import dunning, invoices

    with pytest.warns(DeprecationWarning, match=r"import it from airflow_stripe_automation\.operators\.dunning"):
        from airflow_stripe_automation.operators.invoices import StripeInvoiceRetryOperator as Old

    assert Old is dunning.StripeInvoiceRetryOperator
    with pytest.raises(AttributeError, match="no attribute 'StripeNoSuchOperator'"):
        _ = invoices.StripeNoSuchOperator


def test_the_schedule_starts_when_the_payment_failed_on_stripes_clock(stripe_server, make_context, open_invoice):
    """schedule_start is Stripe's moment: read 1.5 days after it, attempt 1 is due at once, attempt 2 in half a day."""
    invoice = open_invoice("pm_card_chargeCustomerFail")
    failed_at = invoice.status_transitions.finalized_at
    stripe_server.set_clock(failed_at + int(1.5 * DAY), pin=True)  # Stripe's clock, wherever the worker's is
    op = StripeInvoiceRetryOperator(
        task_id="retry", invoice_id=invoice.id, max_attempts=2, window=2, schedule_start=str(failed_at)
    )
    context = make_context()

    before = time.time()
    first = _deferred(lambda: op.execute(context))
    after = time.time()
    # the schedule's start on our clock: the failure, 1.5 days before Stripe's now (the Date header)
    assert before - 1.5 * DAY - 2 <= first.kwargs["started"] <= after - 1.5 * DAY + 2
    assert first.trigger.moment <= after and first.kwargs["missed"] == 0  # one slot passed: made now, none missed

    second = _deferred(lambda: op.execute_complete(context, event=None, **first.kwargs))

    assert second.kwargs["attempts"] == 1
    assert second.trigger.moment == pytest.approx(first.kwargs["started"] + 2 * DAY, abs=1e-3)
    assert len(_pays(stripe_server, invoice.id)) == 1


def test_a_schedule_start_that_is_no_moment_is_refused_before_any_call(stripe_server, make_context):
    op = StripeInvoiceRetryOperator(task_id="retry", invoice_id="in_123", schedule_start="last tuesday")
    with pytest.raises(StripeInputError, match="schedule_start must be unix seconds or an ISO 8601 moment"):
        op.execute(make_context())
    assert stripe_server.requests == []


def test_a_late_run_ends_the_policy_with_its_window_so_the_grace_period_is_not_waited_again(
    stripe_server, make_context, open_invoice
):
    """Run 5 days after a failure with a 2-day window: the policy ended on day 2, so a 2-day grace is over."""
    from airflow_stripe_automation.operators.delay import StripeDelayOperator

    invoice = open_invoice("pm_card_chargeCustomerFail")
    failed_at = invoice.status_transitions.finalized_at
    stripe_server.set_clock(failed_at + 5 * DAY, pin=True)  # a backfill's late run, on Stripe's clock
    op = StripeInvoiceRetryOperator(
        task_id="retry", invoice_id=invoice.id, max_attempts=2, window=2, schedule_start=str(failed_at)
    )
    context = make_context()
    first = _deferred(lambda: op.execute(context))  # both slots passed: one attempt now, then the last
    out = op.execute_complete(context, event=None, **first.kwargs)

    assert (out["outcome"], out["attempts"], out["missed"]) == ("exhausted", 2, 1)
    # the end of the window on this host's clock (where the deferrals count), not the moment the task ran
    assert out["finished_at"] == int(first.kwargs["started"] + 2 * DAY)
    assert out["finished_at"] < time.time() - 2 * DAY
    grace = StripeDelayOperator(task_id="grace_period", delay=2, start=out["finished_at"], stripe_object=out)
    assert grace.execute(make_context())["about"] == invoice.id  # over already: no deferral
    assert len(_pays(stripe_server, invoice.id)) == 1  # the passed slots made one attempt, not two
