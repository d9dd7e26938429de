"""Currencies Stripe accepts for payments, and the per-currency amount limits it enforces.

A real list (not "any three letters") so that a typo such as ``xyz`` or ``usdd`` fails here as it
would in production. Minimums are Stripe's documented minimum charge amounts, in the currency's
smallest unit; the maximum is Stripe's 8-digit amount limit.
"""

from __future__ import annotations

from decimal import Decimal

from ..money import MAX_AMOUNT, STRIPE_CURRENCIES, THREE_DECIMAL_CURRENCIES, ZERO_DECIMAL_CURRENCIES

# One list for the provider and the server: the provider validates before sending, the server
# refuses what Stripe refuses.
SUPPORTED = STRIPE_CURRENCIES
ZERO_DECIMAL = ZERO_DECIMAL_CURRENCIES

MINIMUM_AMOUNT = {
    "usd": 50, "aud": 50, "brl": 50, "cad": 50, "chf": 50, "eur": 50, "inr": 50, "nzd": 50, "sgd": 50,
    "gbp": 30, "aed": 200, "bgn": 100, "czk": 1500, "dkk": 250, "hkd": 400, "huf": 17500, "jpy": 50,
    "mxn": 1000, "myr": 200, "nok": 300, "pln": 200, "ron": 200, "sek": 300, "thb": 1000,
}  # fmt: skip

MAXIMUM_AMOUNT = MAX_AMOUNT


_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "inr": "₹", "chf": "CHF "}


def _digits(value: int | Decimal, currency: str) -> str:
    exponent = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL_CURRENCIES else 2
    return f"{Decimal(value).scaleb(-exponent):,.{exponent}f}"


def display(value: int | Decimal, currency: str) -> str:
    """``1500, "usd"`` -> ``"$15.00"``, as Stripe writes amounts in messages and invoice line descriptions."""
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{_digits(value, currency)}" if symbol else f"{_digits(value, currency)} {currency.upper()}"


def format_amount(amount: int, currency: str) -> str:
    """``50, "usd"`` -> ``"$0.50 usd"``, as in Stripe's amount limit messages."""
    return f"{_SYMBOLS.get(currency, '')}{_digits(amount, currency)} {currency}"
