"""Test-only DAG: the charge succeeds, then the worker dies before the task can finish; Airflow retries.

The second try must find the payment the first one made instead of charging again.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator


class ChargeThenCrashOnce(StripeOneTimeChargeOperator):
    """Charges, then fails its first try as a worker crash after the API call would."""

    def execute(self, context):
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost after the charge was made")
        return result


with DAG(
    dag_id="test_charge_retry",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"customer_id": "", "amount": 1000},
    tags=["test"],
) as dag:
    ChargeThenCrashOnce(
        task_id="charge",
        customer_id="{{ params.customer_id }}",
        amount="{{ params.amount }}",
        currency="usd",
        description="retried charge",
        retries=2,
        retry_delay=timedelta(seconds=0),
    )
