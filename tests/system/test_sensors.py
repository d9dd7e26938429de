"""Stripe sensors run in DAGs (``dag.test()``) against the local Stripe server.

Each ``test_sensor_<kind>`` DAG runs the sensor deferrable (``deferred``), then in poke mode
(``poke``) over the run conf's ``since``/``until``. To make the deferrable task hand its wait to the
trigger, either the first request fails with a 503 (a transient error counts as "nothing yet") or the
object only appears while the sensor waits; ``trigger_id`` on the task instance shows the trigger ran.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.sensors.seeding import (
    DAY,
    customer,
    failed_renewal,
    fraud_warning,
    has_resource,
    now,
    open_invoice,
    paying_customer,
    payment,
    recurring_price,
    server_time,
    subscription,
)


def _ids(matches) -> list[str]:
    return [m["id"] for m in matches]


@pytest.fixture
def run_both(run_dag, stripe_server, xcoms):
    """Run ``test_sensor_<kind>`` with the trigger doing the deferrable task's wait; return both results."""

    def _run(kind: str, conf: dict, *, force_deferral: bool = True):
        writes = len(stripe_server.write_requests())
        if force_deferral:
            stripe_server.fail_next(503, count=1)
        dag_run, tis = run_dag(f"test_sensor_{kind}", conf)
        assert dag_run.state == "success", {t: ti.state for t, ti in tis.items()}
        assert tis["deferred"].trigger_id is not None  # the deferrable task waited in its trigger
        assert tis["poke"].trigger_id is None
        values = xcoms(dag_run)
        deferred, poke = values[("deferred", "return_value")], values[("poke", "return_value")]
        assert deferred == poke
        assert len(stripe_server.write_requests()) == writes  # sensors and triggers only read
        return poke

    return _run


def test_customers_created_inside_the_window_and_only_those(run_both, stripe_server, stripe_client):
    t = now() - 10 * DAY
    seeded = {}
    for name, moment in (("before", t - 1), ("first", t), ("last", t + DAY - 1), ("after", t + DAY)):
        with server_time(stripe_server, moment):
            seeded[name] = customer(stripe_client, f"{name}@example.com").id

    matches = run_both("customer_created", {"since": t, "until": t + DAY})

    assert _ids(matches) == [seeded["first"], seeded["last"]]
    assert matches[0]["email"] == "first@example.com" and matches[0]["created"] == t


def test_succeeded_payments_inside_the_window_from_events(run_both, stripe_server, stripe_client):
    t = now() - 5 * DAY
    with server_time(stripe_server, t - 60):
        payment(stripe_client, 1000)
    with server_time(stripe_server, t + 60):
        big = payment(stripe_client, 150000)
        payment(stripe_client, 2000, card="pm_card_chargeDeclined")  # failed: no success event
    with server_time(stripe_server, t + 7200):
        payment(stripe_client, 3000)

    matches = run_both("payment_succeeded", {"since": t, "until": t + 3600})

    assert [(m["id"], m["amount"], m["currency"], m["status"]) for m in matches] == [
        (big.id, 150000, "usd", "succeeded")
    ]
    searched = [r for r in stripe_server.requests if r["path"] == "/v1/events" and "type" in r["params"]]
    assert searched and all(r["params"]["type"] == "payment_intent.succeeded" for r in searched)


def test_a_window_90_days_old_is_read_from_the_list_api(run_both, stripe_server, stripe_client):
    """Stripe (and the local server) serve 30 days of events: older windows list PaymentIntents by created."""
    t = now() - 90 * DAY
    with server_time(stripe_server, t + 600):
        inside = [payment(stripe_client, amount) for amount in (1500, 2500)]
    with server_time(stripe_server, t + DAY + 600):
        payment(stripe_client, 3500)
    assert list(stripe_client.v1.events.list(params={"created": {"gte": t, "lt": t + DAY}}).data) == []

    matches = run_both("payment_succeeded", {"since": t, "until": t + DAY})

    assert sorted(_ids(matches)) == sorted(pi.id for pi in inside)
    assert {m["amount"] for m in matches} == {1500, 2500}
    lists = [r for r in stripe_server.requests if r["path"] == "/v1/payment_intents" and r["method"] == "GET"]
    assert lists and lists[-1]["params"]["created"] == {"gte": str(t), "lt": str(t + DAY)}


def test_early_fraud_warnings_actionable_ones_inside_the_window(run_both, stripe_server, stripe_client):
    t = now() - 40 * DAY  # older than the events: warnings are listed by created anyway
    with server_time(stripe_server, t + 10):
        actionable = fraud_warning(stripe_server, stripe_client)
        refunded = fraud_warning(stripe_server, stripe_client)
        stripe_client.v1.refunds.create(params={"charge": refunded["charge"]})
    with server_time(stripe_server, t - 10):
        fraud_warning(stripe_server, stripe_client)

    matches = run_both("early_fraud_warning", {"since": t, "until": t + DAY})

    assert [(m["id"], m["charge"], m["actionable"]) for m in matches] == [
        (actionable["id"], actionable["charge"], True)
    ]


def test_the_generic_event_sensor_returns_each_object_once(run_both, stripe_server, stripe_client):
    t = now() - DAY
    with server_time(stripe_server, t + 5):
        pi = payment(stripe_client, 4200)  # a customer.created and a payment_intent.succeeded
    with server_time(stripe_server, t + 3 * 3600):
        customer(stripe_client, "later@example.com")

    matches = run_both("event", {"since": t, "until": t + 3600})

    assert sorted(m["object"] for m in matches) == ["customer", "payment_intent"]
    assert pi.id in _ids(matches) and pi.customer in _ids(matches)


def test_the_generic_event_sensor_refuses_a_window_older_than_the_events(run_dag, stripe_server):
    t = now() - 60 * DAY
    dag_run, tis = run_dag("test_sensor_event", {"since": t, "until": t + DAY})

    assert dag_run.state == "failed"
    assert tis["deferred"].state == "failed" and tis["deferred"].try_number == 1
    assert stripe_server.write_requests() == []


def test_a_sensor_waits_until_a_matching_object_appears(run_dag, stripe_server, stripe_client, xcoms, monkeypatch):
    """The window reaches into the future; the customer is created while the deferrable task waits."""
    from airflow_stripe_automation.triggers.objects import StripeObjectsTrigger

    t = now()
    created = {}
    real_run = StripeObjectsTrigger.run

    async def run(self):
        # The customer signs up only once the task is deferred (its trigger runs), a couple of polls
        # in: whenever it lands, the trigger finds it (its timeout is a minute away), so no sleep
        # races the task's first look.
        async def sign_up_soon():
            await asyncio.sleep(self.poll_interval * 2)
            created["id"] = (await asyncio.to_thread(customer, stripe_client, "soon@example.com")).id

        signing_up = asyncio.get_running_loop().create_task(sign_up_soon())  # noqa: F841 - runs alongside
        async for event in real_run(self):
            yield event

    monkeypatch.setattr(StripeObjectsTrigger, "run", run)
    dag_run, tis = run_dag("test_sensor_customer_created", {"since": t - 60, "until": t + 600})

    assert dag_run.state == "success"
    assert tis["deferred"].trigger_id is not None
    values = xcoms(dag_run)
    assert _ids(values[("deferred", "return_value")]) == [created["id"]]
    assert values[("poke", "return_value")] == values[("deferred", "return_value")]


def test_a_sweep_succeeds_with_an_empty_list_when_nothing_matched(run_dag, stripe_server, stripe_client, xcoms):
    t = now() - 3 * DAY
    with server_time(stripe_server, t + DAY):
        customer(stripe_client)  # after the window

    dag_run, _ = run_dag("test_sensor_sweep", {"since": t, "until": t + DAY})

    assert dag_run.state == "success"
    values = xcoms(dag_run)
    assert values[("deferred", "return_value")] == [] and values[("poke", "return_value")] == []


def test_timeouts_fail_the_sensor_or_skip_it_with_soft_fail(run_dag, stripe_server):
    t = now() - 3 * DAY
    _, tis = run_dag("test_sensor_timeout", {"since": t, "until": t + DAY})

    assert {task: ti.state for task, ti in tis.items()} == {
        "poke_fails": "failed",
        "poke_skips": "skipped",
        "deferred_fails": "failed",
        "deferred_skips": "skipped",
    }
    assert tis["deferred_fails"].trigger_id is not None  # the trigger enforced the timeout
    assert all(ti.try_number == 1 for ti in tis.values())
    assert stripe_server.write_requests() == []


def test_bad_input_fails_before_any_request(run_dag, stripe_server):
    _, tis = run_dag("test_sensor_invoice_overdue", {"since": "2026-13-01", "until": "2026-12-02"})
    assert tis["deferred"].state == "failed" and tis["deferred"].try_number == 1
    _, tis = run_dag("test_sensor_invoice_overdue", {"since": now() - DAY, "until": now(), "min_amount_due": 500})
    assert tis["deferred"].state == "failed"  # a minimum amount needs its currency
    assert stripe_server.requests == []


def test_an_empty_data_interval_reads_since_the_previous_successful_run(run_dag, stripe_server, stripe_client, xcoms):
    """``schedule=None``: the first run looks back ``lookback`` (2 h), the next one starts where it ended."""
    import pendulum
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter_by(dag_id="test_sensor_lookback").delete()
    first_run, second_run = now() - 6 * 3600, now() - 3600
    seeded = {}
    for name, moment in (
        ("too_old", first_run - 3 * 3600),
        ("first", first_run - 3600),
        ("between", first_run + 3600),
        ("after", second_run + 60),
    ):
        with server_time(stripe_server, moment):
            seeded[name] = customer(stripe_client, f"{name}@example.com").id

    runs = [run_dag("test_sensor_lookback", logical_date=pendulum.from_timestamp(t)) for t in (first_run, second_run)]

    found = [_ids(xcoms(dag_run)[("new_customers", "return_value")]) for dag_run, _ in runs]
    assert found == [[seeded["first"]], [seeded["between"]]]


@pytest.fixture
def billing_server(stripe_server):
    for path in ("/v1/invoices", "/v1/subscriptions"):
        if not has_resource(stripe_server, path):
            pytest.skip(f"the local Stripe server does not serve {path} yet")
    return stripe_server


def test_overdue_invoices_become_overdue_inside_the_window(run_both, billing_server, stripe_client):
    server = billing_server
    t = now() - 2 * DAY  # the window [t, t+1d), 3 days overdue: due in [t-3d, t-2d)
    with server_time(server, t - 20 * DAY):
        due = open_invoice(stripe_client, t - 3 * DAY + 3600, amount=60000)
        small = open_invoice(stripe_client, t - 3 * DAY + 3600, amount=40000)
        euros = open_invoice(stripe_client, t - 3 * DAY + 3600, amount=90000, currency="eur")
        paid = open_invoice(stripe_client, t - 3 * DAY + 7200, amount=70000)
        stripe_client.v1.invoices.pay(paid.id, params={"paid_out_of_band": True})
        recent = open_invoice(stripe_client, t - DAY, amount=80000)  # only 1 day overdue at t
        earlier = open_invoice(stripe_client, t - 4 * DAY, amount=80000)  # an earlier run's

    matches = run_both(
        "invoice_overdue", {"since": t, "until": t + DAY, "days_overdue": 3, "min_amount_due": 50000, "currency": "usd"}
    )

    assert [(m["id"], m["amount_due"], m["currency"], m["status"], m["days_overdue"]) for m in matches] == [
        (due.id, 60000, "usd", "open", 4)  # to Stripe's clock now (t + 2 days): 4 days 23 hours
    ]
    assert {small.id, euros.id, paid.id, recent.id, earlier.id}.isdisjoint(_ids(matches))


def test_failed_subscription_payments_filtered_by_interval(run_both, billing_server, stripe_client):
    server = billing_server
    t = now() - DAY
    with server_time(server, t + 60):
        failing = paying_customer(stripe_client, "pm_card_chargeCustomerFail")
        yearly = subscription(stripe_client, failing, recurring_price(stripe_client, "year"))
        monthly = subscription(stripe_client, failing, recurring_price(stripe_client, "month"))
        paying = paying_customer(stripe_client, "pm_card_visa", "good@example.com")
        subscription(stripe_client, paying, recurring_price(stripe_client, "year"))

    matches = run_both("subscription_payment_failed", {"since": t, "until": t + 3600, "interval": "year"})

    assert [(m["id"], m["subscription"], m["interval"], m["status"]) for m in matches] == [
        (yearly.latest_invoice, yearly.id, "year", "open")
    ]
    assert monthly.latest_invoice not in _ids(matches)


def test_failed_renewals_of_an_old_window_come_from_the_invoice_list(run_both, billing_server, stripe_client):
    """A yearly renewal declined 45 days ago (then retried by Stripe until the subscription was canceled)."""
    sub, renewal = failed_renewal(billing_server, stripe_client, renews_at=now() - 45 * DAY)
    t = renewal.created - 60  # the period's end, by the calendar
    assert (sub.status, renewal.status, renewal.attempt_count) == ("canceled", "open", 4)

    matches = run_both("subscription_payment_failed", {"since": t, "until": t + DAY, "interval": "year"})

    assert [(m["id"], m["subscription"], m["interval"], m["billing_reason"]) for m in matches] == [
        (renewal.id, sub.id, "year", "subscription_cycle")
    ]


def test_paid_invoices_and_canceled_subscriptions_inside_the_window(run_both, billing_server, stripe_client):
    server = billing_server
    for age in (40, 3):  # from the list APIs, then from events
        t = now() - age * DAY
        with server_time(server, t - 3600):
            cus = paying_customer(stripe_client, "pm_card_visa", f"paid-{age}@example.com")
            sub = subscription(stripe_client, cus, recurring_price(stripe_client, "month"))
            earlier = subscription(stripe_client, cus, recurring_price(stripe_client, "month"))
            stripe_client.v1.subscriptions.cancel(earlier.id)
        with server_time(server, t + 60):
            stripe_client.v1.subscriptions.cancel(sub.id)
        with server_time(server, t + 120):
            invoice = open_invoice(stripe_client, t + 30 * DAY, amount=25000)
            stripe_client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})

        canceled = run_both("subscription_canceled", {"since": t, "until": t + 3600})
        paid = run_both("invoice_paid", {"since": t, "until": t + 3600})

        assert [(m["id"], m["status"]) for m in canceled] == [(sub.id, "canceled")]
        assert [(m["id"], m["status"], m["amount_paid"]) for m in paid] == [(invoice.id, "paid", 25000)]
