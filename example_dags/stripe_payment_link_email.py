"""R9 — Payment link by email: when an order awaits payment, create one Stripe payment link and mail it."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.payment_links import StripeCreatePaymentLinkOperator
from airflow_stripe_automation.operators.summary import summarize_run

with DAG(
    dag_id="stripe_payment_link_email",
    description="Create a payment link for an order (once per order) and email it to the customer.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R9", "payment-links", "email"],
    params={
        "order_id": Param(type="string", minLength=1, description="Your order or deal id; one link per order."),
        "customer_email": Param(type="string", description="Where to send the link."),
        "amount": Param(None, type=["null", "integer"], minimum=1, description="Minor units, with currency."),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "price_id": Param("", type="string", description="Or: an existing price (price_…) instead of amount."),
        "product_name": Param("Order payment", type="string"),
        "allow_partial": Param(False, type="boolean", description="Let the customer pay less than the total."),
    },
    doc_md="""
### R9 — Payment link by email

Triggered when an order reaches "awaiting payment" in your system (CRM deal stage, invoicing tool),
with `conf` such as `{"order_id": "SO-1042", "customer_email": "buyer@example.com", "amount": 12500}`
(or `"price_id": "price_…"`). `create_payment_link` makes one Stripe payment link per order — a
second run for the same order finds the first link — and `mail_customer` mails its URL once.
With `allow_partial`, the customer may choose to pay part of the amount.
""",
) as dag:
    link = StripeCreatePaymentLinkOperator(
        task_id="create_payment_link",
        action_id="R9/create_payment_link",
        order_id="{{ params.order_id }}",
        amount="{{ params.amount }}",
        currency="{{ params.currency }}",
        price_id="{{ params.price_id }}",
        product_name="{{ params.product_name }}",
        allow_partial="{{ params.allow_partial }}",
    )
    StripeSendEmailOperator(
        task_id="mail_customer",
        action_id="R9/mail_customer",
        stripe_object=link.output,
        to="{{ params.customer_email }}",
        subject="Your payment link for order {{ params.order_id }}",
        body="Thank you for your order {{ params.order_id }}. You can pay it securely here:\n{{ obj.url }}",
        fields={"Order": "{{ params.order_id }}", "Pay here": "{{ obj.url }}"},
    )
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
