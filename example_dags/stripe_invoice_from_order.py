"""R11 — Create a Stripe invoice from an order (Bitrix24 "create from"), once per order."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_stripe_automation.operators.invoices import StripeCreateInvoiceOperator
from airflow_stripe_automation.operators.summary import summarize_run

with DAG(
    dag_id="stripe_invoice_from_order",
    description="Create, finalize and send (or charge) a Stripe invoice for an order's line items.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R11", "invoices"],
    params={
        "order_id": Param(type="string", minLength=1, description="Your order id; one invoice per order."),
        "customer_id": Param(type="string", pattern=r"^cus_[A-Za-z0-9]+$"),
        "items": Param(
            [],
            type="array",
            minItems=1,
            items={
                "type": "object",
                "required": ["description", "quantity", "unit_amount"],
                "properties": {
                    "description": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1},
                    "unit_amount": {"type": "integer", "minimum": 1},
                },
            },
            description="Line items; unit_amount in minor units of currency.",
        ),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "collection": Param("send_invoice", type="string", enum=["send_invoice", "charge_automatically"]),
        "days_until_due": Param(30, type="integer", minimum=1),
    },
    doc_md="""
### R11 — Create an invoice from an order

Triggered when an order or deal reaches a stage, with `conf` such as

```json
{"order_id": "SO-1042", "customer_id": "cus_123", "currency": "usd",
 "items": [{"description": "Consulting", "quantity": 3, "unit_amount": 15000}]}
```

`create_invoice` creates the invoice with those lines, finalizes it and sends it (`collection` =
`send_invoice`, due in `days_until_due` days) or charges the customer's default payment method
(`charge_automatically`). It returns the invoice id, number and hosted URL. A second run for the same
order — or a retry after a crash half-way — completes the same invoice instead of making another.
""",
) as dag:
    StripeCreateInvoiceOperator(
        task_id="create_invoice",
        action_id="R11/create_invoice",
        order_id="{{ params.order_id }}",
        customer_id="{{ params.customer_id }}",
        items="{{ params['items'] }}",
        currency="{{ params.currency }}",
        collection_method="{{ params.collection }}",
        days_until_due="{{ params.days_until_due }}",
    )
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
