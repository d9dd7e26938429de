"""R10 — Track invoice payment: when an invoice is paid, move the order on and tell the staff."""

from __future__ import annotations

import json

import pendulum

from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.sensors.invoices import StripeInvoicePaidSensor

# Downstream DAGs (fulfilment, accounting) can be scheduled on this asset.
PAID_INVOICES = Asset("stripe://invoices/paid")

with DAG(
    dag_id="stripe_invoice_paid_tracking",
    description="For each paid invoice: emit an asset event, call the order system (optional), mail staff.",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R10", "invoices"],
    params={
        "notify_email": Param("staff@example.com", type="string"),
        "callback_url": Param(
            "", type="string",
            description="Optional: the endpoint (e.g. /orders/paid) on the HTTP connection to POST each paid invoice to.",
        ),
        "http_conn_id": Param("order_system", type="string", description="HTTP connection of the order system."),
    },
    doc_md="""
### R10 — Track invoice payment

Trigger: invoice paid (the run's data interval, or `since`/`until` in the run conf). For each paid
invoice:

- `record_paid` emits an event on the asset `stripe://invoices/paid` (with the invoice id, order id
  and amount), so fulfilment or accounting DAGs scheduled on it start;
- `call_order_system` POSTs the invoice to the endpoint `callback_url` of the HTTP connection
  `http_conn_id` (HTTP provider), when set — your system marks the order paid or moves it on; the
  `Idempotency-Key` header lets it ignore a repeated call;
- `mail_staff` notifies the staff, once per invoice.
""",
) as dag:
    paid = StripeInvoicePaidSensor(task_id="invoice_paid", wait_for_match=False)

    @task(outlets=[PAID_INVOICES])
    def record_paid(invoice: dict, *, outlet_events=None) -> dict:
        """Emit the asset event for one paid invoice."""
        extra = {
            "invoice": invoice["id"],
            "order_id": (invoice.get("metadata") or {}).get("order_id"),
            "amount_paid": invoice.get("amount_paid"),
            "currency": invoice.get("currency"),
            "customer": invoice.get("customer"),
        }
        outlet_events[PAID_INVOICES].extra = extra
        return extra

    @task
    def call_order_system(invoice: dict, callback_url: str, http_conn_id: str) -> int | None:
        """POST the paid invoice to the order system; skipped when no callback URL is configured."""
        from airflow.providers.http.hooks.http import HttpHook
        from airflow.sdk.exceptions import AirflowSkipException

        if not callback_url:
            raise AirflowSkipException("no callback_url: nothing to call")
        response = HttpHook(method="POST", http_conn_id=http_conn_id).run(
            endpoint=callback_url,
            data=json.dumps({"event": "invoice.paid", **invoice}),
            headers={"Content-Type": "application/json", "Idempotency-Key": f"invoice-paid-{invoice['id']}"},
        )
        return response.status_code

    record_paid.expand(invoice=paid.output)
    call_order_system.partial(callback_url="{{ params.callback_url }}", http_conn_id="{{ params.http_conn_id }}").expand(
        invoice=paid.output
    )
    StripeSendEmailOperator.partial(
        task_id="mail_staff",
        to="{{ params.notify_email }}",
        subject="Invoice {{ obj.number }} paid: {{ obj.amount_paid | money(obj.currency) }}",
        body="Invoice {{ obj.number }} of {{ obj.customer_name or obj.customer }} has been paid.",
        fields={"Invoice": "{{ obj.number }}", "Customer": "{{ obj.customer }}",
                "Amount paid": "{{ money(obj.amount_paid, obj.currency) }}",
                "Order": "{{ (obj.metadata or {}).get('order_id', '') }}"},
    ).expand(stripe_object=paid.output)


if __name__ == "__main__":
    dag.test()
