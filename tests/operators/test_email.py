"""StripeSendEmailOperator: recipients, dry run, the per-object mark, bad input."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.money import money_or_text as money
from airflow_stripe_automation.operators.email import StripeSendEmailOperator


def test_money_helper_formats_per_currency():
    assert (money(150000, "usd"), money(5000, "jpy"), money("x", "usd")) == ("$1,500.00", "¥5,000", "x usd")


def test_mail_is_sent_once_per_object_and_marks_it(smtp_connection, stripe_client, make_context):
    customer = stripe_client.v1.customers.create(params={"email": "cust@example.com"})
    obj = {"id": customer.id, "object": "customer", "email": "cust@example.com"}
    op = StripeSendEmailOperator(
        task_id="mail",
        to="cust@example.com; ops@example.com",
        subject="Welcome",
        body="Hello <friend>",
        fields={"Plan": "Gold"},
        stripe_object=obj,
    )
    first = op.execute(make_context(run_id="r1"))
    second = op.execute(make_context(run_id="r2"))

    assert (first["sent"], second["sent"], second["already_done"]) == (True, False, True)
    (mail,) = smtp_connection.messages
    assert mail.rcpt_tos == ["cust@example.com", "ops@example.com"]
    assert "Hello &lt;friend&gt;" in mail.body and "<td>Gold</td>" in mail.body
    assert mail.header("X-Airflow-Stripe-Object") == customer.id
    marks = [
        k for k in stripe_client.v1.customers.retrieve(customer.id).metadata.to_dict() if k.startswith("airflow_mail_")
    ]
    assert len(marks) == 1


def test_dry_run_sends_nothing(smtp_connection, stripe_server, make_context):
    out = StripeSendEmailOperator(
        task_id="mail", to="a@example.com", subject="S", dry_run=True, stripe_object={"id": "cus_123"}
    ).execute(make_context())
    assert out["dry_run"] is True and smtp_connection.messages == [] and stripe_server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"to": ""}, "no recipient"),
        ({"to": "None"}, "not email addresses"),
        ({"subject": " "}, "subject is required"),
        ({"fields": ["a"]}, "fields must be a mapping"),
    ],
)
def test_bad_input_sends_nothing(smtp_connection, stripe_server, make_context, kwargs, message):
    args = {"to": "a@example.com", "subject": "S", **kwargs}
    with pytest.raises(StripeInputError, match=message):
        StripeSendEmailOperator(task_id="mail", **args).execute(make_context())
    assert smtp_connection.messages == [] and stripe_server.requests == []
