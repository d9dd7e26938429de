"""Test-only DAG: R8's sign-up credit as a sweep in batches, with one retry (the example DAG sets none).

Tests inject a fault on one customer's credit at the local Stripe server; the other customers of its
batch must be credited all the same, and the retry must finish only what is unfinished.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator
from airflow_stripe_automation.sensors.customers import StripeCustomerCreatedSensor

with DAG(
    dag_id="test_batch_failures",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"batch_size": 4},
    tags=["test"],
) as dag:
    created = StripeCustomerCreatedSensor(
        task_id="customer_created", wait_for_match=False, batch_size="{{ params.batch_size }}"
    )
    StripeCustomerCreditOperator.partial(
        task_id="credit",
        customer_id="{{ obj.id }}",
        amount=700,
        currency="usd",
        description="Batch credit",
        retries=1,
        retry_delay=timedelta(seconds=0),
    ).expand(stripe_object=created.output)
