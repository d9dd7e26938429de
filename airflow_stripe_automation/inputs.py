"""What an input may hold before it reaches Stripe: one check per concept, shared by every operator.

Each check returns the value as it will be sent, or raises an error naming the argument; none calls
the network. Numbers come as ints or as the digits a rendered template gives (ASCII digits only:
``'²'`` and ``'--5'`` are not numbers). Text that travels in an HTTP header (an idempotency key, an
order id that becomes part of one) must be printable latin-1 without control characters, as HTTP
allows; text stored in Stripe (metadata) may be any Unicode, without control characters.

The checks raise the exception the caller passes as ``error``; the operators pass :class:`~airflow_stripe_automation.errors.StripeInputError` (an
``AirflowFailException``: the task fails at once, without retries). This module imports nothing of
Airflow, so the local Stripe server can share it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: Stripe's limit for an ``Idempotency-Key``.
MAX_IDEMPOTENCY_KEY_LENGTH = 255
#: Stripe's limit for a statement descriptor suffix (prefix and suffix together: 22 characters).
MAX_STATEMENT_DESCRIPTOR_SUFFIX = 22
#: Characters Stripe refuses in a statement descriptor.
STATEMENT_DESCRIPTOR_FORBIDDEN = "<>\\'\"*"

_WHOLE_NUMBER = re.compile(r"^[+-]?[0-9]+$")  # ASCII digits: str.isdigit() also takes '²' and '٣'


def whole_number(value: Any) -> int | None:
    """
    Return ``value`` as an int when it is one, or its ASCII digits with an optional sign; else None.

    A bool, a float (``12.5``, even ``12.0``) or other text (``'ten'``, ``'--5'``, ``'²'``) is None.

    :param value: an int, or text as a rendered template gives it
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE_NUMBER.match(value.strip()):
        return int(value.strip())
    return None


def control_characters(value: str) -> list[str]:
    """The control characters in ``value`` (CR, LF, NUL, tab, DEL, line and paragraph separators), as reprs."""
    return sorted({repr(c) for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")})


def check_header_text(value: Any, field: str, error: type[Exception], *, why: str) -> str:
    """
    Return ``value`` (stripped) when it can travel in an HTTP header: printable latin-1, no control characters.

    :param value: the text
    :param field: the argument, for the message
    :param error: the exception to raise
    :param why: where the text goes, for the message (e.g. "it is part of the Idempotency-Key header")
    """
    text = value.strip() if isinstance(value, str) else str(value)
    bad = control_characters(text)
    if bad:
        raise error(f"{field} holds control characters ({', '.join(bad)}): {why}, got {value!r}")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise error(
            f"{field} must be latin-1 text (letters, digits, punctuation of Western European languages): "
            f"{why}, got {value!r}"
        ) from None
    return text


def check_line(value: str, field: str, error: type[Exception]) -> str:
    """
    Return ``value`` when it is one line of text (a name, an email address, a phone number), else raise.

    :param value: the text
    :param field: the argument, for the message
    :param error: the exception to raise
    """
    bad = control_characters(value)
    if bad:
        raise error(f"{field} must be one line of text, without control characters ({', '.join(bad)}): {value!r}")
    return value


def check_stored_text(value: Any, field: str, error: type[Exception], *, max_length: int) -> str:
    """
    Return ``value`` as text Stripe stores (a metadata value…): at most ``max_length`` characters, no control characters.

    :param value: the value; anything but text is sent as its ``str()``
    :param field: the argument, for the message
    :param error: the exception to raise
    :param max_length: Stripe's limit for the field
    """
    text = "" if value is None else str(value)
    if len(text) > max_length:
        raise error(f"{field} is longer than Stripe's {max_length} characters ({len(text)})")
    bad = control_characters(text)
    if bad:
        raise error(f"{field} holds control characters ({', '.join(bad)}), which Stripe metadata does not take")
    return text


def check_idempotency_key(value: Any, error: type[Exception], field: str = "idempotency_key") -> str | None:
    """
    Return a user-given idempotency key as it will be sent, None when not given, or raise.

    :param value: the key (an int is taken as its digits)
    :param error: the exception to raise
    :param field: the argument, for the message
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise error(f"{field} must be text, got {type(value).__name__}")
    text = check_header_text(value, field, error, why="it is sent as the Idempotency-Key header")
    if len(text) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise error(f"{field} is {len(text)} characters long; Stripe allows at most {MAX_IDEMPOTENCY_KEY_LENGTH}")
    return text


def check_statement_descriptor(
    value: Any, field: str, error: type[Exception], *, max_length: int = MAX_STATEMENT_DESCRIPTOR_SUFFIX
) -> str | None:
    """
    Return a statement descriptor (or its suffix) as Stripe takes it, None when not given, or raise.

    Stripe's rules: latin characters only, at least one letter, none of ``< > \\ ' " *``, at most
    ``max_length`` characters.

    :param value: the descriptor text
    :param field: the argument, for the message
    :param error: the exception to raise
    :param max_length: the field's limit
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise error(f"{field} must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if len(text) > max_length:
        raise error(f"{field} must be at most {max_length} characters, got {len(text)}: {text!r}")
    forbidden = sorted({c for c in text if c in STATEMENT_DESCRIPTOR_FORBIDDEN})
    if forbidden:
        raise error(f"{field} must not contain {' '.join(forbidden)} (Stripe refuses < > \\ ' \" *): {text!r}")
    if not text.isascii() or control_characters(text):
        raise error(f"{field} must be printable latin letters, digits and punctuation (ASCII): {text!r}")
    if not any(c.isalpha() for c in text):
        raise error(f"{field} must contain at least one letter: {text!r}")
    return text
