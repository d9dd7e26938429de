"""R1 — pay per lead, run end to end with ``dag.test()`` against the local Stripe server."""

from __future__ import annotations

import pytest

DAG_ID = "stripe_pay_per_lead"


@pytest.fixture
def customer(customer_with_card):
    return customer_with_card


def _intents(stripe_client, customer_id):
    return list(
        stripe_client.v1.payment_intents.list(params={"customer": customer_id, "limit": 100}).auto_paging_iter()
    )


def _charge_posts(server):
    return [r for r in server.write_requests() if r["path"] == "/v1/payment_intents"]


def test_charges_the_customer_once_with_the_right_fields(run_dag, stripe_client, stripe_server, customer):
    dag_run, tis = run_dag(
        DAG_ID, {"customer_id": customer.id, "amount": 4200, "currency": "eur", "description": "Lead fee #17"}
    )

    assert dag_run.state == "success"
    intents = _intents(stripe_client, customer.id)
    assert [(pi.status, pi.amount, pi.currency, pi.description) for pi in intents] == [
        ("succeeded", 4200, "eur", "Lead fee #17")
    ]
    charge = stripe_client.v1.charges.retrieve(intents[0].latest_charge)
    assert (charge.paid, charge.amount_captured, charge.customer) == (True, 4200, customer.id)
    assert intents[0].metadata["recipe"] == "R1"
    # the key that made it is derived from the run, and went out with the write
    (post,) = _charge_posts(stripe_server)
    assert post["idempotency_key"].startswith("airflow-stripe/action/R1/charge_lead/stripe_pay_per_lead/")
    assert dag_run.run_id in post["idempotency_key"]
    assert tis["charge_lead"].state == "success"


def test_a_task_retried_after_its_charge_does_not_charge_again(run_dag, stripe_client, stripe_server, customer):
    dag_run, tis = run_dag("test_charge_retry", {"customer_id": customer.id, "amount": 1000})

    assert dag_run.state == "success"
    assert tis["charge"].try_number == 2  # the first try crashed after charging
    intents = _intents(stripe_client, customer.id)
    assert [(pi.status, pi.amount) for pi in intents] == [("succeeded", 1000)]
    assert len(_charge_posts(stripe_server)) == 1  # the retry found its mark and sent nothing


def test_a_declining_card_fails_the_task_without_retry_and_charges_nothing(run_dag, stripe_client, customer, xcoms):
    pm = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": customer.id})
    stripe_client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})

    dag_run, tis = run_dag(DAG_ID, {"customer_id": customer.id, "amount": 2500})

    assert dag_run.state == "failed"
    assert tis["charge_lead"].state == "failed"
    assert tis["charge_lead"].try_number == 1
    intents = _intents(stripe_client, customer.id)
    assert all(pi.status != "succeeded" for pi in intents)
    assert intents and intents[0].last_payment_error.decline_code == "generic_decline"
    charges = list(stripe_client.v1.charges.list(params={"customer": customer.id}).auto_paging_iter())
    assert [c.status for c in charges] == ["failed"]
    # the failed task still links to the declined payment in the dashboard
    link = xcoms(dag_run)[("charge_lead", "_link_StripeDashboardLink")]
    assert str(link).endswith(f"/_testing/dashboard/payments/{intents[0].id}")


def test_the_dag_params_refuse_a_run_without_a_customer_id(run_dag, stripe_server):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="customer_id"):
        run_dag(DAG_ID, {"amount": 2500})
    assert stripe_server.requests == []


@pytest.mark.parametrize(
    "conf",
    [
        pytest.param({"customer_id": "", "amount": 2500}, id="missing-customer"),
        pytest.param({"customer_id": "cust_123", "amount": 2500}, id="not-a-customer-id"),
        pytest.param({"customer_id": "cus_x", "amount": 0}, id="zero-amount"),
        pytest.param({"customer_id": "cus_x", "amount": "12.50"}, id="decimal-amount"),
    ],
)
def test_the_operator_refuses_bad_input_without_retry_or_request(run_dag, stripe_server, conf):
    """The test DAG has no Params schema and retries=2: the operator alone must refuse, once."""
    dag_run, tis = run_dag("test_charge_retry", conf)

    assert dag_run.state == "failed"
    assert tis["charge"].try_number == 1
    assert stripe_server.requests == []


@pytest.mark.slow  # runs the task in a subprocess to read its logs
def test_the_api_key_appears_in_no_log_xcom_or_rendered_field(dag_bag, stripe_server, customer):
    """Run the DAG file as a user does (``python <dag file>`` with conf) and read everything it left."""
    import json
    import os
    import re
    import subprocess
    import sys

    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from tests.conftest import REPO

    script = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag; "
        f"dag = DagBag(dag_folder={str(REPO / 'example_dags')!r}).get_dag({DAG_ID!r}); "
        "run = dag.test(run_conf=json.loads(sys.argv[1])); print('RUN_ID=' + run.run_id)"
    )
    conf = {"customer_id": customer.id, "amount": 1500}
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(conf)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    logs = proc.stdout + proc.stderr
    assert proc.returncode == 0, logs[-3000:]
    run_id = logs.split("RUN_ID=")[1].split()[0]

    key = stripe_server.api_key
    # one line says what was done, to which object, under which key, and Stripe's request id
    done = re.search(
        r"Done: a charge of \$15\.00 to "
        + customer.id
        + r": (pi_\w+) \(idempotency key (\S+), Stripe request (req_\w+)\)",
        logs,
    )
    assert done, logs[-3000:]
    assert any(r["request_id"] == done[3] and r["path"] == "/v1/payment_intents" for r in stripe_server.requests)
    assert key not in logs
    with create_session() as session:
        xcoms = session.query(XComModel).filter_by(dag_id=DAG_ID, run_id=run_id).all()
        rendered = session.query(RenderedTaskInstanceFields).filter_by(dag_id=DAG_ID, run_id=run_id).all()
        stored = repr([(x.key, x.value) for x in xcoms]) + repr([r.rendered_fields for r in rendered])
    links = [x.value for x in xcoms if x.key == "_link_StripeDashboardLink"]
    # the link opens the local server's page of the payment (its api_base is not Stripe's)
    assert len(links) == 1 and f"{stripe_server.url}/_testing/dashboard/payments/pi_" in str(links[0])
    assert "return_value" in {x.key for x in xcoms}
    assert "/_testing/dashboard/payments/pi_" in stored
    assert customer.id in stored  # the rendered fields were read back
    assert key not in stored
