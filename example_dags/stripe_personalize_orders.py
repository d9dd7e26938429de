"""R2 — Personalise orders: mail the team about every large USD payment, to add a handwritten note."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.summary import summarize_run
from airflow_stripe_automation.sensors.payments import StripePaymentSucceededSensor

with DAG(
    dag_id="stripe_personalize_orders",
    description="Mail the team about each succeeded payment over 1,000 USD.",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R2", "payments", "email"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "min_amount": Param(100000, type="integer", minimum=0, description="Minor units: 100000 = 1,000.00 USD."),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "team_email": Param("team@example.com", type="string", description="Who writes the notes."),
    },
    doc_md="""
### R2 — Personalise orders

Every hour, `payment_succeeded` finds the PaymentIntents that succeeded in the run's data interval
with an amount **over** `min_amount` in `currency` (an amount in another currency never passes), and
`mail_team` sends one mail per payment asking for a handwritten thank-you note, with the customer and
the amount appended. Each payment is mailed once, even when a window is replayed.

Replay a window by hand: trigger with `{"since": "2026-11-01T00:00:00Z", "until": "2026-11-08T00:00:00Z"}`.
""",
) as dag:
    payments = StripePaymentSucceededSensor(
        task_id="payment_succeeded",
        condition={
            "field": "amount",
            "op": "gt",
            "value": "{{ params.min_amount }}",
            "currency": "{{ params.currency }}",
        },
        wait_for_match=False,  # an hour without large payments is a quiet hour, not a failure
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


if __name__ == "__main__":
    dag.test()
