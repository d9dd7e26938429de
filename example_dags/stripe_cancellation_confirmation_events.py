"""R7, event-driven — confirm a subscription cancellation to the customer, once per subscription."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task_group

from airflow_stripe_automation.finders import SubscriptionCanceledFinder
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.events import StripeTriggeringObjectsOperator, stripe_events_asset
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator
from airflow_stripe_automation.operators.summary import summarize_run

DAG_ID = "stripe_cancellation_confirmation_events"

with DAG(
    dag_id=DAG_ID,
    description="Mail customers a confirmation when their subscription is canceled.",
    # The triggerer watches Stripe's Events API (every 10 s); each customer.subscription.deleted event is an asset event.
    schedule=[stripe_events_asset(DAG_ID, SubscriptionCanceledFinder())],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R7", "events", "subscriptions", "email"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "survey_url": Param("", type="string", description="Optional link to a cancellation-reason survey."),
    },
    doc_md="""
The event-driven form of `stripe_cancellation_confirmation`: a run per `customer.subscription.deleted` event, at most the watcher's
poll interval (10 s) after Stripe created it; the objects come from the run's asset events, and the
same steps with the same `action_id`s act on each once, whichever form saw it first.

### R7 — Confirm a subscription cancellation

Trigger: subscription canceled (each `customer.subscription.deleted` event).
For each one, `read_subscription` reads the subscription with its customer, and `mail_customer`
sends the customer the subscription details and the cancellation date, with a link to the survey
when `survey_url` is set. One mail per subscription, whichever form saw it first.
Narrow it down with the sensor's `condition` (e.g. a price or an amount) if only some plans apply.
""",
) as dag:
    canceled = StripeTriggeringObjectsOperator(task_id="subscription_canceled", batch_size="{{ params.batch_size }}")

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
