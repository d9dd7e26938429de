"""R3, event-driven — tag valuable customers: mail the team about large payments and tag the largest payers VIP."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task_group

from airflow_stripe_automation.finders import PaymentSucceededFinder
from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.events import StripeTriggeringObjectsOperator, stripe_events_asset
from airflow_stripe_automation.operators.summary import summarize_run

DAG_ID = "stripe_tag_valuable_customers_events"

with DAG(
    dag_id=DAG_ID,
    description="Mail the team about payments over 1,000 USD; tag customers paying over 2,000 USD as VIP.",
    # The triggerer watches Stripe's Events API (every 10 s); each payment_intent.succeeded event is an asset event.
    schedule=[stripe_events_asset(DAG_ID, PaymentSucceededFinder())],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R3", "events", "payments", "customers"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "email_amount": Param(100000, type="integer", minimum=0, description="Mail above this (minor units)."),
        "vip_amount": Param(200000, type="integer", minimum=0, description="Tag VIP above this (minor units)."),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "team_email": Param("team@example.com", type="string"),
    },
    doc_md="""
The event-driven form of `stripe_tag_valuable_customers`: a run per `payment_intent.succeeded` event, at most the watcher's
poll interval (10 s) after Stripe created it; the objects come from the run's asset events, and the
same steps with the same `action_id`s act on each once, whichever form saw it first.

### R3 — Tag valuable customers

Trigger: payment intent succeeded (each `payment_intent.succeeded` event). Condition: amount over `email_amount` in `currency` -> `mail_team`. Branch: amount over
`vip_amount` -> `tag_vip` sets the customer's metadata `tier = VIP`. Otherwise: no action, and the run
ends successfully. With the defaults: 2,500 USD -> mail + VIP; 1,500 USD -> mail only; 500 USD -> nothing.
""",
) as dag:
    payments = StripeTriggeringObjectsOperator(
        task_id="payment_succeeded",
        condition={
            "field": "amount",
            "op": "gt",
            "value": "{{ params.email_amount }}",
            "currency": "{{ params.currency }}",
        },
        batch_size="{{ params.batch_size }}",
    )

    @task_group
    def each_payment(payment):
        """What happens to one matching payment: the team mail, and the VIP tag when it is large enough."""
        StripeSendEmailOperator(
            task_id="mail_team",
            action_id="R3/mail_team",
            stripe_object=payment,
            to="{{ params.team_email }}",
            subject="Valuable customer: {{ obj.amount | money(obj.currency) }} from {{ obj.customer }}",
            body="A payment of {{ obj.amount | money(obj.currency) }} just succeeded.",
            fields={"Customer": "{{ obj.customer }}", "Amount": "{{ money(obj.amount, obj.currency) }}"},
        )
        StripeUpdateCustomerMetadataOperator(
            task_id="tag_vip",
            action_id="R3/tag_vip",
            stripe_object=payment,
            condition={
                "field": "amount",
                "op": "gt",
                "value": "{{ params.vip_amount }}",
                "currency": "{{ params.currency }}",
            },  # not met: this payment's tag_vip is skipped ("no action")
            customer_id="{{ obj.customer }}",
            metadata={"tier": "VIP"},
        )

    each_payment.expand(payment=payments.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note
