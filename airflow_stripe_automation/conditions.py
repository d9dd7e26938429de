"""Structured conditions over Stripe objects: (field, op, value), combined with all/any/not, never ``eval``.

A condition is plain data, so a YAML recipe and a Python DAG write the same thing::

    {"all": [{"field": "amount", "op": "gt", "value": 100000, "currency": "usd"}]}

    all_of(field("amount").gt(100000, currency="usd"))          # the same, in Python

Money is compared in minor units *of one currency*: a condition that names a ``currency`` is true
only for objects in that currency (an amount in JPY never passes a USD threshold), and its value is
checked against the currency's exponent when the condition is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_stripe_automation.inputs import whole_number
from airflow_stripe_automation.money import InvalidMoneyError, normalize_currency

_MISSING = object()


def _cmp(fn):
    def op(actual: Any, expected: Any) -> bool:
        try:
            return actual is not None and fn(actual, expected)
        except TypeError:
            return False

    return op


OPERATORS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": _cmp(lambda a, b: a > b),
    "gte": _cmp(lambda a, b: a >= b),
    "lt": _cmp(lambda a, b: a < b),
    "lte": _cmp(lambda a, b: a <= b),
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "contains": lambda a, b: a is not None and b in a,
    "startswith": lambda a, b: isinstance(a, str) and a.startswith(b),
    "matches": lambda a, b: isinstance(a, str) and re.fullmatch(b, a) is not None,
    "exists": lambda a, b: (a is not None) == bool(b),
}
_ALIASES = {"==": "eq", "=": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_ORDERED = {"gt", "gte", "lt", "lte"}


class InvalidConditionError(ValueError):
    """A condition that cannot be evaluated; the message names the offending part."""


def get_field(obj: Any, path: str) -> Any:
    """
    Read a dotted path (``customer.metadata.tier``, ``lines.data.0.amount``) from a dict-like object.

    :param obj: a Stripe object or a dict
    :param path: dot-separated keys; integers index lists
    """
    current = obj
    for part in path.split("."):
        if current is None:
            return None
        if isinstance(current, Sequence) and not isinstance(current, str):
            index = whole_number(part)
            if index is None:
                return None
            current = current[index] if -len(current) <= index < len(current) else None
        elif hasattr(current, "get"):
            current = current.get(part)
        else:
            return None
    return current


def validate(condition: Any, where: str = "condition") -> dict[str, Any]:
    """
    Check a condition's structure and return it normalised (operator aliases resolved).

    :param condition: a mapping with ``field``/``op``/``value``, or ``all``/``any``/``not``
    :param where: where the condition comes from, for error messages
    """
    if not isinstance(condition, Mapping):
        raise InvalidConditionError(f"{where}: a condition must be a mapping, got {type(condition).__name__}")
    for combinator in ("all", "any"):
        if combinator in condition:
            items = condition[combinator]
            if set(condition) != {combinator} or not isinstance(items, Sequence) or isinstance(items, str):
                raise InvalidConditionError(f"{where}: '{combinator}' takes a list of conditions and nothing else")
            return {combinator: [validate(c, f"{where}.{combinator}[{i}]") for i, c in enumerate(items)]}
    if "not" in condition:
        if set(condition) != {"not"}:
            raise InvalidConditionError(f"{where}: 'not' takes one condition and nothing else")
        return {"not": validate(condition["not"], f"{where}.not")}

    unknown = set(condition) - {"field", "op", "value", "currency", "currency_field"}
    if unknown:
        raise InvalidConditionError(f"{where}: unknown key(s) {sorted(unknown)}")
    path = condition.get("field")
    if not isinstance(path, str) or not path:
        raise InvalidConditionError(f"{where}: 'field' must name a field, e.g. 'amount'")
    op = _ALIASES.get(condition.get("op", "eq"), condition.get("op", "eq"))
    if op not in OPERATORS:
        raise InvalidConditionError(f"{where}: unknown op {condition.get('op')!r}; use one of {sorted(OPERATORS)}")
    value = condition.get("value")
    if op in ("in", "not_in") and (not isinstance(value, Sequence) or isinstance(value, str)):
        raise InvalidConditionError(f"{where}: op {op!r} needs a list value")
    if op == "matches":
        if not isinstance(value, str):
            raise InvalidConditionError(f"{where}: 'matches' needs a regular expression: got {value!r}")
        try:
            re.compile(value)
        except re.error as err:
            raise InvalidConditionError(f"{where}: 'matches' needs a regular expression: {err}") from None
    out: dict[str, Any] = {"field": path, "op": op, "value": value}
    if condition.get("currency") is not None:
        try:
            out["currency"] = normalize_currency(condition["currency"])
        except InvalidMoneyError as err:
            raise InvalidConditionError(f"{where}: {err}") from None
        if isinstance(value, str) and whole_number(value) is not None:  # a rendered template: "100000"
            value = out["value"] = whole_number(value)
        if op not in _ORDERED | {"eq", "ne"} or isinstance(value, bool) or not isinstance(value, int):
            raise InvalidConditionError(
                f"{where}: a money condition compares an integer of minor units (e.g. 100000 for 1,000.00 "
                f"{out['currency'].upper()}), got {value!r}"
            )
        out["currency_field"] = condition.get("currency_field") or _sibling(path, "currency")
    return out


def _sibling(path: str, name: str) -> str:
    head, _, _ = path.rpartition(".")
    return f"{head}.{name}" if head else name


def evaluate(condition: Mapping[str, Any], obj: Any) -> bool:
    """
    Return whether ``obj`` meets ``condition`` (validate it first with :func:`validate`).

    :param condition: a validated condition
    :param obj: the Stripe object (or dict) to test
    """
    if "all" in condition:
        return all(evaluate(c, obj) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, obj) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], obj)
    actual = get_field(obj, condition["field"])
    if "currency" in condition:
        currency = get_field(obj, condition["currency_field"])
        if not isinstance(currency, str) or currency.lower() != condition["currency"]:
            return False
        if isinstance(actual, bool) or not isinstance(actual, int):
            return False
    return OPERATORS[condition["op"]](actual, condition["value"])


class field:
    """
    Build conditions in Python: ``field("amount").gt(100000, currency="usd")``.

    :param path: the dotted field path
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def _make(self, op: str, value: Any, currency: str | None = None) -> dict[str, Any]:
        cond = {"field": self.path, "op": op, "value": value}
        if currency:
            cond["currency"] = currency
        return validate(cond)

    def eq(self, value: Any, currency: str | None = None) -> dict[str, Any]:
        return self._make("eq", value, currency)

    def ne(self, value: Any) -> dict[str, Any]:
        return self._make("ne", value)

    def gt(self, value: Any, currency: str | None = None) -> dict[str, Any]:
        return self._make("gt", value, currency)

    def gte(self, value: Any, currency: str | None = None) -> dict[str, Any]:
        return self._make("gte", value, currency)

    def lt(self, value: Any, currency: str | None = None) -> dict[str, Any]:
        return self._make("lt", value, currency)

    def lte(self, value: Any, currency: str | None = None) -> dict[str, Any]:
        return self._make("lte", value, currency)

    def isin(self, values: Sequence[Any]) -> dict[str, Any]:
        return self._make("in", list(values))

    def exists(self, present: bool = True) -> dict[str, Any]:
        return self._make("exists", present)


def all_of(*conditions: Mapping[str, Any]) -> dict[str, Any]:
    """All of ``conditions`` must hold."""
    return validate({"all": list(conditions)})


def any_of(*conditions: Mapping[str, Any]) -> dict[str, Any]:
    """At least one of ``conditions`` must hold."""
    return validate({"any": list(conditions)})


def not_(condition: Mapping[str, Any]) -> dict[str, Any]:
    """``condition`` must not hold."""
    return validate({"not": condition})
