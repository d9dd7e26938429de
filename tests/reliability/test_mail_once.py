"""Exactly-once mails under injected faults: the real local Stripe server, the real SMTP sink.

The promise (README, design notes): the mark comes first ("sending"), then the mail, then "sent".
A retry or replay that finds "sent" mails nothing; one that finds "sending" cannot know whether the
mail went out and sends it again with the same Message-ID. So the worst case is the same
Message-ID delivered twice, never a lost mail, and a refused mark mails nothing.
"""

from __future__ import annotations

import json
import socket

import pytest
import stripe
from airflow.sdk import RetryAction
from airflow.sdk.exceptions import AirflowFailException

from airflow_stripe_automation.errors import StripeActionFailed, StripeInputError, StripeRetryPolicy
from airflow_stripe_automation.idempotency import action_key
from airflow_stripe_automation.operators.email import MAILS_METADATA_KEY, StripeSendEmailOperator


@pytest.fixture
def customer(stripe_client):
    def _make(**metadata: str):
        return stripe_client.v1.customers.create(params={"email": "c@example.com", "metadata": metadata})

    return _make


def mail_about(obj_id: str, task_id: str = "mail", **kwargs):
    kwargs.setdefault("to", "ops@example.com")
    kwargs.setdefault("subject", f"About {obj_id}")
    kwargs.setdefault("stripe_object", {"id": obj_id, "object": "customer"})
    return StripeSendEmailOperator(task_id=task_id, **kwargs)


def metadata(stripe_client, obj_id: str) -> dict[str, str]:
    return stripe_client.v1.customers.retrieve(obj_id).metadata.to_dict()


def marks(stripe_client, obj_id: str) -> list[str]:
    return metadata(stripe_client, obj_id).get(MAILS_METADATA_KEY, "").split()


def retry(make_context, run_id: str = "manual__2026-01-01", try_number: int = 2):
    """The context of a later try of the same task instance (same run, same key)."""
    context = make_context(run_id=run_id)
    context["ti"].try_number = try_number
    return context


def mark_write(stripe_server, obj_id: str, after: int, status: int = 500, message: str | None = None) -> None:
    """Fail a metadata write of ``obj_id``: ``after=0`` the "sending" mark, ``after=1`` the "sent" mark."""
    stripe_server.fail_next(status, path=f"/v1/customers/{obj_id}", method="POST", after=after, message=message)


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


def test_a_500_on_the_sent_mark_then_a_retry_delivers_the_same_message_id_twice_then_never_again(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    cus = customer()
    task = mail_about(cus.id)
    mark_write(stripe_server, cus.id, after=1)
    with pytest.raises(stripe.APIError) as failed:
        task.execute(make_context())
    # Stripe's own error reaches Airflow, so the policy retries it.
    assert task.retry_policy.evaluate(failed.value, 1, 4).action == RetryAction.RETRY
    (first,) = smtp_connection.messages
    assert [m.split(":")[1] for m in marks(stripe_client, cus.id)] == ["sending"]

    out = task.execute(retry(make_context))
    later = task.execute(make_context(run_id="scheduled__2026-01-02"))

    assert (out["sent"], out["already_done"], later["sent"], later["already_done"]) == (True, False, False, True)
    ids = [m.header("Message-ID") for m in smtp_connection.messages]
    assert ids == [out["message_id"]] * 2  # the policy's worst case: one Message-ID, delivered twice
    assert first.header("Message-ID").startswith("<stripe-mail.") and first.header("Message-ID").endswith(
        "@example.com>"
    )
    assert [m.split(":")[1] for m in marks(stripe_client, cus.id)] == ["sent"]
    # sending, sent (500), the retry's sent: each try has keys of its own, so a 500 Stripe saved is not replayed
    keys = [r["idempotency_key"] for r in stripe_server.write_requests() if r["path"] == f"/v1/customers/{cus.id}"]
    assert len(keys) == len(set(keys)) == 3 and [k.rsplit("/", 1)[1] for k in keys] == ["try-1", "try-1", "try-2"]


def test_a_500_on_the_sending_mark_mails_nothing_and_the_retry_mails_once(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    cus = customer()
    task = mail_about(cus.id)
    mark_write(stripe_server, cus.id, after=0)
    with pytest.raises(stripe.APIError):
        task.execute(make_context())
    assert smtp_connection.messages == [] and metadata(stripe_client, cus.id) == {}

    assert task.execute(retry(make_context))["sent"] is True
    assert len(smtp_connection.messages) == 1 and marks(stripe_client, cus.id)[0].endswith(":sent")


def test_a_crash_between_the_mail_and_the_sent_mark_leaves_sending_and_a_later_run_resends_once(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    """The task fails for good after mailing (its tries spent); weeks later the sweep finds the object again."""
    cus = customer()
    mark_write(stripe_server, cus.id, after=1)
    with pytest.raises(stripe.APIError):
        mail_about(cus.id).execute(make_context())
    stripe_server.advance_clock(days=20)  # far past Stripe's 24 h idempotency window

    replay = mail_about(cus.id).execute(make_context(run_id="scheduled__2026-01-21"))
    again = mail_about(cus.id).execute(make_context(run_id="scheduled__2026-01-22"))

    assert (replay["sent"], again["already_done"]) == (True, True)
    first, second = smtp_connection.messages
    assert first.header("Message-ID") == second.header("Message-ID") == replay["message_id"]
    assert marks(stripe_client, cus.id)[0].endswith(":sent")


def test_a_permanent_error_on_the_sent_mark_fails_at_once_naming_the_object(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    cus = customer()
    mark_write(stripe_server, cus.id, after=1, status=400, message="Invalid metadata")
    with pytest.raises(StripeActionFailed, match=rf"'sent' mark on {cus.id} .*after the mail went out"):
        mail_about(cus.id).execute(make_context())
    assert len(smtp_connection.messages) == 1


def test_an_object_with_50_metadata_keys_fails_before_any_mail(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    cus = customer(**{f"k{i}": "v" for i in range(50)})
    with pytest.raises(StripeActionFailed, match=rf"{cus.id}: the object already has 50 metadata keys") as err:
        mail_about(cus.id).execute(make_context())
    assert isinstance(err.value, AirflowFailException)  # not retried
    assert "before anything was mailed" in str(err.value)
    assert smtp_connection.messages == [] and stripe_server.write_requests()[-1]["path"] == "/v1/customers"


def test_an_object_with_49_keys_and_the_mail_key_takes_another_mark(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    other = action_key(make_context(task_id="other"), object_id="x").mark[:12]
    cus = customer(**{f"k{i}": "v" for i in range(49)}, **{MAILS_METADATA_KEY: f"{other}:sent"})
    assert mail_about(cus.id).execute(make_context())["sent"] is True
    assert len(metadata(stripe_client, cus.id)) == 50 and len(marks(stripe_client, cus.id)) == 2


def test_stripe_refusing_the_sending_mark_mails_nothing(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    cus = customer()
    mark_write(stripe_server, cus.id, after=0, status=400, message="Metadata can have up to 50 keys")
    with pytest.raises(StripeActionFailed, match=rf"'sending' mark on {cus.id} .*before anything was mailed"):
        mail_about(cus.id).execute(make_context())
    assert smtp_connection.messages == []


def test_a_replay_past_the_key_window_sends_nothing(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    cus = customer()
    mail_about(cus.id).execute(make_context())
    writes = len(stripe_server.write_requests())
    stripe_server.advance_clock(days=2)

    out = mail_about(cus.id).execute(make_context(run_id="scheduled__2026-01-03"))

    assert (out["sent"], out["already_done"]) == (False, True)
    assert len(smtp_connection.messages) == 1 and len(stripe_server.write_requests()) == writes


def test_two_mail_actions_on_one_object_share_one_metadata_key(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    cus = customer(plan="gold")
    team = mail_about(cus.id, task_id="mail_team").execute(make_context(task_id="mail_team"))
    customer_mail = mail_about(cus.id, task_id="mail_customer").execute(make_context(task_id="mail_customer"))

    assert set(metadata(stripe_client, cus.id)) == {"plan", MAILS_METADATA_KEY}
    assert [m.split(":")[1] for m in marks(stripe_client, cus.id)] == ["sent", "sent"]
    assert team["message_id"] != customer_mail["message_id"]
    assert len(smtp_connection.messages) == 2


def test_a_mark_left_by_an_earlier_version_counts_as_sent(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    legacy = f"airflow_mail_{action_key(make_context(), object_id='cus_x').mark[:24]}"
    cus = customer()
    key = action_key(make_context(), object_id=cus.id)
    stripe_client.v1.customers.update(
        cus.id, params={"metadata": {f"airflow_mail_{key.mark[:24]}": "2025-12-01T00:00:00Z", legacy: "x"}}
    )
    writes = len(stripe_server.write_requests())

    out = mail_about(cus.id).execute(make_context())

    assert (out["sent"], out["already_done"]) == (False, True)
    assert smtp_connection.messages == [] and len(stripe_server.write_requests()) == writes


def test_when_the_mail_key_is_full_the_oldest_marks_are_dropped(
    stripe_server, stripe_client, smtp_connection, make_context, customer
):
    old = [f"{i:012x}:sent" for i in range(27)]
    cus = customer(**{MAILS_METADATA_KEY: " ".join(old)})

    mail_about(cus.id).execute(make_context())

    value = metadata(stripe_client, cus.id)[MAILS_METADATA_KEY]
    assert len(value) <= 500 and value.split()[:-1] == old[1:] and value.endswith(":sent")


def test_an_unreachable_mail_server_after_the_sending_mark_is_retried_into_one_mail(
    stripe_server, stripe_client, smtp_connection, make_context, customer, monkeypatch
):
    cus = customer()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = {**smtp_connection.airflow_connection(), "port": closed.getsockname()[1]}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(dead))
    with pytest.raises(ConnectionRefusedError):
        mail_about(cus.id).execute(make_context())
    assert marks(stripe_client, cus.id)[0].endswith(":sending")

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp_connection.airflow_connection()))
    assert mail_about(cus.id).execute(retry(make_context))["sent"] is True
    assert len(smtp_connection.messages) == 1 and marks(stripe_client, cus.id)[0].endswith(":sent")


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
