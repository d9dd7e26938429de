"""``expand[]``: replace id fields in a response by the objects they name, as Stripe does.

Generic on purpose: a field is expandable when its value is the id of an object this server
stores (or null), so every family gets expansion for free (``customer``, ``payment_method``,
``latest_charge``, ``latest_charge.balance_transaction``, ``data.customer`` in lists). Asking to
expand anything else is Stripe's 400 "This property cannot be expanded". Stored objects are never
modified: the path down to each expanded field is copied.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .store import Store

MAX_DEPTH = 4


def _cannot(path: str) -> errors.StripeError:
    return errors.invalid(f"This property cannot be expanded ({path}).", "expand")


def apply(body: Any, paths: list[str], store: Store) -> Any:
    for path in paths:
        parts = path.split(".")
        depth = len([p for p in parts if p != "data"])
        if depth > MAX_DEPTH:
            raise errors.invalid(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}", "expand"
            )
        body = _expand(body, parts, store, path)
    return body


def _expand(value: Any, parts: list[str], store: Store, path: str) -> Any:
    if isinstance(value, list):
        return [_expand(item, parts, store, path) for item in value]
    if not isinstance(value, dict):
        raise _cannot(path)
    head, rest = parts[0], parts[1:]
    if head not in value:
        raise _cannot(path)
    child = value[head]
    if child is None:
        return value
    if isinstance(child, str):
        child = store.lookup(child)
        if child is None:
            raise _cannot(path)
    elif not rest:  # only an already expanded object (an earlier path) may be named again
        if isinstance(child, dict) and "id" in child and child.get("object") not in (None, "list"):
            return value
        raise _cannot(path)
    copy = dict(value)
    copy[head] = _expand(child, rest, store, path) if rest else child
    return copy
