"""StripeOneTimeChargeOperator: what it refuses before any call, with which message."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator


def _op(**kwargs):
    args = {"task_id": "charge", "customer_id": "cus_123", "amount": 1500, "currency": "usd"}
    args.update(kwargs)
    return StripeOneTimeChargeOperator(**args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customer_id": None}, "customer_id is required"),
        ({"customer_id": "  "}, "customer_id is required"),
        ({"customer_id": "cust_1"}, "must be a Stripe id starting with 'cus_'"),
        ({"customer_id": "cus_1; drop"}, "must be a Stripe id"),
        ({"amount": 0}, "greater than zero"),
        ({"amount": -5}, "greater than zero"),
        ({"amount": 12.5}, "integer number of minor units"),
        ({"amount": "12.50"}, "integer number of minor units"),
        ({"amount": True}, "integer number of minor units"),
        ({"amount": 100_000_000}, "maximum"),
        ({"currency": "xyz"}, "not a currency Stripe supports"),
        ({"currency": ""}, "three-letter ISO code"),
        ({"currency": "bhd", "amount": 1005}, "multiple of 10"),
        ({"payment_method": "card_123"}, "starting with 'pm_'"),
        ({"metadata": {"airflow_action": "x"}}, "reserved"),
        ({"metadata": {"airflow_mails": "0123456789ab:sent"}}, "reserved"),  # would fake a mail as sent
        ({"metadata": {"airflow_mail_0123": "x"}}, "reserved"),
        ({"metadata": {"k" * 41: "v"}}, "1–40 characters"),
        ({"statement_descriptor_suffix": "x" * 23}, "at most 22"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(StripeInputError, match=message):
        _op(**kwargs).validate()


def test_valid_input_is_normalised():
    inputs = _op(customer_id=" cus_ABC ", amount="5000", currency="JPY", description=" Lead ").validate()
    assert inputs["customer"] == "cus_ABC"
    assert (inputs["amount"], inputs["currency"], inputs["description"]) == (5000, "jpy", "Lead")


def test_templated_fields_cover_what_a_user_templates():
    assert {"customer_id", "amount", "currency", "description", "payment_method", "metadata"} <= set(
        StripeOneTimeChargeOperator.template_fields
    )
