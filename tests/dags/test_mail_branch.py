"""Test-only DAG: read a payment, branch on its amount, mail the team and tag VIP customers (R3's shape)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_stripe_automation.conditions import field
from airflow_stripe_automation.operators.branch import StripeConditionBranchOperator
from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator

with DAG(
    dag_id="test_mail_branch",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"payment_intent_id": "", "team_email": "team@example.com"},
    render_template_as_native_obj=True,
    tags=["test"],
) as dag:
    read = StripeRetrieveOperator(task_id="read_payment", object_id="{{ params.payment_intent_id }}")
    check = StripeConditionBranchOperator(
        task_id="check_amount",
        stripe_object=read.output,
        branches=[
            {"when": field("amount").gt(100000, currency="usd"), "then": "mail_team"},
            {"when": field("amount").gt(200000, currency="usd"), "then": "tag_vip"},
        ],
        match="all",
    )
    mail = StripeSendEmailOperator(
        task_id="mail_team",
        to="{{ params.team_email }}",
        subject="Add a handwritten thank-you note for {{ obj.customer }}",
        body="A payment of {{ obj.amount | money(obj.currency) }} just succeeded.\nPlease add a note.",
        fields={"Customer": "{{ obj.customer }}", "Amount": "{{ money(obj.amount, obj.currency) }}"},
        stripe_object=read.output,
    )
    tag = StripeUpdateCustomerMetadataOperator(
        task_id="tag_vip",
        customer_id="{{ ti.xcom_pull(task_ids='read_payment')['customer'] }}",
        metadata={"tier": "VIP"},
    )
    read >> check >> [mail, tag]
