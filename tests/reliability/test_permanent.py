"""Errors a retry cannot fix fail the task at once: no retry, Stripe's code and request id said, nothing written.

A card decline, an invalid request and an authentication error on the action's first write raise
an :class:`AirflowFailException` (Airflow does not retry it, whatever ``retries`` says) whose
message names Stripe's error code and the request id Stripe's logs find it by; the action made
nothing. The dunning policy is the exception by design: a refused attempt is counted, not fatal.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_stripe_automation.errors import StripeActionFailed, StripeCardDeclined, StripeInputError
from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator
from airflow_stripe_automation.operators.invoices import StripeCreateInvoiceOperator
from tests.reliability.conftest import ACTIONS, known_hole
from tests.testing.billing_helpers import customer

REFUSALS = {
    "invalid request": {"status": 400, "code": "parameter_invalid_empty", "message": "Invalid value: empty."},
    "authentication": {"status": 401, "message": "Invalid API Key provided: sk_test_****0000"},
}


def _nothing_written(world, task, writes_before: int) -> None:
    assert all(v == 0 for v in world.effects(task).values()), world.effects(task)
    later = world.server.write_requests()[writes_before:]
    assert later and all(r["status"] >= 400 for r in later), [(r["path"], r["status"]) for r in later]


@pytest.mark.parametrize("refusal", REFUSALS, ids=str)
def test_a_refusal_on_the_first_write_fails_at_once_naming_code_and_request(world, primary_action, refusal, request):
    known_hole(request, f"refusal {refusal}", primary_action)
    task = world(primary_action)
    writes_before = len(world.server.write_requests())
    fault = REFUSALS[refusal]
    world.inject(task, "fail", first=True, count=10, **fault)

    if primary_action.defers and refusal == "invalid request":
        # R5's policy: a refused attempt (no usable card…) is counted; the customer may fix it before the next.
        out = task.run()
        assert (out["outcome"], out["last_decline_code"]) == ("exhausted", fault["code"])
    else:
        with pytest.raises(AirflowFailException) as failed:
            task.run()
        assert isinstance(failed.value, StripeActionFailed)
        message = str(failed.value)
        assert f"[request {world.server.faults_met[0]['request_id']}]" in message
        if "code" in fault:
            assert fault["code"] in message and failed.value.code == fault["code"]
        else:
            assert "authentication failed" in message
    _nothing_written(world, task, writes_before)


def test_a_declined_charge_fails_at_once_with_the_decline_code_and_charges_nothing(world, stripe_client):
    (charge,) = [a for a in ACTIONS if a.name == "charge"]
    declining = replace(
        charge,
        seed=lambda client, server: {"customer": customer(client, card=None).id},
        operator=lambda s: StripeOneTimeChargeOperator(
            task_id="act",
            customer_id=s["customer"],
            amount=1500,
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
        ),
    )
    task = world(declining)
    with pytest.raises(StripeCardDeclined) as declined:
        task.run()
    message = str(declined.value)
    assert "card_declined (insufficient_funds)" in message and "Nothing was charged" in message
    (attempt,) = [r for r in world.server.write_requests() if r["path"] == "/v1/payment_intents"]
    assert f"[request {attempt['request_id']}]" in message and attempt["status"] == 402
    assert world.effects(task)["charges"] == 0
    # A retry (were one made) finds the decline by its mark and does not charge again.
    with pytest.raises(StripeCardDeclined, match="earlier in this run"):
        task.run()
    assert len([r for r in world.server.write_requests() if r["path"] == "/v1/payment_intents"]) == 1


def test_an_invoice_over_stripes_maximum_total_is_refused_before_any_write(world, stripe_client, make_context):
    cus = customer(stripe_client).id
    writes_before = len(world.server.write_requests())
    lines = [{"description": f"Line {i}", "unit_amount": 60_000_000} for i in range(2)]  # each fits, the sum does not
    op = StripeCreateInvoiceOperator(task_id="act", customer_id=cus, order_id="order-big", items=lines)
    with pytest.raises(StripeInputError, match="above Stripe's maximum"):
        op.execute(make_context(task_id="act"))
    assert world.server.write_requests()[writes_before:] == []
    assert stripe_client.v1.invoices.list(params={"customer": cus}).data == []
