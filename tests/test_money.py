"""Money in minor units: exponents per currency, validation, formatting for people."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_stripe_automation.money import (
    InvalidMoneyError,
    exponent,
    format_money,
    normalize_currency,
    to_decimal,
    validate_amount,
)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (150000, "usd", "$1,500.00"),
        (5000, "jpy", "¥5,000"),
        (5000, "KRW", "₩5,000"),
        (199, "gbp", "£1.99"),
        (100000, "eur", "€1,000.00"),
        (12340, "bhd", "BHD12.340"),
    ],
)
def test_format_money_follows_the_currency_exponent(amount, currency, text):
    assert format_money(amount, currency) == text


def test_exponents_and_decimal_values():
    assert [exponent(c) for c in ("usd", "jpy", "krw", "kwd", "isk")] == [2, 0, 0, 3, 2]
    assert to_decimal(150000, "usd") == Decimal("1500.00")
    assert to_decimal(5000, "jpy") == Decimal("5000")


def test_currency_is_normalised_and_unknown_ones_refused():
    assert normalize_currency(" USD ") == "usd"
    for bad in ("us", "xyz", None, 840):
        with pytest.raises(InvalidMoneyError):
            normalize_currency(bad)


def test_amount_validation():
    assert validate_amount("2500", "usd") == 2500
    assert validate_amount(5000, "jpy") == 5000
    assert validate_amount(1000, "isk") == 1000
    for bad, currency in ((0, "usd"), (-1, "usd"), (1.5, "usd"), ("1.50", "usd"), (False, "usd"), (150, "isk")):
        with pytest.raises(InvalidMoneyError):
            validate_amount(bad, currency)
