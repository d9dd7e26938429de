"""Mails under injected faults and bad input: the real local Stripe server, the real SMTP sink."""

from __future__ import annotations

import pytest
import stripe
from airflow.sdk.exceptions import AirflowFailException

from airflow_stripe_automation.errors import StripeActionFailed, StripeInputError, StripeRetryPolicy
from airflow_stripe_automation.operators.email import StripeSendEmailOperator


def mail_about(obj_id: str, task_id: str = "mail", **kwargs):
    kwargs.setdefault("to", "ops@example.com")
    kwargs.setdefault("subject", f"About {obj_id}")
    kwargs.setdefault("stripe_object", {"id": obj_id, "object": "customer"})
    return StripeSendEmailOperator(task_id=task_id, **kwargs)


def metadata(stripe_client, obj_id: str) -> dict[str, str]:
    return stripe_client.v1.customers.retrieve(obj_id).metadata.to_dict()


def test_a_fault_can_let_the_first_matching_requests_through(stripe_server, stripe_client):
    cus = stripe_client.v1.customers.create()
    stripe_server.fail_next(500, path=f"/v1/customers/{cus.id}", method="POST", after=1)

    stripe_client.v1.customers.update(cus.id, params={"metadata": {"a": "1"}})
    with pytest.raises(stripe.APIError):
        stripe_client.v1.customers.update(cus.id, params={"metadata": {"b": "2"}})
    stripe_client.v1.customers.update(cus.id, params={"metadata": {"c": "3"}})

    assert metadata(stripe_client, cus.id) == {"a": "1", "c": "3"}


def test_the_operator_has_the_stripe_retry_policy():
    assert isinstance(mail_about("cus_1").retry_policy, StripeRetryPolicy)


def test_a_missing_object_fails_at_once_with_nothing_mailed(stripe_server, smtp_connection, make_context):
    with pytest.raises(StripeActionFailed, match="cus_missing") as err:
        mail_about("cus_missing").execute(make_context())
    assert isinstance(err.value, AirflowFailException)  # Airflow does not retry it 3 times
    assert smtp_connection.messages == [] and stripe_server.write_requests() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"subject": "Paid\r\nBcc: thief@example.net"}, "subject"),
        ({"subject": "Paid\nnow"}, "subject"),
        ({"subject": "Paid\x00"}, "subject"),
        ({"to": "ops@example.com\r\nBcc: thief@example.net"}, "to"),
        ({"cc": ["ok@example.com", "x@example.com\nBcc: thief@example.net"]}, "cc"),
        ({"from_email": "billing@example.com\r\nReply-To: thief@example.net"}, "from_email"),
        ({"mark_object_id": "cus_1\r\nX-Evil: 1"}, "mark_object_id"),
        ({"stripe_object": {"id": "cus_1\nX-Evil: 1"}}, "stripe_object's id"),
    ],
)
def test_control_characters_in_a_header_are_refused_before_anything_is_sent(
    stripe_server, smtp_connection, make_context, kwargs, field
):
    with pytest.raises(StripeInputError, match=rf"^{field} holds control characters"):
        mail_about("cus_1", **kwargs).execute(make_context())
    assert smtp_connection.messages == [] and stripe_server.requests == []


def test_a_mark_object_id_of_no_known_type_is_an_input_error(stripe_server, smtp_connection, make_context):
    with pytest.raises(StripeInputError, match="cannot mark the mail on 'order-17'"):
        mail_about("cus_1", mark_object_id="order-17").execute(make_context())
    assert smtp_connection.messages == [] and stripe_server.requests == []
