"""Connection ids are templated, as in Airflow's http, smtp and dbt providers; hooks are built only once rendered."""

from __future__ import annotations

import json

import pytest

from airflow_stripe_automation.operators.base import StripeBaseOperator
from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.recipes.types import STEP_TYPES, resolve_class
from airflow_stripe_automation.sensors.base import StripeWindowSensor
from airflow_stripe_automation.sensors.customers import StripeCustomerCreatedSensor


def _stripe_classes():
    operators = [cls for cls in map(resolve_class, STEP_TYPES.values()) if issubclass(cls, StripeBaseOperator)]
    return [*operators, StripeWindowSensor, StripeCustomerCreatedSensor]


@pytest.mark.parametrize("cls", _stripe_classes(), ids=lambda cls: cls.__name__)
def test_stripe_conn_id_is_a_template_field(cls):
    assert "stripe_conn_id" in cls.template_fields


def test_smtp_conn_id_is_a_template_field():
    assert "smtp_conn_id" in StripeSendEmailOperator.template_fields


def _context(make_context, **params):
    return {**make_context(), "params": params}


def test_a_templated_stripe_conn_id_reaches_that_connection(
    other_stripe_connection, stripe_client, stripe_server, make_context
):
    customer = stripe_client.v1.customers.create(params={"email": "c@example.com"})
    op = StripeUpdateCustomerMetadataOperator(
        task_id="tag", stripe_conn_id="{{ params.conn }}", customer_id=customer.id, metadata={"tier": "VIP"}
    )
    assert "hook" not in op.__dict__  # not built at parse time
    context = _context(make_context, conn=other_stripe_connection)
    op.render_template_fields(context)
    assert op.stripe_conn_id == "stripe_other" and "hook" not in op.__dict__
    before = len(stripe_server.requests)

    op.execute(context)

    assert op.hook.stripe_conn_id == "stripe_other"
    made = stripe_server.requests[before:]
    assert made and {r["stripe_account"] for r in made} == {"acct_other"}  # stripe_default is not even set
    assert stripe_client.v1.customers.retrieve(customer.id).metadata["tier"] == "VIP"


def test_a_templated_smtp_conn_id_reaches_that_connection(smtp_connection, monkeypatch, stripe_server, make_context):
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_OTHER", json.dumps(smtp_connection.airflow_connection()))
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT")
    op = StripeSendEmailOperator(
        task_id="mail", to="a@example.com", subject="Hello", smtp_conn_id="{{ params.smtp }}", mark_object_id=""
    )
    context = _context(make_context, smtp="smtp_other")
    op.render_template_fields(context)

    assert op.execute(context)["sent"] is True
    assert op.smtp_conn_id == "smtp_other" and [m.rcpt_tos for m in smtp_connection.messages] == [["a@example.com"]]
