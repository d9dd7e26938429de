"""Test-only DAG: the invoice retry policy with a window of seconds, so ``dag.test()`` runs its triggers inline.

The window only sets how long a run takes: attempts are counted, not timed, so a slow machine
makes a run later, never different.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_stripe_automation.operators.dunning import StripeInvoiceRetryOperator

with DAG(
    dag_id="test_billing_invoice_retry",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"invoice_id": "", "max_attempts": 3},
    tags=["test"],
) as dag:
    StripeInvoiceRetryOperator(
        task_id="retry_payment",
        invoice_id="{{ params.invoice_id }}",
        max_attempts="{{ params.max_attempts }}",
        window=timedelta(seconds=2),
    )
