"""R7 — Confirm a subscription cancellation to the customer, once per subscription."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task_group
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator
from airflow_stripe_automation.operators.summary import summarize_run
from airflow_stripe_automation.sensors.subscriptions import StripeSubscriptionCanceledSensor

with DAG(
    dag_id="stripe_cancellation_confirmation",
    description="Mail customers a confirmation when their subscription is canceled.",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R7", "subscriptions", "email"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "survey_url": Param("", type="string", description="Optional link to a cancellation-reason survey."),
    },
    doc_md="""
### R7 — Confirm a subscription cancellation

Trigger: subscription canceled (the run's data interval, or `since`/`until` in the run conf).
For each one, `read_subscription` reads the subscription with its customer, and `mail_customer`
sends the customer the subscription details and the cancellation date, with a link to the survey
when `survey_url` is set. One mail per subscription, however often a window is replayed.
Narrow it down with the sensor's `condition` (e.g. a price or an amount) if only some plans apply.
""",
) as dag:
    canceled = StripeSubscriptionCanceledSensor(
        task_id="subscription_canceled", wait_for_match=False, batch_size="{{ params.batch_size }}"
    )

    @task_group
    def each_cancellation(subscription):
        """Read the canceled subscription and its customer, then mail the customer."""
        read = StripeRetrieveOperator(
            task_id="read_subscription",
            stripe_object=subscription,
            object_id="{{ obj.id }}",
            expand=["customer"],
            fields=["customer.email", "customer.name"],
        )
        StripeSendEmailOperator(
            task_id="mail_customer",
            action_id="R7/mail_customer",
            stripe_object=read.output,
            to="{{ obj['customer.email'] }}",
            subject="Your subscription has been canceled",
            body="Hello {{ obj['customer.name'] or '' }},\n"
            "your subscription {{ obj.id }} ({{ obj.amount | money(obj.currency) }} per {{ obj.interval }}) "
            "was canceled on {{ macros.datetime.utcfromtimestamp(obj.canceled_at).strftime('%Y-%m-%d') }}."
            "{% if params.survey_url %}\nTell us why, it takes a minute: {{ params.survey_url }}{% endif %}",
            fields={
                "Subscription": "{{ obj.id }}",
                "Plan": "{{ obj.price }}",
                "Canceled on": "{{ macros.datetime.utcfromtimestamp(obj.canceled_at).strftime('%Y-%m-%d') }}",
            },
        )

    each_cancellation.expand(subscription=canceled.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
