"""Reading values that may come as text: "not given" and yes/no."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.rendered import is_unset, parse_bool

YES = [True, 1, "true", "True", "TRUE", " yes ", "Yes", "on", "ON", "1", " 1\n"]
NO = [False, 0, "false", "False", " no", "NO", "off", "Off", "0"]


@pytest.mark.parametrize("value", YES, ids=repr)
def test_yes_spellings(value):
    assert parse_bool(value) is True


@pytest.mark.parametrize("value", NO, ids=repr)
def test_no_spellings(value):
    assert parse_bool(value) is False


@pytest.mark.parametrize("value", [None, "", "  ", "None", "null"], ids=repr)
def test_unset_values_give_the_default(value):
    assert is_unset(value)
    assert parse_bool(value) is None
    assert parse_bool(value, default=True) is True
    assert parse_bool(value, default=False) is False


@pytest.mark.parametrize("value", ["maybe", "y", "n", "tru", "2", 2, -1, 1.0, "yes please", ["true"], {}], ids=repr)
def test_anything_else_is_refused_not_guessed(value):
    with pytest.raises(ValueError, match="expected true or false"):
        parse_bool(value, default=False)


def test_operator_flags_use_the_same_spellings_and_name_the_argument():
    from airflow_stripe_automation.errors import StripeInputError
    from airflow_stripe_automation.operators.base import validate_flag

    assert validate_flag(" On", "prorate") is True
    assert validate_flag("off", "prorate") is False
    assert validate_flag("None", "prorate", default=True) is True
    with pytest.raises(StripeInputError, match="prorate must be true or false, got 'maybe'"):
        validate_flag("maybe", "prorate")
