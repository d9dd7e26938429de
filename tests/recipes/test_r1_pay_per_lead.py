"""R1 as a recipe: ``dags/pay_per_lead.yaml`` charges once, exactly like the Python example DAG."""

from __future__ import annotations

import pytest

from tests.recipes.conftest import run

RECIPE_DAG = "recipe_pay_per_lead"
EXAMPLE_DAG = "stripe_pay_per_lead"


@pytest.fixture
def customer(customer_with_card):
    return customer_with_card


def _intents(stripe_client, customer_id):
    params = {"customer": customer_id, "limit": 100}
    return list(stripe_client.v1.payment_intents.list(params=params).auto_paging_iter())


def _charge_posts(server):
    return [r for r in server.write_requests() if r["path"] == "/v1/payment_intents"]


def test_the_recipe_folder_yields_the_r1_dag(recipe_bag):
    dag = recipe_bag.dags[RECIPE_DAG]
    assert dag.task_ids == ["approve_charge", "charge_lead", "run_summary"]
    assert dag.get_task("charge_lead").task_display_name == "Stripe one-time charge"
    assert {"stripe", "recipe", "recipe:R1"} <= set(dag.tags)
    assert dag.fileloc.endswith("dags/pay_per_lead.py")
    assert "pay_per_lead.yaml" in dag.doc_md


def test_the_recipe_charges_once_with_the_fields_from_conf(run_recipe, stripe_client, stripe_server, customer):
    conf = {"customer_id": customer.id, "amount": 4200, "currency": "eur", "description": "Lead fee #17"}
    dag_run, tis = run_recipe(RECIPE_DAG, conf)

    assert dag_run.state == "success"
    intents = _intents(stripe_client, customer.id)
    assert [(pi.status, pi.amount, pi.currency, pi.description) for pi in intents] == [
        ("succeeded", 4200, "eur", "Lead fee #17")
    ]
    assert intents[0].metadata["recipe"] == "R1"
    assert intents[0].metadata["lead_run"] == dag_run.run_id
    (post,) = _charge_posts(stripe_server)
    # the declared action, then the run it charges for (the run is the lead)
    assert post["idempotency_key"] == f"airflow-stripe/action/R1/charge_lead/{RECIPE_DAG}/{dag_run.run_id}/-1"
    assert tis["charge_lead"].state == "success"


def test_the_recipe_and_the_example_dag_make_the_same_charge(
    recipe_bag, example_bag, stripe_client, stripe_server, customer
):
    """Same conf to both DAGs -> the same PaymentIntent fields, one each (two runs, two leads); one action."""
    conf = {"customer_id": customer.id, "amount": 1999, "currency": "usd"}
    recipe_run, _ = run(recipe_bag.dags[RECIPE_DAG], conf)
    example_run, _ = run(example_bag.dags[EXAMPLE_DAG], conf)

    assert (recipe_run.state, example_run.state) == ("success", "success")
    by_run = {pi.metadata["lead_run"]: pi for pi in _intents(stripe_client, customer.id)}
    recipe_pi, example_pi = by_run[recipe_run.run_id], by_run[example_run.run_id]
    fields = ("status", "amount", "currency", "description", "customer", "payment_method", "confirmation_method")
    assert [getattr(recipe_pi, f) for f in fields] == [getattr(example_pi, f) for f in fields]
    assert recipe_pi.description == "Lead fee for appointment booking"  # the shared param default
    assert len(_charge_posts(stripe_server)) == 2
    keys = [p["idempotency_key"].split("/") for p in _charge_posts(stripe_server)]
    assert {k[4] for k in keys} == {RECIPE_DAG, EXAMPLE_DAG}  # each run is its own lead
    recipe_key, example_key = keys
    assert recipe_key[:4] == example_key[:4] == ["airflow-stripe", "action", "R1", "charge_lead"]  # one action


def test_the_recipe_and_the_example_dag_have_the_same_tasks_and_params(recipe_bag, example_bag):
    from tests.recipes.compare import dag_shape

    assert dag_shape(recipe_bag.dags[RECIPE_DAG]) == dag_shape(example_bag.dags[EXAMPLE_DAG])


def test_a_declined_card_fails_the_recipe_run_without_retry(run_recipe, stripe_client, customer):
    pm = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": customer.id})
    stripe_client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})

    dag_run, tis = run_recipe(RECIPE_DAG, {"customer_id": customer.id, "amount": 2500})

    assert dag_run.state == "failed"
    assert tis["charge_lead"].try_number == 1
    assert all(pi.status != "succeeded" for pi in _intents(stripe_client, customer.id))


def test_the_recipe_params_refuse_a_run_without_a_customer_id(run_recipe, stripe_server):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="customer_id"):
        run_recipe(RECIPE_DAG, {"amount": 2500})
    assert stripe_server.requests == []
