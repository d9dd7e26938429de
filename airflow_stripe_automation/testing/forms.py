"""Decode Stripe's form encoding (``a[b][0][c]=v``, ``expand[]=x``) into nested dicts and lists.

The SDK sends every parameter as a string in ``application/x-www-form-urlencoded`` bodies (POST)
or query strings (GET/DELETE): nested dicts as ``key[sub]``, arrays as ``key[0]`` (older clients
and curl users send ``key[]``), booleans as ``true``/``false``. Indexed arrays stay dicts with
digit keys here, as ``metadata[0]`` is a metadata key, not a list element: a parameter that
expects an array converts it with :func:`as_list`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from . import errors


def _split(key: str) -> list[str]:
    """``a[b][]`` -> ``["a", "b", ""]``."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    parts = [head]
    while rest:
        inner, closing, rest = rest.partition("]")
        if not closing:
            raise errors.invalid(f"Invalid parameter name: {key}")
        parts.append(inner)
        rest = rest[1:] if rest.startswith("[") else rest
    return parts


def decode(raw: str) -> dict[str, Any]:
    """Turn a form body or query string into nested params; ``[]`` appends to a list."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = _split(key)
        node: Any = params
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if isinstance(node, list):  # previous part was "[]": start or extend the last element
                if last:
                    node.append(value)
                    break
                if not node or not isinstance(node[-1], dict) or nxt in node[-1]:
                    node.append({})
                node = node[-1]
                continue
            if not isinstance(node, dict):
                raise errors.invalid(f"Invalid hash: {key}", parts[0])
            if last:
                node[part] = value
            else:
                default: Any = [] if nxt == "" else {}
                child = node.get(part)
                if not isinstance(child, (dict, list)):
                    child = node[part] = default
                node = child
    return params


def as_list(value: Any, param: str) -> list:
    """An array parameter, from ``x[0]=..`` (dict of digit keys), ``x[]=..`` (list) or one value."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if not all(k.isdigit() for k in value):
            raise errors.invalid(f"Invalid array: {param}", param)
        return [value[k] for k in sorted(value, key=int)]
    if value == "":
        return []
    return [value]


def encode(params: dict[str, Any]) -> str:
    """The form encoding the SDK sends for ``params``: ``a[b]=``, ``a[0]=``, ``true``/``false``; None is left out.

    :param params: nested request parameters as Python values (dicts, lists, str, int, bool, None)
    """
    pairs: list[tuple[str, str]] = []

    def add(key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for sub, item in value.items():
                add(f"{key}[{sub}]", item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                add(f"{key}[{i}]", item)
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))

    for name, value in params.items():
        add(name, value)
    return urlencode(pairs)
