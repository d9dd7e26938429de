"""R2, event-driven — personalise orders: mail the team about every large USD payment, to add a handwritten note."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_stripe_automation.finders import PaymentSucceededFinder
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.events import StripeTriggeringObjectsOperator, stripe_events_asset
from airflow_stripe_automation.operators.summary import summarize_run

DAG_ID = "stripe_personalize_orders_events"

with DAG(
    dag_id=DAG_ID,
    description="Mail the team about each succeeded payment over 1,000 USD.",
    # The triggerer watches Stripe's Events API (every 10 s); each payment_intent.succeeded event is an asset event.
    schedule=[stripe_events_asset(DAG_ID, PaymentSucceededFinder())],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R2", "events", "payments", "email"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "min_amount": Param(100000, type="integer", minimum=0, description="Minor units: 100000 = 1,000.00 USD."),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "team_email": Param("team@example.com", type="string", description="Who writes the notes."),
    },
    doc_md="""
The event-driven form of `stripe_personalize_orders`: a run per `payment_intent.succeeded` event, at most the watcher's
poll interval (10 s) after Stripe created it; the objects come from the run's asset events, and the
same steps with the same `action_id`s act on each once, whichever form saw it first.

### R2 — Personalise orders

On each succeeded PaymentIntent, `payment_succeeded` keeps the ones
with an amount **over** `min_amount` in `currency` (an amount in another currency never passes), and
`mail_team` sends one mail per payment asking for a handwritten thank-you note, with the customer and
the amount appended. Each payment is mailed once, whichever form saw it first.
""",
) as dag:
    payments = StripeTriggeringObjectsOperator(
        task_id="payment_succeeded",
        condition={
            "field": "amount",
            "op": "gt",
            "value": "{{ params.min_amount }}",
            "currency": "{{ params.currency }}",
        },
        batch_size="{{ params.batch_size }}",
    )
    StripeSendEmailOperator.partial(
        task_id="mail_team",
        action_id="R2/mail_team",
        to="{{ params.team_email }}",
        subject="Add a handwritten thank-you note: {{ obj.amount | money(obj.currency) }} order",
        body="A payment of {{ obj.amount | money(obj.currency) }} just succeeded.\n"
        "Please add a handwritten thank-you note to this order.",
        fields={
            "Customer": "{{ obj.customer }}",
            "Amount": "{{ money(obj.amount, obj.currency) }}",
            "Payment": "{{ obj.id }}",
        },
    ).expand(stripe_object=payments.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note
