"""Test-only DAGs: each Stripe sensor twice over the run conf's window, deferrable first, then in poke mode.

``test_sensor_<kind>`` runs ``deferred`` (``deferrable=True``) then ``poke``; both wait for a match
and read ``since``/``until`` (and the sensor's filters) from the run conf, so a test compares what
the two modes returned.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_stripe_automation.sensors.customers import StripeCustomerCreatedSensor
from airflow_stripe_automation.sensors.events import StripeEventSensor
from airflow_stripe_automation.sensors.invoices import StripeInvoiceOverdueSensor, StripeInvoicePaidSensor
from airflow_stripe_automation.sensors.payments import StripePaymentSucceededSensor
from airflow_stripe_automation.sensors.radar import StripeEarlyFraudWarningSensor
from airflow_stripe_automation.sensors.subscriptions import (
    StripeSubscriptionCanceledSensor,
    StripeSubscriptionPaymentFailedSensor,
)

WINDOW = {
    "since": "{{ dag_run.conf.get('since') }}",
    "until": "{{ dag_run.conf.get('until') }}",
}
SENSORS = {
    "payment_succeeded": (StripePaymentSucceededSensor, {}),
    "customer_created": (StripeCustomerCreatedSensor, {}),
    "early_fraud_warning": (StripeEarlyFraudWarningSensor, {}),
    "event": (StripeEventSensor, {"event_types": ["customer.created", "payment_intent.succeeded"]}),
    "invoice_overdue": (
        StripeInvoiceOverdueSensor,
        {
            "days_overdue": "{{ dag_run.conf.get('days_overdue', 0) }}",
            "min_amount_due": "{{ dag_run.conf.get('min_amount_due', '') }}",
            "currency": "{{ dag_run.conf.get('currency', '') }}",
        },
    ),
    "invoice_paid": (StripeInvoicePaidSensor, {}),
    "subscription_payment_failed": (
        StripeSubscriptionPaymentFailedSensor,
        {"interval": "{{ dag_run.conf.get('interval', '') }}"},
    ),
    "subscription_canceled": (StripeSubscriptionCanceledSensor, {}),
}

for kind, (sensor, kwargs) in SENSORS.items():
    with DAG(
        dag_id=f"test_sensor_{kind}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 1, "retry_delay": 0},  # input errors and timeouts must not be retried
        tags=["test"],
    ):
        deferred = sensor(task_id="deferred", deferrable=True, poke_interval=0.5, timeout=60, **WINDOW, **kwargs)
        poke = sensor(task_id="poke", poke_interval=0.5, timeout=60, **WINDOW, **kwargs)
        deferred >> poke
