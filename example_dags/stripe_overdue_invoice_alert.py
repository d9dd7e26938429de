"""R6 — Notify the team of high-value overdue invoices, found from invoice state (no Billing automation needed)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.summary import summarize_run
from airflow_stripe_automation.sensors.invoices import StripeInvoiceOverdueSensor

with DAG(
    dag_id="stripe_overdue_invoice_alert",
    description="Mail the collections team about each open invoice over 500 USD that became overdue.",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # a sweep: `airflow backfill create` replays past days
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R6", "invoices", "collections"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "min_amount_due": Param(50000, type="integer", minimum=0, description="Minor units: 50000 = 500.00 USD."),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "days_overdue": Param(0, type="integer", minimum=0, description="Days past the due date before alerting."),
        "team_email": Param("collections@example.com", type="string"),
    },
    doc_md="""
### R6 — Notify the team of high-value overdue invoices

Daily sweep: `invoice_overdue` finds open invoices whose due date plus `days_overdue` fell in the
run's data interval (so each invoice is reported by exactly one run, and backfills replay history),
with at least `min_amount_due` due in `currency`. Overdue is read from invoice state (status open,
due date passed): Stripe only sends `invoice.overdue` events when a Billing automation is set up.
`mail_team` sends one mail per invoice with its number, customer, amount and how long it has been
overdue (to Stripe's clock when the sweep ran, so a backfill says how late it is now); once per invoice.
""",
) as dag:
    overdue = StripeInvoiceOverdueSensor(
        task_id="invoice_overdue",
        days_overdue="{{ params.days_overdue }}",
        min_amount_due="{{ params.min_amount_due }}",
        currency="{{ params.currency }}",
        wait_for_match=False,
        batch_size="{{ params.batch_size }}",
    )
    StripeSendEmailOperator.partial(
        task_id="mail_team",
        action_id="R6/mail_team",
        to="{{ params.team_email }}",
        subject="Invoice {{ obj.number }} is overdue: {{ obj.amount_due | money(obj.currency) }} due",
        # days_overdue counts to Stripe's clock when the sweep ran: a backfill says how late it is now.
        body="Invoice {{ obj.number }} of {{ obj.customer_name or obj.customer }} has been overdue for "
        "{% if obj.days_overdue %}{{ obj.days_overdue }} day{{ '' if obj.days_overdue == 1 else 's' }}"
        "{% else %}less than a day{% endif %}, with {{ obj.amount_due | money(obj.currency) }} due. "
        "You are told of each invoice with at least {{ money(params.min_amount_due, params.currency) }} due.",
        fields={
            "Invoice number": "{{ obj.number }}",
            "Customer": "{{ obj.customer }} {{ obj.customer_email or '' }}",
            "Amount due": "{{ money(obj.amount_due, obj.currency) }}",
            "Invoice": "{{ obj.hosted_invoice_url or obj.id }}",
        },
    ).expand(stripe_object=overdue.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
