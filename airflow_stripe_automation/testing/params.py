"""Validate and coerce request parameters against a small per-endpoint schema, with Stripe's errors.

Stripe refuses parameters it does not know (``parameter_unknown``) and values of the wrong type,
so client bugs surface as 400s instead of silently doing something else. A schema maps each
accepted name to a validator (a function ``(value, param_name) -> coerced value``) or to a nested
schema dict for hash parameters. Empty strings are Stripe's way to unset a field on update; the
``nullable`` validators turn them into ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import currencies, errors
from .forms import as_list

Validator = Callable[[Any, str], Any]
Schema = dict[str, Any]


def _scalar(value: Any, param: str, kind: str) -> str:
    if isinstance(value, (dict, list)):
        raise errors.invalid(f"Invalid {kind}: {param} must be a {kind}, not a hash or array", param)
    return value


def string(value: Any, param: str) -> str:
    value = _scalar(value, param, "string")
    if len(value) > 5000:
        raise errors.invalid(f"Invalid string: {param} must be at most 5000 characters", param)
    return value


def nullable_string(value: Any, param: str) -> str | None:
    return None if value == "" else string(value, param)


def integer(minimum: int | None = None, maximum: int | None = None) -> Validator:
    def check(value: Any, param: str) -> int:
        text = _scalar(value, param, "integer")
        if not re.fullmatch(r"-?\d+", text.strip()):
            raise errors.invalid(f"Invalid integer: {text}", param, "parameter_invalid_integer")
        number = int(text)
        if minimum is not None and number < minimum:
            raise errors.invalid(
                f"This value must be greater than or equal to {minimum}.", param, "parameter_invalid_integer"
            )
        if maximum is not None and number > maximum:
            raise errors.invalid(
                f"This value must be less than or equal to {maximum}.", param, "parameter_invalid_integer"
            )
        return number

    return check


def boolean(value: Any, param: str) -> bool:
    text = _scalar(value, param, "boolean")
    if text not in ("true", "false"):
        raise errors.invalid(f"Invalid boolean: {text}", param)
    return text == "true"


def enum(*choices: str, nullable: bool = False) -> Validator:
    def check(value: Any, param: str) -> str | None:
        text = _scalar(value, param, "string")
        if nullable and text == "":
            return None
        if text not in choices:
            listed = ", ".join(choices[:-1]) + (f", or {choices[-1]}" if len(choices) > 1 else choices[0])
            raise errors.invalid(f"Invalid {param}: must be one of {listed}", param)
        return text

    return check


_DESCRIPTOR_FORBIDDEN = set("<>\\'\"*")


def statement_descriptor(value: Any, param: str) -> str | None:
    """A statement descriptor (or suffix): at most 22 characters, none of ``< > \\ ' " *`` (Stripe's 400)."""
    text = _scalar(value, param, "string")
    if text == "":
        return None
    if len(text) > 22:
        raise errors.invalid(f"Invalid {param}: must be at most 22 characters", param)
    bad = sorted(set(text) & _DESCRIPTOR_FORBIDDEN)
    if bad:
        raise errors.invalid(
            f"Invalid {param}: the statement descriptor may not contain any of these characters: " + " ".join(bad),
            param,
        )
    return text


def email(value: Any, param: str) -> str | None:
    text = _scalar(value, param, "string")
    if text == "":
        return None
    if len(text) > 512 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        raise errors.invalid(f"Invalid email address: {text}", param, "email_invalid")
    return text


def currency(value: Any, param: str) -> str:
    text = _scalar(value, param, "string").lower()
    if text not in currencies.SUPPORTED:
        raise errors.invalid(
            f"Invalid currency: {value}. Stripe currently supports these currencies: "
            + ", ".join(sorted(currencies.SUPPORTED)),
            param,
        )
    return text


def metadata(value: Any, param: str) -> dict[str, str] | None:
    """A metadata hash; ``""`` for the whole hash (-> None) or a key (kept as "") means unset."""
    if value == "":
        return None
    if not isinstance(value, dict):
        raise errors.invalid("Invalid metadata: metadata must be a hash of keys and values", param)
    if len(value) > 50:
        raise errors.invalid("Invalid metadata: metadata can have up to 50 keys", param)
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            raise errors.invalid(f"Invalid value for metadata key {key}: must be a string", f"{param}[{key}]")
        if len(key) > 40:
            raise errors.invalid(f"Invalid metadata: keys can be at most 40 characters ({key})", f"{param}[{key}]")
        if len(item) > 500:
            raise errors.invalid(
                f"Invalid metadata: values can be at most 500 characters (key {key})", f"{param}[{key}]"
            )
    return dict(value)


def array(item: Validator) -> Validator:
    def check(value: Any, param: str) -> list:
        return [item(v, f"{param}[{i}]") for i, v in enumerate(as_list(value, param))]

    return check


def array_of(schema: Schema) -> Validator:
    """An array of hashes (``items[0][price]=...``), each validated against ``schema``."""

    def check(value: Any, param: str) -> list[dict[str, Any]]:
        out = []
        for i, item in enumerate(as_list(value, param)):
            name = f"{param}[{i}]"
            if not isinstance(item, dict):
                raise errors.invalid(f"Invalid hash: {name} must be a hash", name)
            out.append(validate(item, schema, name))
        return out

    return check


def _json_shape(value: Any) -> Any:
    """Form-decoded data as the JSON it stands for: ``{"0": a, "1": b}`` (the SDK's ``x[0]=a&x[1]=b``) is a list."""
    if isinstance(value, dict):
        if value and all(k.isdigit() for k in value):
            return [_json_shape(value[k]) for k in sorted(value, key=int)]
        return {k: _json_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_shape(v) for v in value]
    return value


def anything(value: Any, param: str) -> Any:
    """Accepted as sent: fields the server stores but does not interpret (options); arrays stay arrays."""
    return None if value == "" else _json_shape(value)


ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def address(value: Any, param: str) -> dict[str, Any] | None:
    """An address hash, as Stripe answers it: all six keys, the ones not sent null."""
    if value == "":
        return None
    if not isinstance(value, dict):
        raise errors.invalid(f"Invalid hash: {param} must be a hash", param)
    given = validate(value, {k: nullable_string for k in ADDRESS_FIELDS}, param)
    return {k: None for k in ADDRESS_FIELDS} | given


def shipping(*, carrier: bool = True) -> Validator:
    """A ``shipping`` hash: ``address`` and ``name`` required (Stripe's ``parameter_missing`` otherwise).

    :param carrier: whether ``carrier`` and ``tracking_number`` are part of it (payments; not customers)
    """
    fields: Schema = {"address": address, "name": string, "phone": nullable_string}
    if carrier:
        fields |= {"carrier": nullable_string, "tracking_number": nullable_string}

    def check(value: Any, param: str) -> dict[str, Any] | None:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise errors.invalid(f"Invalid hash: {param} must be a hash", param)
        given = validate(value, fields, param)
        for key in ("address", "name"):
            if given.get(key) in (None, ""):
                raise errors.missing_param(f"{param}[{key}]")
        return {k: None for k in fields} | given

    return check


#: the key of a nested schema listing the keys its hash must have (see :func:`needs`)
REQUIRED = "__required__"


def needs(spec: Schema | Validator, *keys: str) -> Any:
    """A hash parameter that must have ``keys`` when sent: ``shipping[address]`` without
    ``shipping[name]`` is Stripe's 400 ``parameter_missing`` (``shipping[name]``).

    :param spec: the nested schema (a dict) or the validator of the hash
    :param keys: its required keys
    """
    if isinstance(spec, dict):
        return {**spec, REQUIRED: keys}

    def check(value: Any, param: str) -> Any:
        if isinstance(value, dict):
            _check_required(value, keys, param)
        return spec(value, param)

    return check


def _check_required(value: dict[str, Any], keys: tuple[str, ...], name: str) -> None:
    for required in keys:
        if value.get(required) in (None, ""):
            raise errors.missing_param(f"{name}[{required}]")


def validate(params: dict[str, Any], schema: Schema, prefix: str = "") -> dict[str, Any]:
    """Check every key against ``schema`` and coerce values; unknown keys are a 400."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        spec = schema.get(key) if key != REQUIRED else None
        if spec is None:
            raise errors.unknown_param(name)
        if isinstance(spec, dict):
            if value == "":
                out[key] = None
            elif not isinstance(value, dict):
                raise errors.invalid(f"Invalid hash: {name} must be a hash", name)
            else:
                _check_required(value, spec.get(REQUIRED, ()), name)
                out[key] = validate(value, spec, name)
        else:
            out[key] = spec(value, name)
    return out


def require(params: dict[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise errors.missing_param(name)


def amount(value: Any, param: str, currency_code: str | None = None) -> int:
    number = integer(minimum=1)(value, param)
    if number > currencies.MAXIMUM_AMOUNT:
        limit = currencies.format_amount(currencies.MAXIMUM_AMOUNT, currency_code or "usd")
        raise errors.invalid(f"Amount must be no more than {limit}", param, "amount_too_large")
    return number


def check_minimum(amount_value: int, currency_code: str, param: str = "amount") -> None:
    minimum = currencies.MINIMUM_AMOUNT.get(currency_code)
    if minimum is not None and amount_value < minimum:
        raise errors.invalid(
            f"Amount must be at least {currencies.format_amount(minimum, currency_code)}", param, "amount_too_small"
        )


def merge_metadata(current: dict[str, str], update: dict[str, str] | None, replace_all: bool) -> dict[str, str]:
    """Stripe's update semantics: keys merge, a key set to "" is removed, ``metadata=""`` clears."""
    if replace_all:
        return {}
    merged = dict(current)
    for key, value in (update or {}).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:  # counted after the merge, as Stripe does: a 51st key on update is refused
        raise errors.invalid("Invalid metadata: metadata can have up to 50 keys", "metadata")
    return merged


LIST_SCHEMA: Schema = {
    "limit": integer(1, 100),
    "starting_after": string,
    "ending_before": string,
    "created": lambda v, p: v,  # parsed by created_range
}


def created_range(value: Any) -> tuple[int | None, int | None]:
    """``created=T`` or ``created[gte|gt|lte|lt]=T`` -> inclusive ``(low, high)`` bounds."""
    return timestamp_range(value, "created")


def timestamp_range(value: Any, name: str) -> tuple[int | None, int | None]:
    """``name=T`` or ``name[gte|gt|lte|lt]=T`` (any timestamp filter) -> inclusive ``(low, high)`` bounds."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        exact = integer()(value, name)
        return exact, exact
    low = high = None
    for key, raw in value.items():
        bound = integer()(raw, f"{name}[{key}]")
        if key == "gte":
            low = bound if low is None else max(low, bound)
        elif key == "gt":
            low = bound + 1 if low is None else max(low, bound + 1)
        elif key == "lte":
            high = bound if high is None else min(high, bound)
        elif key == "lt":
            high = bound - 1 if high is None else min(high, bound - 1)
        else:
            raise errors.unknown_param(f"{name}[{key}]")
    return low, high


def in_range(value: int | None, bounds: tuple[int | None, int | None]) -> bool:
    """Whether ``value`` lies within :func:`timestamp_range` bounds (None never does, unless unbounded)."""
    low, high = bounds
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def unsupported(what: str = "") -> Validator:
    """A parameter Stripe accepts but this server does not implement: an honest 400, never a silent no-op."""

    def check(value: Any, param: str) -> Any:
        detail = f" ({what})" if what else ""
        raise errors.invalid(f"The local Stripe server does not support `{param}`{detail}.", param)

    return check
