"""Money in minor units: Stripe's currency exponents, validation before any API call, formatting for people.

Inside the provider every amount is an ``int`` in the currency's smallest unit as Stripe counts it
(``150000`` usd is 1,500.00 USD, ``5000`` jpy is 5,000 JPY). Floats never carry money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from airflow_stripe_automation.inputs import whole_number

# Presentment currencies Stripe accepts (lowercase ISO 4217, as the API spells them).
STRIPE_CURRENCIES: frozenset[str] = frozenset(
    [
        "usd",
        "aed",
        "afn",
        "all",
        "amd",
        "ang",
        "aoa",
        "ars",
        "aud",
        "awg",
        "azn",
        "bam",
        "bbd",
        "bdt",
        "bgn",
        "bhd",
        "bif",
        "bmd",
        "bnd",
        "bob",
        "brl",
        "bsd",
        "bwp",
        "byn",
        "bzd",
        "cad",
        "cdf",
        "chf",
        "clp",
        "cny",
        "cop",
        "crc",
        "cve",
        "czk",
        "djf",
        "dkk",
        "dop",
        "dzd",
        "egp",
        "etb",
        "eur",
        "fjd",
        "fkp",
        "gbp",
        "gel",
        "gip",
        "gmd",
        "gnf",
        "gtq",
        "gyd",
        "hkd",
        "hnl",
        "htg",
        "huf",
        "idr",
        "ils",
        "inr",
        "isk",
        "jmd",
        "jod",
        "jpy",
        "kes",
        "kgs",
        "khr",
        "kmf",
        "krw",
        "kwd",
        "kyd",
        "kzt",
        "lak",
        "lbp",
        "lkr",
        "lrd",
        "lsl",
        "mad",
        "mdl",
        "mga",
        "mkd",
        "mmk",
        "mnt",
        "mop",
        "mur",
        "mvr",
        "mwk",
        "mxn",
        "myr",
        "mzn",
        "nad",
        "ngn",
        "nio",
        "nok",
        "npr",
        "nzd",
        "omr",
        "pab",
        "pen",
        "pgk",
        "php",
        "pkr",
        "pln",
        "pyg",
        "qar",
        "ron",
        "rsd",
        "rub",
        "rwf",
        "sar",
        "sbd",
        "scr",
        "sek",
        "sgd",
        "shp",
        "sle",
        "sos",
        "srd",
        "std",
        "szl",
        "thb",
        "tjs",
        "tnd",
        "top",
        "try",
        "ttd",
        "twd",
        "tzs",
        "uah",
        "ugx",
        "uyu",
        "uzs",
        "vnd",
        "vuv",
        "wst",
        "xaf",
        "xcd",
        "xof",
        "xpf",
        "yer",
        "zar",
        "zmw",
    ]
)

# Stripe's own exponents; they differ from ISO 4217 for some currencies (see _SPECIAL_STEP).
ZERO_DECIMAL_CURRENCIES: frozenset[str] = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
THREE_DECIMAL_CURRENCIES: frozenset[str] = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

# Stripe requires these amounts to be whole multiples of a step: ISK is zero-decimal in practice but
# sent with two decimals ("00"); three-decimal currencies must end in 0.
_SPECIAL_STEP: dict[str, int] = {"isk": 100, **{c: 10 for c in THREE_DECIMAL_CURRENCIES}}

# Stripe's ceiling for one amount: 8 digits of minor units.
MAX_AMOUNT = 99_999_999


class InvalidMoneyError(ValueError):
    """An amount or currency that must not reach Stripe."""


def exponent(currency: str) -> int:
    """Return the number of decimal places Stripe uses for ``currency``."""
    code = normalize_currency(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def normalize_currency(currency: Any) -> str:
    """
    Return ``currency`` as Stripe spells it (lowercase ISO code), or raise :class:`InvalidMoneyError`.

    :param currency: a three-letter code in any case, e.g. ``"USD"`` or ``"jpy"``
    """
    if not isinstance(currency, str) or not currency.strip():
        raise InvalidMoneyError(f"currency must be a three-letter ISO code such as 'usd', got {currency!r}")
    code = currency.strip().lower()
    if code not in STRIPE_CURRENCIES:
        raise InvalidMoneyError(f"currency {currency!r} is not a currency Stripe supports")
    return code


def parse_minor_units(amount: Any, *, field: str = "amount") -> int:
    """
    Return ``amount`` as a positive int of minor units, or raise :class:`InvalidMoneyError`.

    Accepts an int, or a string of ASCII digits (templated values render as strings). Rejects floats,
    booleans, other text (``'ten'``, ``'--5'``, ``'²'``), zero, negatives and amounts above Stripe's
    ceiling. Use :func:`validate_amount` when the currency is known.

    :param amount: the amount in minor units
    :param field: the name to use in the error message
    """
    number = whole_number(amount)
    if number is None:
        raise InvalidMoneyError(
            f"{field} must be an integer number of minor units (e.g. 1500 for 15.00 USD), got {amount!r}"
        )
    if number <= 0:
        raise InvalidMoneyError(f"{field} must be greater than zero, got {number}")
    if number > MAX_AMOUNT:
        raise InvalidMoneyError(f"{field} {number} is above Stripe's maximum of {MAX_AMOUNT} minor units")
    return number


def validate_amount(amount: Any, currency: str, *, field: str = "amount") -> int:
    """
    Return ``amount`` as a positive int of minor units of ``currency``, or raise :class:`InvalidMoneyError`.

    :param amount: the amount in minor units (an int or a string of digits)
    :param currency: the currency the amount is counted in
    :param field: the name to use in the error message
    """
    code = normalize_currency(currency)
    if whole_number(amount) is None and exponent(code) == 0:
        raise InvalidMoneyError(
            f"{field} must be an integer number of minor units, and {code} has no decimals "
            f"(500 is {format_money(500, code)}), got {amount!r}"
        )
    amount = parse_minor_units(amount, field=field)
    step = _SPECIAL_STEP.get(code)
    if step and amount % step:
        raise InvalidMoneyError(f"{field} in {code} must be a multiple of {step} minor units, got {amount}")
    return amount


def to_decimal(amount: int, currency: str) -> Decimal:
    """Return the major-unit value of ``amount`` minor units (``150000, "usd"`` -> ``Decimal("1500.00")``)."""
    return Decimal(amount).scaleb(-exponent(currency))


def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    """
    Format minor units for people: ``150000 usd`` -> ``$1,500.00``, ``5000 jpy`` -> ``¥5,000``.

    Babel (already required by Airflow's task SDK) supplies symbols and grouping; the number of
    decimals follows Stripe's exponent, which is what the amount was counted in.

    :param amount: the amount in minor units
    :param currency: the currency code
    :param locale: the CLDR locale to format for
    """
    from babel.numbers import format_currency

    code = normalize_currency(currency)
    digits = exponent(code)
    if code == "isk":  # sent with two decimals, shown as whole krónur
        return format_currency(Decimal(amount) / 100, "ISK", locale=locale, currency_digits=True)
    pattern_digits = "#,##0" + ("." + "0" * digits if digits else "")
    return format_currency(
        to_decimal(amount, code),
        code.upper(),
        format="¤" + pattern_digits,
        locale=locale,
        currency_digits=False,
    )


def money_or_text(amount: Any, currency: Any) -> str:
    """
    Format for templates: like :func:`format_money`, but never fails a mail over a bad value.

    ``{{ money(obj.amount, obj.currency) }}`` or ``{{ obj.amount | money(obj.currency) }}``.
    """
    try:
        return format_money(int(amount), str(currency))
    except (InvalidMoneyError, TypeError, ValueError):
        return f"{amount} {currency}"
