"""R8 — Credit new customers on sign-up (optionally subscribing them first), once per customer."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task_group
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator
from airflow_stripe_automation.operators.subscriptions import StripeCreateSubscriptionOperator
from airflow_stripe_automation.operators.summary import summarize_run
from airflow_stripe_automation.sensors.customers import StripeCustomerCreatedSensor

with DAG(
    dag_id="stripe_signup_credit",
    description="Credit each new customer's balance; optionally subscribe them to a price first.",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R8", "customers", "credits"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "credit_amount": Param(1000, type="integer", minimum=1, description="Minor units: 1000 = 10.00 USD."),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "price_id": Param("", type="string", description="Optional: subscribe new customers to this price first."),
    },
    doc_md="""
### R8 — Credit new customers on sign-up

Trigger: customer created (the run's data interval, or `since`/`until` in the run conf). For each
new customer: `subscribe` (only when `price_id` is set) creates the subscription, then `credit`
adds `credit_amount` to the customer's credit balance (a customer balance transaction, applied by
Stripe to the next invoices). Both act once per customer: a replay of the window credits no one twice.
""",
) as dag:
    created = StripeCustomerCreatedSensor(
        task_id="customer_created", wait_for_match=False, batch_size="{{ params.batch_size }}"
    )

    @task_group
    def each_customer(customer):
        """Optionally subscribe the new customer, then credit them."""
        subscribe = StripeCreateSubscriptionOperator(
            task_id="subscribe",
            action_id="R8/subscribe",
            stripe_object=customer,
            customer_id="{{ obj.id }}",
            price_id="{{ params.price_id }}",
        )
        subscribe >> StripeCustomerCreditOperator(
            task_id="credit",
            action_id="R8/credit",
            stripe_object=customer,
            customer_id="{{ obj.id }}",
            amount="{{ params.credit_amount }}",
            currency="{{ params.currency }}",
            description="Sign-up credit",
            trigger_rule="none_failed",  # runs whether or not a subscription was asked for
        )

    each_customer.expand(customer=created.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
