"""Test-only DAGs for how Stripe sensors behave around their matches: sweeps, timeouts, empty data intervals.

- ``test_sensor_sweep``: ``wait_for_match=False`` in both modes: succeeds with ``[]`` when nothing matched.
- ``test_sensor_timeout``: nothing can match; a 2-second timeout, with and without ``soft_fail``,
  deferrable and in poke mode (independent tasks: each one's outcome is asserted).
- ``test_sensor_lookback``: ``schedule=None``, so every run's data interval is empty and the sensor
  reads the window from the previous successful run, or ``lookback``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_stripe_automation.sensors.customers import StripeCustomerCreatedSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
WINDOW = {"since": "{{ dag_run.conf.get('since') }}", "until": "{{ dag_run.conf.get('until') }}"}

with DAG(dag_id="test_sensor_sweep", schedule=None, start_date=START, catchup=False, tags=["test"]):
    StripeCustomerCreatedSensor(task_id="deferred", deferrable=True, wait_for_match=False, **WINDOW)
    StripeCustomerCreatedSensor(task_id="poke", wait_for_match=False, **WINDOW)

with DAG(dag_id="test_sensor_timeout", schedule=None, start_date=START, catchup=False, tags=["test"]):
    for mode, deferrable in (("poke", False), ("deferred", True)):
        for outcome, soft_fail in (("fails", False), ("skips", True)):
            StripeCustomerCreatedSensor(
                task_id=f"{mode}_{outcome}",
                deferrable=deferrable,
                soft_fail=soft_fail,
                timeout=2,
                poke_interval=0.5,
                retries=2,  # a timeout is final: never retried
                retry_delay=0,
                **WINDOW,
            )

with DAG(dag_id="test_sensor_lookback", schedule=None, start_date=START, catchup=False, tags=["test"]):
    StripeCustomerCreatedSensor(task_id="new_customers", wait_for_match=False, lookback=timedelta(hours=2))
