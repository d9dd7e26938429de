"""One identity per action: the Python and YAML forms of a recipe, a renamed DAG, an upgrade, a late retry.

Keys and marks rest on the action's declared ``action_id`` (``<recipe>/<step>``), not on the DAG and
task it happens to run in; and what an action left finds it however late, whatever Stripe's clock.
"""

from __future__ import annotations

from types import SimpleNamespace

import pendulum
import pytest

from tests.conftest import REPO, run
from tests.sensors.seeding import open_invoice, server_time
from tests.testing.billing_helpers import customer, price

DAY = 86400


@pytest.fixture(scope="module")
def both_forms(airflow_db):
    """The example DAGs and the recipes, parsed once: ``both_forms[dag_id]``."""
    from airflow.dag_processing.dagbag import DagBag

    dags = {}
    for folder in ("example_dags", "dags", "tests/dags"):
        bag = DagBag(dag_folder=str(REPO / folder), bundle_path=REPO / folder, bundle_name=folder)
        assert not bag.import_errors, bag.import_errors
        dags.update(bag.dags)
    return dags


def _window(start: int, end: int) -> dict[str, str]:
    return {"since": pendulum.from_timestamp(start).isoformat(), "until": pendulum.from_timestamp(end).isoformat()}


def _credits(stripe_client, customer_id: str) -> list:
    listing = stripe_client.v1.customers.balance_transactions.list(customer_id, params={"limit": 100})
    return list(listing.auto_paging_iter())


def test_the_example_dag_and_the_recipe_of_r8_credit_and_subscribe_each_customer_once(
    both_forms, stripe_client, stripe_server, stripe_connection
):
    plan = price(stripe_client, 2000, interval="month")
    new = [customer(stripe_client, email=f"new{i}@example.com") for i in range(3)]
    conf = {**_window(new[0].created - 60, new[-1].created + 60), "credit_amount": 2500, "price_id": plan.id}

    first, _ = run(both_forms["stripe_signup_credit"], conf)
    writes = len(stripe_server.write_requests())
    second, tis = run(both_forms["recipe_signup_credit"], conf)

    assert (first.state, second.state) == ("success", "success"), {k: ti.state for k, ti in tis.items()}
    for c in new:
        assert [t.amount for t in _credits(stripe_client, c.id)] == [-2500]
        assert len(list(stripe_client.v1.subscriptions.list(params={"customer": c.id}).auto_paging_iter())) == 1
    assert len(stripe_server.write_requests()) == writes  # the recipe found every mark the example left


def test_the_example_dag_and_the_recipe_of_r6_mail_each_overdue_invoice_once(
    both_forms, stripe_client, stripe_server, stripe_connection, smtp_connection
):
    due = stripe_server.now() - 2 * DAY
    with server_time(stripe_server, due - 7 * DAY):  # sent a week before it was due
        invoice = open_invoice(stripe_client, due, amount=60000)
    window = _window(due - 3600, due + 3600)

    first, _ = run(both_forms["stripe_overdue_invoice_alert"], window)
    second, tis = run(both_forms["recipe_overdue_invoice_alert"], window)

    assert (first.state, second.state) == ("success", "success"), {k: ti.state for k, ti in tis.items()}
    assert [m.subject for m in smtp_connection.messages] == [f"Invoice {invoice.number} is overdue: $600.00 due"]


def test_a_recipe_deployed_under_another_dag_id_acts_on_nothing_twice(
    both_forms, stripe_client, stripe_server, stripe_connection
):
    new = customer(stripe_client, card=None, email="renamed@example.com")
    conf = _window(new.created - 60, new.created + 60)
    first, _ = run(both_forms["recipe_signup_credit"], conf)

    second, _ = run(both_forms["test_renamed_signup_credit"], conf)  # tests/dags/test_recipe_renamed.py

    assert (first.state, second.state) == ("success", "success")
    assert [t.amount for t in _credits(stripe_client, new.id)] == [-1000]


def test_declaring_an_action_id_finds_what_the_undeclared_action_did_before(stripe_client, stripe_server, make_context):
    from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator

    target = customer(stripe_client, card=None)
    args = {"task_id": "credit", "customer_id": target.id, "amount": 700, "currency": "usd"}
    before = StripeCustomerCreditOperator(**args).execute(make_context(dag_id="signup", task_id="credit"))
    stripe_server.set_clock(stripe_server.now() + 2 * DAY)  # past the key's 24 h: only the mark is left

    after = StripeCustomerCreditOperator(action_id="R8/credit", **args).execute(
        make_context(dag_id="signup", task_id="credit")
    )

    assert after["already_done"] is True and after["id"] == before["id"]
    assert [t.amount for t in _credits(stripe_client, target.id)] == [-700]


def test_two_tasks_declaring_one_action_credit_once_and_another_action_credits_again(
    stripe_client, stripe_server, make_context
):
    from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator

    target = customer(stripe_client, card=None)

    def credit(action_id: str, dag_id: str) -> dict:
        op = StripeCustomerCreditOperator(
            task_id="credit", action_id=action_id, customer_id=target.id, amount=500, currency="usd"
        )
        return op.execute(make_context(dag_id=dag_id, task_id="credit"))

    credit("R8/credit", "python_form")
    assert credit("R8/credit", "yaml_form")["already_done"] is True
    assert credit("R8b/credit", "python_form")["already_done"] is False
    assert [t.amount for t in _credits(stripe_client, target.id)] == [-500, -500]


def _charge_context(make_context, run_after: int):
    context = make_context(dag_id="pay_per_lead", task_id="charge_lead", run_id="manual__lead-1")
    context["dag_run"] = SimpleNamespace(run_after=pendulum.from_timestamp(run_after), queued_at=None, conf={})
    return context


def test_a_charge_retried_after_the_key_window_with_stripe_two_hours_behind_charges_once(
    stripe_client, stripe_server, make_context, customer_with_card
):
    from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator

    run_after = stripe_server.now()
    op = StripeOneTimeChargeOperator(
        task_id="charge_lead", action_id="R1/charge_lead", customer_id=customer_with_card.id, amount=1500
    )
    with server_time(stripe_server, run_after - 2 * 3600):  # Stripe's clock 2 h behind the run's
        first = op.execute(_charge_context(make_context, run_after))
    stripe_server.set_clock(run_after + 2 * DAY)  # the retry comes after Stripe forgot the key

    again = op.execute(_charge_context(make_context, run_after))

    assert again["already_done"] is True and again["id"] == first["id"]
    intents = stripe_client.v1.payment_intents.list(params={"customer": customer_with_card.id})
    assert [pi.id for pi in intents.auto_paging_iter()] == [first["id"]]


def test_an_explicit_key_reused_after_its_24_hours_charges_once(
    stripe_client, stripe_server, make_context, customer_with_card
):
    from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator

    def charge(run_id: str) -> dict:
        op = StripeOneTimeChargeOperator(
            task_id="charge_lead", customer_id=customer_with_card.id, amount=900, idempotency_key="lead-42"
        )
        return op.execute(make_context(task_id="charge_lead", run_id=run_id))

    first = charge("manual__1")
    stripe_server.set_clock(stripe_server.now() + 2 * DAY)

    again = charge("manual__2")

    assert again["already_done"] is True and again["id"] == first["id"]
    intents = stripe_client.v1.payment_intents.list(params={"customer": customer_with_card.id})
    assert len(list(intents.auto_paging_iter())) == 1
