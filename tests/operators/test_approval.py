"""approval_above on money-moving actions: what a person's decision lets through, against the local Stripe server.

The asking itself (Airflow's human-in-the-loop form, answered through the REST API and in the UI)
runs end to end in ``tests/browser/test_approval_form.py``; here the action is given the approval
task's result as that task hands it on, and the test reads what Stripe holds afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_stripe_automation.approval import (
    APPROVE,
    REJECT,
    Decision,
    StripeNotApproved,
    Threshold,
    decisions_xcom,
    validate_threshold,
)
from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.approval import StripeApprovalOperator
from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator
from airflow_stripe_automation.operators.refunds import StripeRefundOperator
from airflow_stripe_automation.run_summary import TALLY_KEY
from tests.operators.conftest import writes

ABOVE = {"amount": 50000, "currency": "usd"}


def _approval(charge_id: str, approved: bool, amount: int = 90000, currency: str = "usd", **extra) -> dict:
    return decisions_xcom(
        {charge_id: Decision(approved, amount, currency, by="ops", at="2026-12-04T10:00", **extra)}, 1
    )


def _refund(charge_id: str, **kwargs) -> StripeRefundOperator:
    return StripeRefundOperator(task_id="refund", charge_id=charge_id, **{"approval_above": ABOVE, **kwargs})


@pytest.mark.parametrize(
    ("approval", "why"),
    [
        (None, "no approval was given for"),
        ("rejected", "rejected by ops"),
        ("timed_out", "timed out: rejected"),
        ("for_less", r"the approval was for \$800\.00, not \$900\.00"),
        ("in_eur", r"the approval was for €900\.00, not \$900\.00"),
    ],
)
def test_a_refund_above_the_threshold_without_a_matching_approval_writes_nothing(
    approval, why, stripe_client, stripe_server, make_context, paid_charge
):
    _, _, charge = paid_charge(90000)
    given = {
        None: None,
        "rejected": _approval(charge.id, False),
        "timed_out": _approval(charge.id, False, timed_out=True),
        "for_less": _approval(charge.id, True, amount=80000),
        "in_eur": _approval(charge.id, True, currency="eur"),
    }[approval]
    context = make_context()

    with pytest.raises(StripeNotApproved, match=why):
        _refund(charge.id, approval=given).execute(context)

    assert writes(stripe_server, "/v1/refunds") == []
    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 0
    tally = context["ti"].pushed[TALLY_KEY]
    assert (tally["not_approved"], tally["skipped"], tally["done"]) == (1, 0, 0)


def test_an_approved_refund_is_made_once_and_a_replay_finds_it(stripe_client, make_context, paid_charge):
    _, _, charge = paid_charge(90000)
    approval = _approval(charge.id, True)

    first = _refund(charge.id, approval=approval).execute(make_context(run_id="run_1"))
    # past Stripe's key window another run, with its own approval, finds the refund by its mark
    again = _refund(charge.id, approval=approval).execute(make_context(run_id="run_2"))

    assert first["amount"] == 90000 and not first["already_done"]
    assert again["id"] == first["id"] and again["already_done"]
    assert [r.amount for r in stripe_client.v1.refunds.list(params={"charge": charge.id}).data] == [90000]


def test_a_refund_at_or_under_the_threshold_needs_no_approval(stripe_client, make_context, paid_charge):
    _, _, charge = paid_charge(50000)  # exactly the threshold: not above it

    out = _refund(charge.id).execute(make_context())

    assert out["amount"] == 50000
    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 50000


def test_a_batch_refunds_what_needs_no_approval_and_holds_the_rest(
    stripe_client, stripe_server, make_context, paid_charge
):
    charges = [paid_charge(amount)[2] for amount in (1000, 90000, 95000)]
    approval = _approval(charges[1].id, True)  # the second approved; nobody answered for the third
    op = StripeRefundOperator(
        task_id="refund",
        stripe_object=[{"id": c.id, "object": "charge", "amount": c.amount, "currency": "usd"} for c in charges],
        charge_id="{{ obj.id }}",
        approval_above=ABOVE,
        approval=approval,
    )
    context = make_context()
    op.render_template_fields(context)

    results = op.execute(context)

    assert [r and r["amount"] for r in results] == [1000, 90000, None]
    assert [stripe_client.v1.charges.retrieve(c.id).amount_refunded for c in charges] == [1000, 90000, 0]
    assert len(writes(stripe_server, "/v1/refunds")) == 2
    tally = context["ti"].pushed[TALLY_KEY]
    assert (tally["done"], tally["not_approved"]) == (2, 1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"amount": 500}, "three-letter ISO code"),
        ({"amount": "5.00", "currency": "usd"}, "integer number of minor units"),
        ({"amount": 500, "currency": "usd", "above": 1}, "must be a mapping of amount"),
        ("500 usd", "must be a mapping of amount"),
        ({"amount": 1005, "currency": "bhd"}, "multiple of 10"),
    ],
)
def test_a_bad_threshold_is_refused_before_any_call(value, message, stripe_server, make_context):
    with pytest.raises(StripeInputError, match=message):
        _refund("ch_123", approval_above=value).execute(make_context())
    assert stripe_server.requests == []


def test_an_action_that_moves_no_money_refuses_a_threshold(stripe_server, make_context):
    op = StripeUpdateCustomerMetadataOperator(
        task_id="tag", customer_id="cus_123", metadata={"vip": "true"}, approval_above=ABOVE
    )
    with pytest.raises(StripeInputError, match="moves none"):
        op.execute(make_context())
    assert stripe_server.requests == []


def test_the_threshold_compares_amounts_in_its_own_currency_only():
    usd = validate_threshold({"amount": "50000", "currency": "USD"})
    assert usd == Threshold(50000, "usd") and str(usd) == "$500.00"
    assert not usd.needs_approval(50000, "usd") and usd.needs_approval(50001, "usd")
    assert usd.needs_approval(100, "eur")  # no exchange rate: a person decides
    assert validate_threshold(None) is None and validate_threshold({"amount": None, "currency": "usd"}) is None
    assert validate_threshold({"amount": "None", "currency": "usd"}) is None  # a recipe's empty param


def test_the_approval_task_answers_for_each_held_object(make_context):
    """What the form's answer becomes (the request itself needs a task runner: see the browser test)."""
    op = StripeApprovalOperator(task_id="approve_refund", approval_above=ABOVE, action_name="refund")
    op.stripe_object = [
        {"id": "ch_small", "object": "charge", "amount": 1000, "currency": "usd"},
        {"id": "ch_big", "object": "charge", "amount": 90000, "currency": "usd", "customer": "cus_1"},
        {"id": "ch_euro", "object": "charge", "amount": 100, "currency": "eur"},
    ]
    op._batch = op.stripe_object
    context = make_context()
    at = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)

    approved = op.execute_complete(
        context,
        {
            "chosen_options": [APPROVE],
            "params_input": {},
            "responded_at": at,
            "responded_by_user": {"id": "1", "name": "ops"},
        },
    )
    timed_out = op.execute_complete(
        context,
        {
            "chosen_options": [REJECT],
            "params_input": {},
            "responded_at": at,
            "responded_by_user": None,
            "timedout": True,
        },
    )

    assert (approved["held"], approved["approved"], sorted(approved["decisions"])) == (2, 2, ["ch_big", "ch_euro"])
    assert approved["decisions"]["ch_big"] == {
        "approved": True, "amount": 90000, "currency": "usd", "by": "ops", "at": at.isoformat(), "timed_out": False,
    }  # fmt: skip
    assert (timed_out["approved"], timed_out["rejected"]) == (0, 2)
    assert all(d["timed_out"] and d["by"] is None for d in timed_out["decisions"].values())
