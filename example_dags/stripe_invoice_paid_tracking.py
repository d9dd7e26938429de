"""R10 — Track invoice payment: when an invoice is paid, move the order on and tell the staff."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param, task_group
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.branch import StripeContinueIfOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.http import StripeObjectHttpOperator
from airflow_stripe_automation.operators.summary import summarize_run
from airflow_stripe_automation.sensors.invoices import StripeInvoicePaidSensor

# Downstream DAGs (fulfilment, accounting) can be scheduled on this asset.
PAID_INVOICES = Asset("stripe://invoices/paid")

with DAG(
    dag_id="stripe_invoice_paid_tracking",
    description="For each paid invoice: notify staff (asset event), call the order system (optional).",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R10", "invoices"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "notify_email": Param("staff@example.com", type="string"),
        "callback_url": Param(
            "",
            type="string",
            description="Optional: the endpoint (e.g. /orders/paid) on the HTTP connection to POST each paid invoice to.",
        ),
        "http_conn_id": Param("order_system", type="string", description="HTTP connection of the order system."),
    },
    doc_md="""
### R10 — Track invoice payment

Trigger: invoice paid (the run's data interval, or `since`/`until` in the run conf). For each paid
invoice:

- `mail_staff` notifies the staff, once per invoice, and emits an event on the asset
  `stripe://invoices/paid` whose `extra` is the invoice's summary (id, number, amount paid, customer,
  metadata such as your `order_id`), so fulfilment or accounting DAGs scheduled on it start;
- when `callback_url` is set, `call_order_system` POSTs the invoice to that endpoint of the HTTP
  connection `http_conn_id` (HTTP provider): your system marks the order paid or moves it on. The
  `Idempotency-Key` header lets it ignore a repeated call.
""",
) as dag:
    paid = StripeInvoicePaidSensor(task_id="invoice_paid", wait_for_match=False, batch_size="{{ params.batch_size }}")

    @task_group
    def each_invoice(invoice):
        """Notify, then (optionally) call the order system, for one paid invoice."""
        StripeSendEmailOperator(
            task_id="mail_staff",
            action_id="R10/mail_staff",
            stripe_object=invoice,
            to="{{ params.notify_email }}",
            subject="Invoice {{ obj.number }} paid: {{ obj.amount_paid | money(obj.currency) }}",
            body="Invoice {{ obj.number }} of {{ obj.customer_name or obj.customer }} has been paid.",
            fields={
                "Invoice": "{{ obj.number }}",
                "Customer": "{{ obj.customer }}",
                "Amount paid": "{{ obj.amount_paid | money(obj.currency) }}",
                "Order": "{{ (obj.metadata or {}).get('order_id', '') }}",
            },
            outlets=[PAID_INVOICES],
        )
        requested = StripeContinueIfOperator(
            task_id="callback_requested",
            stripe_object="{{ params }}",
            condition={"field": "callback_url", "op": "ne", "value": ""},
        )
        requested >> StripeObjectHttpOperator(
            task_id="call_order_system",
            stripe_object=invoice,
            http_conn_id="{{ params.http_conn_id }}",
            endpoint="{{ params.callback_url }}",
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": "invoice-paid-{{ obj.id }}"},
            data="{{ dict(obj, event='invoice.paid') | tojson }}",
        )

    each_invoice.expand(invoice=paid.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
