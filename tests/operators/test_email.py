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
    assert mail.header("Message-ID") == first["message_id"]
    metadata = stripe_client.v1.customers.retrieve(customer.id).metadata.to_dict()
    assert list(metadata) == ["airflow_mails"] and metadata["airflow_mails"].endswith(":sent")


def test_marks_of_fraud_warnings_and_canceled_subscriptions_go_on_the_charge_and_the_customer(
    smtp_connection, stripe_server, stripe_client, make_context, paid_charge
):
    customer, _, charge = paid_charge()
    warning = stripe_server.create_early_fraud_warning(charge.id)
    canceled = [
        {"id": f"sub_gone{i}", "object": "subscription", "status": "canceled", "customer": customer.id} for i in (1, 2)
    ]
    for obj in (warning, *canceled):
        op = StripeSendEmailOperator(
            task_id="mail", to="ops@example.com", subject="About {{ obj.id }}", stripe_object=obj
        )
        op.render_template_fields(make_context())
        assert op.execute(make_context())["sent"] is True

    assert stripe_client.v1.charges.retrieve(charge.id).metadata.to_dict()["airflow_mails"].endswith(":sent")
    on_customer = stripe_client.v1.customers.retrieve(customer.id).metadata.to_dict()
    assert list(on_customer) == ["airflow_mails"] and len(on_customer["airflow_mails"].split()) == 2
    assert [m.header("X-Airflow-Stripe-Object") for m in smtp_connection.messages] == [
        warning["id"],
        "sub_gone1",
        "sub_gone2",
    ]


def test_without_a_mark_the_mail_is_sent_with_a_fresh_message_id_and_nothing_is_read(
    smtp_connection, stripe_server, make_context
):
    op = StripeSendEmailOperator(
        task_id="mail", to="a@example.com", subject="S", stripe_object={"id": "cus_123"}, mark_object_id=""
    )
    first, second = op.execute(make_context()), op.execute(make_context())
    assert first["sent"] and second["sent"] and first["message_id"] != second["message_id"]
    assert len(smtp_connection.messages) == 2 and stripe_server.requests == []


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
