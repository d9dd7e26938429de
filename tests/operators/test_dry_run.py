"""``dry_run=True`` sends nothing, and ``BaseOperator.dry_run()``, the Task SDK's method, still works on our operators."""

from __future__ import annotations

import pytest
import structlog.testing
from airflow.sdk import BaseOperator

from airflow_stripe_automation.operators.base import StripeWriteOperator
from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator
from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator
from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.payment_links import StripeCreatePaymentLinkOperator
from airflow_stripe_automation.recipes.types import STEP_TYPES, resolve_class

# Every step class that takes dry_run=, with the arguments it needs (only stored: no call to Stripe).
ARGUMENTS = {
    "StripeOneTimeChargeOperator": {"customer_id": "{{ params.customer }}", "amount": 1500},
    "StripeRefundOperator": {"charge_id": "ch_123"},
    "StripeUpdateCustomerMetadataOperator": {"customer_id": "cus_123", "metadata": {"tier": "VIP"}},
    "StripeUpdateCustomerOperator": {"customer_id": "cus_123", "name": "Ada"},
    "StripeCustomerCreditOperator": {"customer_id": "cus_123", "amount": 500},
    "StripeSendEmailOperator": {"to": "a@example.com", "subject": "About {{ obj.id }}"},
    "StripeCreateSubscriptionOperator": {"customer_id": "cus_123", "price_id": "price_123"},
    "StripeCancelSubscriptionOperator": {"subscription_id": "sub_123"},
    "StripeMarkInvoiceUncollectibleOperator": {"invoice_id": "in_123"},
    "StripeCreateInvoiceOperator": {
        "customer_id": "cus_123",
        "order_id": "SO-1",
        "items": [{"description": "Widget", "quantity": 1, "unit_amount": 1000}],
    },
    "StripeCreatePaymentLinkOperator": {"order_id": "deal-1", "amount": 2500},
    "StripeInvoiceRetryOperator": {"invoice_id": "in_123"},
}
DRY_RUN_CLASSES = sorted(
    (
        cls
        for cls in map(resolve_class, STEP_TYPES.values())
        if issubclass(cls, (StripeWriteOperator, StripeSendEmailOperator))
    ),
    key=lambda cls: cls.__name__,
)


def test_every_class_taking_dry_run_is_covered():
    assert {cls.__name__ for cls in DRY_RUN_CLASSES} == set(ARGUMENTS)


@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize("cls", DRY_RUN_CLASSES, ids=lambda cls: cls.__name__)
def test_the_task_sdk_dry_run_method_still_works(cls, dry_run):
    op = cls(task_id="t", dry_run=dry_run, **ARGUMENTS[cls.__name__])

    assert op.dry_run.__func__ is BaseOperator.dry_run  # the method, not our flag
    assert op.is_dry_run is dry_run
    with structlog.testing.capture_logs() as logs:
        assert op.dry_run() is None  # reads every template field: none is missing
    events = [entry["event"] for entry in logs]
    assert events[0] == "Dry run"
    rendered = {e.removeprefix("Rendering template for ") for e in events if e.startswith("Rendering template for ")}
    assert rendered == {f for f in op.template_fields if isinstance(getattr(op, f), str) and getattr(op, f)}


def test_dry_run_still_writes_nothing(stripe_server, make_context, customer_with_card, smtp_connection):
    customer = customer_with_card.id
    before = len(stripe_server.write_requests())
    ops = [
        StripeOneTimeChargeOperator(task_id="charge", customer_id=customer, amount=1500, dry_run=True),
        StripeUpdateCustomerMetadataOperator(task_id="tag", customer_id=customer, metadata={"x": "1"}, dry_run=True),
        StripeCustomerCreditOperator(task_id="credit", customer_id=customer, amount=500, dry_run=True),
        StripeCreatePaymentLinkOperator(task_id="link", order_id="deal-1", amount=2500, dry_run=True),
        StripeSendEmailOperator(
            task_id="mail", to="a@example.com", subject="S", stripe_object={"id": customer}, dry_run=True
        ),
    ]
    outs = []
    for op in ops:
        op.dry_run()
        outs.append(op.execute(make_context(task_id=op.task_id)))

    assert [out["dry_run"] for out in outs] == [True] * len(ops)
    assert len(stripe_server.write_requests()) == before
    assert smtp_connection.messages == []
