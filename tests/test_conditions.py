"""Structured conditions: evaluation, money per currency, and clear errors for malformed ones."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.conditions import (
    InvalidConditionError,
    all_of,
    any_of,
    evaluate,
    field,
    get_field,
    not_,
    validate,
)

PI = {
    "id": "pi_1",
    "amount": 150000,
    "currency": "usd",
    "customer": {"id": "cus_1", "metadata": {"tier": "VIP"}},
    "lines": {"data": [{"amount": 7}]},
}


def test_r2_condition_amount_over_1000_usd():
    cond = validate({"all": [{"field": "amount", "op": ">", "value": 100000}, {"field": "currency", "value": "usd"}]})
    assert evaluate(cond, PI)
    assert not evaluate(cond, {**PI, "amount": 100000})
    assert not evaluate(cond, {**PI, "currency": "eur"})


def test_money_conditions_never_compare_across_currencies():
    over = field("amount").gt(100000, currency="usd")
    assert evaluate(over, PI)
    assert not evaluate(over, {**PI, "currency": "jpy", "amount": 10_000_000})
    assert not evaluate(over, {**PI, "amount": "150000"})  # a string is not money


def test_nested_paths_and_combinators():
    assert get_field(PI, "customer.metadata.tier") == "VIP"
    assert get_field(PI, "lines.data.0.amount") == 7
    assert get_field(PI, "lines.data.5.amount") is None
    assert get_field(PI, "nope.deeper") is None
    assert evaluate(any_of(field("customer.metadata.tier").eq("Gold"), field("amount").gte(150000)), PI)
    assert evaluate(not_(field("currency").isin(["eur", "gbp"])), PI)
    assert evaluate(all_of(field("customer.id").exists(), field("refunded").exists(False)), PI)


def test_ordered_comparisons_with_missing_or_mismatched_values_are_false():
    assert not evaluate(field("missing").gt(1), PI)
    assert not evaluate(field("currency").gt(5), PI)


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ({"field": "amount", "op": "~", "value": 1}, "unknown op"),
        ({"op": "eq", "value": 1}, "'field' must name a field"),
        ({"field": "amount", "value": 1, "extra": 2}, "unknown key"),
        ({"all": {"field": "x"}}, "takes a list"),
        ({"field": "amount", "op": "gt", "value": 10.5, "currency": "usd"}, "integer of minor units"),
        ({"field": "amount", "op": "gt", "value": 10, "currency": "zzz"}, "not a currency"),
        ({"field": "status", "op": "in", "value": "open"}, "needs a list"),
        ("amount > 10", "must be a mapping"),
    ],
)
def test_malformed_conditions_are_refused(cond, message):
    with pytest.raises(InvalidConditionError, match=message):
        validate(cond)


def test_branch_operator_checks_literal_conditions_at_parse_time():
    from airflow_stripe_automation.operators.branch import StripeConditionBranchOperator

    with pytest.raises(InvalidConditionError, match=r"check.branches\[0\].when: unknown op"):
        StripeConditionBranchOperator(
            task_id="check",
            stripe_object={},
            branches=[{"when": {"field": "amount", "op": "≈", "value": 1}, "then": "a"}],
        )
    # templated conditions are checked once rendered
    StripeConditionBranchOperator(
        task_id="check2",
        stripe_object={},
        branches=[{"when": {"field": "amount", "op": "gt", "value": "{{ params.x }}"}, "then": "a"}],
    )


def test_operator_condition_is_checked_at_parse_time_and_skips_when_not_met(stripe_connection, make_context):
    from airflow.sdk.exceptions import AirflowSkipException

    from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator

    with pytest.raises(InvalidConditionError, match="tag.condition: unknown op"):
        StripeUpdateCustomerMetadataOperator(
            task_id="tag",
            customer_id="cus_1",
            metadata={"a": "b"},
            condition={"field": "amount", "op": "bigger", "value": 1},
        )
    op = StripeUpdateCustomerMetadataOperator(
        task_id="tag",
        customer_id="cus_1",
        metadata={"a": "b"},
        stripe_object={"id": "pi_1", "amount": 10, "currency": "usd"},
        condition=field("amount").gt(100, currency="usd"),
    )
    context = make_context()
    with pytest.raises(AirflowSkipException, match="condition not met for pi_1"):
        op.pre_execute(context)
    assert context["ti"].pushed["stripe_tally"]["skipped"] == 1  # the run summary counts it
