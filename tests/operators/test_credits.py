"""StripeCustomerCreditOperator: balance credits and credit grants, once per customer."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator
from tests.operators.conftest import writes


def test_balance_credit_is_applied_once(stripe_client, stripe_server, make_context):
    customer = stripe_client.v1.customers.create(params={"email": "new@example.com"})
    op = StripeCustomerCreditOperator(
        task_id="credit", customer_id=customer.id, amount=1000, currency="usd", description="Welcome credit"
    )
    first = op.execute(make_context(run_id="r1"))
    op.execute(make_context(run_id="r1"))  # retry
    stripe_server.advance_clock(days=3)  # past the idempotency window
    replay = op.execute(make_context(run_id="backfill"))

    assert (first["amount"], first["currency"], first["credit_balance"]) == (1000, "usd", 1000)
    assert stripe_client.v1.customers.retrieve(customer.id).balance == -1000
    assert replay["already_done"] is True and replay["id"] == first["id"]
    assert len(writes(stripe_server, f"/v1/customers/{customer.id}/balance_transactions")) == 1


def test_credit_grant(stripe_client, make_context):
    customer = stripe_client.v1.customers.create(params={"email": "metered@example.com"})
    out = StripeCustomerCreditOperator(
        task_id="grant",
        customer_id=customer.id,
        amount=2500,
        currency="usd",
        method="credit_grant",
        description="Sign-up",
    ).execute(make_context())
    grants = list(stripe_client.v1.billing.credit_grants.list(params={"customer": customer.id}).auto_paging_iter())
    assert [(g.id, g.amount.monetary.value, g.name) for g in grants] == [(out["id"], 2500, "Sign-up")]


def test_dry_run_and_bad_input(stripe_client, stripe_server, make_context):
    customer = stripe_client.v1.customers.create(params={"email": "dry@example.com"})
    before = len(stripe_server.write_requests())
    out = StripeCustomerCreditOperator(
        task_id="c", customer_id=customer.id, amount=500, currency="jpy", dry_run=True
    ).execute(make_context())
    assert out["dry_run"] and "¥500" in out["would"]
    assert len(stripe_server.write_requests()) == before
    for kwargs, message in (
        ({"amount": -5}, "greater than zero"),
        ({"currency": "usdollar"}, "not a currency"),
        ({"method": "gift"}, "method must be one of"),
    ):
        args = {"customer_id": customer.id, "amount": 100, "currency": "usd", **kwargs}
        with pytest.raises(StripeInputError, match=message):
            StripeCustomerCreditOperator(task_id="c", **args).execute(make_context())
    assert len(stripe_server.write_requests()) == before


def test_each_write_logs_one_line_with_its_key_and_stripe_request_id(
    stripe_client, stripe_server, make_context, capsys
):
    """The log line of a write names the action, the object made, the key and Stripe's request id; a replay says so."""
    customer = stripe_client.v1.customers.create(params={"email": "logged@example.com"})
    op = StripeCustomerCreditOperator(task_id="credit", customer_id=customer.id, amount=1000, currency="usd")
    first = op.execute(make_context(run_id="r1"))
    # A mark that cannot be found (as when an earlier try's response was lost before Stripe indexed it):
    # the write goes out again with the same key, and Stripe answers with the first response.
    op.find_existing = lambda *args: None  # type: ignore[method-assign]
    again = op.execute(make_context(run_id="r1"))

    (post, replayed) = writes(stripe_server, f"/v1/customers/{customer.id}/balance_transactions")
    lines = [
        line.split("] ", 1)[1].split(" [airflow.task", 1)[0]
        for line in capsys.readouterr().out.splitlines()
        if "idempotency key" in line
    ]
    assert lines == [
        f"Done: a balance credit of $10.00 to {customer.id}: {first['id']} (idempotency key "
        f"{post['idempotency_key']}, Stripe request {post['request_id']}).",
        f"Already done (Stripe replayed the key): a balance credit of $10.00 to {customer.id}: {first['id']} "
        f"(idempotency key {post['idempotency_key']}, Stripe request {replayed['request_id']}).",
    ]
    assert replayed["replayed"] is True and again["id"] == first["id"] and again["already_done"] is True
