"""A recipe's literal inputs are checked when it is parsed: amounts, and Stripe keys pasted where they never belong."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.recipes import recipe_dag
from tests.recipes.test_recipe_errors import GOOD, error_of, write_recipe

AMOUNT = '      amount: "{{ params.amount }}"\n'


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        pytest.param(
            "ten",
            "usd",
            "line 14: steps[0].with.amount: step 'charge_lead': amount must be an integer number of minor units "
            "(e.g. 1500 for 15.00 USD), got 'ten'",
            id="words",
        ),
        pytest.param(
            "12.5",
            "jpy",
            "line 14: steps[0].with.amount: step 'charge_lead': amount must be an integer number of minor units, "
            "and jpy has no decimals (500 is ¥500), got 12.5",
            id="decimals-of-a-zero-decimal-currency",
        ),
        pytest.param("12.5", "usd", "amount must be an integer number of minor units", id="a-float"),
        pytest.param(
            "0",
            "usd",
            "line 14: steps[0].with.amount: step 'charge_lead': amount must be greater than zero, got 0",
            id="zero",
        ),
        pytest.param("-5", "usd", "amount must be greater than zero, got -5", id="negative"),
        pytest.param(
            "'--5'",
            "usd",
            "amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got '--5'",
            id="two-signs",
        ),
        pytest.param("100000000", "usd", "amount 100000000 is above Stripe's maximum of 99999999", id="too-large"),
        pytest.param("1005", "bhd", "amount in bhd must be a multiple of 10 minor units, got 1005", id="a-step"),
    ],
)
def test_a_literal_amount_that_is_no_amount_is_refused_when_the_recipe_is_parsed(tmp_path, amount, currency, expected):
    text = GOOD.replace(AMOUNT, f"      amount: {amount}\n").replace("currency: usd", f"currency: {currency}")
    assert amount in text
    assert expected in error_of(tmp_path, text)


def test_an_invoice_line_amount_is_checked_when_the_recipe_is_parsed(tmp_path):
    text = GOOD
    text += (
        "  - id: invoice\n    type: create_invoice\n    with:\n      customer_id: cus_1\n      order_id: SO-1\n"
        "      items:\n        - {description: Seats, unit_amount: twelve}\n"
    )
    message = error_of(tmp_path, text)
    assert (
        "steps[1].with.items[0].unit_amount: step 'invoice': items[0].unit_amount must be an integer number of "
        "minor units (e.g. 1500 for 15.00 USD), got 'twelve'" in message
    ), message


def test_templated_and_absent_amounts_are_left_to_the_run(tmp_path):
    dag = recipe_dag(write_recipe(tmp_path, "lead_fee", GOOD))  # "{{ params.amount }}"
    assert dag.task_dict["charge_lead"].amount is not None


KEY = "sk_live_51HxYzAbCdEfGhIjKlMnOp_QrStUv"


def test_a_key_pasted_into_a_field_is_refused_without_being_shown(tmp_path):
    text = GOOD.replace("      currency: usd\n", f"      currency: usd\n      description: 'Key {KEY}'\n")
    message = error_of(tmp_path, text)
    assert "steps[0].with.description: this holds a Stripe secret key (masked here)" in message
    assert "51HxYz" not in message and "QrStUv" not in message
