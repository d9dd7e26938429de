"""R12 — Keep customer details in sync: update a Stripe customer from the user's system, then tell the courier."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_stripe_automation.operators.branch import StripeContinueIfOperator
from airflow_stripe_automation.operators.customers import StripeUpdateCustomerOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator
from airflow_stripe_automation.operators.summary import summarize_run

with DAG(
    dag_id="stripe_sync_customer_details",
    description="Update a Stripe customer's details (only the fields given) and mail the courier the address.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R12", "customers"],
    params={
        "customer_id": Param(type="string", pattern=r"^cus_[A-Za-z0-9]+$", description="The Stripe customer."),
        "name": Param("", type="string", description="New name; empty leaves it as it is."),
        "phone": Param("", type="string", description="New phone; empty leaves it as it is."),
        "address": Param(
            {},
            type="object",
            properties={k: {"type": "string"} for k in ("line1", "line2", "city", "state", "postal_code", "country")},
            additionalProperties=False,
            description="Billing address; only the keys given are changed.",
        ),
        "tax_id": Param(None, type=["null", "object"], description='e.g. {"type": "eu_vat", "value": "DE123456789"}'),
        "courier_email": Param("", type="string", description="If given, mail this address the delivery address."),
    },
    doc_md="""
### R12 — Keep customer details in sync

Triggered when customer details change in your system (CRM, ERP, shop) with `conf` such as

```json
{"customer_id": "cus_123", "phone": "+49 30 1234567",
 "address": {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"},
 "tax_id": {"type": "eu_vat", "value": "DE123456789"}, "courier_email": "courier@example.com"}
```

`update_customer` changes only the fields given (empty fields are left as they are; nothing is sent
when Stripe already holds the values). `read_customer` reads the customer back — the companion
"get requisites" action — and, when `courier_email` is set, `mail_courier` sends the delivery address
(the shipping address, or the billing address when there is none).
""",
) as dag:
    update = StripeUpdateCustomerOperator(
        task_id="update_customer",
        action_id="R12/update_customer",
        customer_id="{{ params.customer_id }}",
        name="{{ params.name }}",
        phone="{{ params.phone }}",
        address="{{ params.address }}",
        tax_id="{{ params.tax_id }}",
    )
    read = StripeRetrieveOperator(
        task_id="read_customer",
        object_id="{{ params.customer_id }}",
        fields=["shipping.address", "address"],
    )

    # Go on to the courier mail only when an address for the courier was given.
    courier_requested = StripeContinueIfOperator(
        task_id="courier_requested",
        stripe_object="{{ params }}",
        condition={"field": "courier_email", "op": "ne", "value": ""},
    )

    mail = StripeSendEmailOperator(
        task_id="mail_courier",
        action_id="R12/mail_courier",
        stripe_object=read.output,
        to="{{ params.courier_email }}",
        subject="Delivery address for {{ obj.name or obj.id }}",
        body="Please deliver to the address below.",
        fields={
            "Name": "{{ obj.name }}",
            "Phone": "{{ obj.phone }}",
            "Address": "{% set a = obj['shipping.address'] or obj['address'] %}"
            "{{ [a.line1, a.line2, a.postal_code ~ ' ' ~ a.city, a.country] | select | join(', ') }}",
        },
        # Each change is its own delivery notice: no per-customer de-duplication.
        mark_object_id="",
    )

    update >> read >> courier_requested >> mail
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
