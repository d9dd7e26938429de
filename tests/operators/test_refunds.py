"""StripeRefundOperator against the local Stripe server: state, exactly once, dry run, bad input."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.refunds import StripeRefundOperator
from tests.operators.conftest import writes


def _refunds(stripe_client, charge_id):
    return list(stripe_client.v1.refunds.list(params={"charge": charge_id}).auto_paging_iter())


def test_full_refund_by_default(stripe_client, stripe_server, make_context, paid_charge):
    _, _, charge = paid_charge(4200)
    out = StripeRefundOperator(task_id="refund", charge_id=charge.id, reason="fraudulent").execute(make_context())

    assert (out["amount"], out["status"], out["charge"], out["reason"]) == (4200, "succeeded", charge.id, "fraudulent")
    after = stripe_client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (4200, True)


def test_partial_refund_through_the_payment_intent(stripe_client, make_context, paid_charge):
    _, intent, charge = paid_charge(5000)
    StripeRefundOperator(task_id="refund", payment_intent_id=intent.id, amount="1200").execute(make_context())
    after = stripe_client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (1200, False)


def test_retries_reruns_and_replays_past_24h_refund_once(stripe_client, stripe_server, make_context, paid_charge):
    _, _, charge = paid_charge(3000)
    op = StripeRefundOperator(task_id="refund", charge_id=charge.id, amount=1000)
    first = op.execute(make_context(run_id="run_1"))
    retry = op.execute(make_context(run_id="run_1"))
    other_run = op.execute(make_context(run_id="run_2"))
    stripe_server.advance_clock(days=2)  # past Stripe's 24 h idempotency window: the mark must find it
    late = op.execute(make_context(run_id="run_3"))

    assert [r.amount for r in _refunds(stripe_client, charge.id)] == [1000]
    assert len(writes(stripe_server, "/v1/refunds")) == 1
    assert (
        first["already_done"] is False and retry["already_done"] and other_run["already_done"] and late["already_done"]
    )
    assert late["id"] == first["id"]


def test_dry_run_sends_no_write(stripe_client, stripe_server, make_context, paid_charge):
    _, _, charge = paid_charge()
    before = len(stripe_server.write_requests())
    out = StripeRefundOperator(task_id="refund", charge_id=charge.id, dry_run=True).execute(make_context())
    assert out["dry_run"] is True and "$50.00" in out["would"]
    assert len(stripe_server.write_requests()) == before
    assert _refunds(stripe_client, charge.id) == []


def test_refusing_more_than_is_refundable_before_any_write(stripe_server, make_context, paid_charge):
    _, _, charge = paid_charge(2000)
    StripeRefundOperator(task_id="partial", charge_id=charge.id, amount=1500).execute(make_context(task_id="partial"))
    before = len(stripe_server.write_requests())
    with pytest.raises(StripeInputError, match=r"only \$5.00 of .* is left refundable"):
        StripeRefundOperator(task_id="too_much", charge_id=charge.id, amount=600).execute(
            make_context(task_id="too_much")
        )
    assert len(stripe_server.write_requests()) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of charge_id"),
        ({"charge_id": "ch_1", "payment_intent_id": "pi_1"}, "exactly one of charge_id"),
        ({"charge_id": "py_1"}, "starting with 'ch_'"),
        ({"charge_id": "ch_1", "amount": 0}, "greater than zero"),
        ({"charge_id": "ch_1", "amount": 9.5}, "integer number of minor units"),
        ({"charge_id": "ch_1", "reason": "changed_mind"}, "reason must be one of"),
    ],
)
def test_bad_input_is_refused_without_any_request(stripe_server, make_context, kwargs, message):
    with pytest.raises(StripeInputError, match=message):
        StripeRefundOperator(task_id="refund", **kwargs).execute(make_context())
    assert stripe_server.requests == []
