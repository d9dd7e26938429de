"""Stripe's API description for the version the SDK pins, as JSON Schema: what the spec tests check against.

``../shared/stripe/spec-2026-10-28.json.gz`` (beside the checkout, as on CI; read, never copied
in) is Stripe's API at ``2026-10-28.endive`` (the version stripe-python 16 pins) in OpenAPI form,
derived from the official stripe-node SDK's types (see ``../shared/stripe/README.md``). Its schemas are turned into strict JSON Schema here:

- ``nullable: true`` becomes ``anyOf: [schema, null]``;
- a property marked ``x-absent`` (``deleted?: void`` in the types) must not be there;
- an object schema that names its properties allows no others (the spec leaves
  ``additionalProperties`` open; an extra key is a mismatch here), while maps (``metadata``,
  ``currency_options``) keep their own ``additionalProperties``;
- every ``enum`` is closed, ``x-open-enum`` too: the server may only answer values the spec lists.

:func:`mismatches` names each difference of one object from its type's schema (``path: what``),
choosing, for an ``anyOf`` (an expandable field: id or object; a nullable), the branch the value
was meant to be, so an expanded customer's missing key reads as such and not as "not a string".
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SPEC_FILE = Path(__file__).resolve().parents[3] / "shared" / "stripe" / "spec-2026-10-28.json.gz"


@cache
def spec() -> dict[str, Any]:
    """The spec as published (OpenAPI shape), loaded once per session."""
    if not SPEC_FILE.is_file():  # a failure, not a skip: the spec tests are what keep the server true
        raise FileNotFoundError(f"Stripe's API description is not at {SPEC_FILE}: check out ../shared beside the repo")
    with gzip.open(SPEC_FILE, "rt", encoding="utf-8") as f:
        return json.load(f)


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("x-absent"):
        return False
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-") and k != "nullable"}
    if out.get("properties") and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _root() -> dict[str, Any]:
    return {"components": {"schemas": _strict(spec()["components"]["schemas"])}}


def schema_names() -> set[str]:
    return set(spec()["components"]["schemas"])


@cache
def validator(schema_name: str) -> Draft202012Validator:
    """A validator for ``components.schemas[schema_name]``, refs resolved within the spec."""
    if schema_name not in schema_names():
        raise KeyError(f"the spec has no schema {schema_name!r}")
    root = dict(_root())
    root["$ref"] = f"#/components/schemas/{schema_name}"
    return Draft202012Validator(root)


def schema_for(obj: dict[str, Any]) -> str:
    """The schema an object answers to: its ``object`` value, or ``deleted_<object>`` for a deletion."""
    name = str(obj.get("object"))
    return f"deleted_{name}" if obj.get("deleted") is True else name


def _path(error: ValidationError) -> str:
    parts = []
    for part in error.absolute_path:
        parts.append("[]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(root)"


def _describe(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        return f"extra key(s) {', '.join(sorted(extra))}"
    if error.validator == "required":
        return f"missing {error.message.split(' is a required')[0]}"
    if error.validator is False or error.schema is False:
        return "must not be present"
    if error.validator == "enum":
        return f"{error.instance!r} not in the spec's enum {error.validator_value}"
    if error.validator == "type":
        return f"{type(error.instance).__name__} {json.dumps(error.instance)[:60]}, spec: {error.validator_value}"
    return error.message[:200]


def _is_wrong_branch(error: ValidationError, depth: int) -> bool:
    """Whether an anyOf branch failed on the value's own type or ``object`` (the value is not that kind)."""
    if len(error.relative_path) == 0 and error.validator in ("type", False):
        return True
    return list(error.relative_path) == ["object"] and error.validator == "enum"


def _leaves(error: ValidationError) -> list[ValidationError]:
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0], []).append(sub)
    plausible = [errs for errs in branches.values() if not any(_is_wrong_branch(e, 0) for e in errs)]
    if not plausible:
        return [error]
    best = min(plausible, key=len)
    return [leaf for sub in best for leaf in _leaves(sub)]


def mismatches(obj: Any, schema_name: str | None = None) -> list[str]:
    """Every difference of ``obj`` from its schema, as ``"<schema>.<path>: <what>"`` (sorted, distinct)."""
    if schema_name is None:
        schema_name = schema_for(obj)
    if schema_name not in schema_names():
        return [f"{schema_name}: no such schema in the spec"]
    found = set()
    for error in validator(schema_name).iter_errors(obj):
        for leaf in _leaves(error):
            found.add(f"{schema_name}.{_path(leaf)}: {_describe(leaf)}")
    return sorted(found)


def walk_responses(body: Any) -> list[tuple[str, dict[str, Any]]]:
    """The API objects in a response body, with the schema of each: list items, search results, and
    each event's ``data.object`` (the event's own schema leaves it open)."""
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(body, dict) or "object" not in body:
        return out
    if body["object"] in ("list", "search_result"):
        for item in body.get("data", []):
            out.extend(walk_responses(item))
        return out
    out.append((schema_for(body), body))
    if body["object"] == "event":
        data = body.get("data") or {}
        out.extend(walk_responses(data.get("object")))
    return out


def previous_attributes_mismatches(event: dict[str, Any]) -> list[str]:
    """Keys of an event's ``previous_attributes`` its object's type does not have."""
    previous = (event.get("data") or {}).get("previous_attributes") or {}
    obj = (event.get("data") or {}).get("object") or {}
    name = schema_for(obj)
    props = spec()["components"]["schemas"].get(name, {}).get("properties", {})
    return [
        f"event[{event.get('type')}].data.previous_attributes.{key}: not a key of {name}"
        for key in previous
        if key not in props
    ]
