"""The Search API (``/v1/<resource>/search``): a subset of Stripe's query language, honestly refused beyond it.

Supported: clauses ``field:value`` (exact; case-insensitive for text fields), ``field~"sub"``
(substring, 3+ characters), ``field>n`` / ``<`` / ``>=`` / ``<=`` on numbers, ``-`` to negate,
``metadata['key']:'value'``, values in single or double quotes (numbers bare), joined by ``AND`` or
by ``OR`` (not both, as at Stripe). Anything else is a 400 on ``query``. Results are newest first
and paginate with the opaque ``page`` token from ``next_page``; ``expand[]=total_count`` adds the
count. Unlike Stripe, results are not delayed (Stripe's index lags writes by up to a minute).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from . import errors, params
from .registry import Ctx

# field kinds: "text" (exact, case-insensitive, ~ allowed), "token" (exact), "number", "metadata"
Fields = dict[str, str]

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>[a-z_.]+)(?:\[(?P<q>['"])(?P<key>[^'"]*)(?P=q)\])?\s*"""
    r"""(?P<op>>=|<=|:|~|>|<)\s*(?P<value>'[^']*'|"[^"]*"|-?\d+)\s*"""
)
_JOIN = re.compile(r"(AND|OR)\s+")


def _bad(message: str) -> errors.StripeError:
    return errors.invalid(message, "query")


def compile_query(query: str, fields: Fields, resource: str) -> Callable[[dict[str, Any]], bool]:
    clauses: list[Callable[[dict[str, Any]], bool]] = []
    joins: set[str] = set()
    pos = 0
    while True:
        match = _CLAUSE.match(query, pos)
        if not match:
            raise _bad(f"Invalid query: could not parse `{query[pos:].strip() or query}`.")
        clauses.append(_clause(match, fields, resource))
        pos = match.end()
        if pos == len(query):
            break
        join = _JOIN.match(query, pos)
        if not join:
            raise _bad(f"Invalid query: expected AND or OR at `{query[pos:]}`.")
        joins.add(join.group(1))
        pos = join.end()
    if len(joins) > 1:
        raise _bad("Invalid query: a query cannot combine AND and OR.")
    if len(clauses) > 10:
        raise _bad("Invalid query: a query can have at most 10 clauses.")
    if joins == {"OR"}:
        return lambda obj: any(c(obj) for c in clauses)
    return lambda obj: all(c(obj) for c in clauses)


def _clause(match: re.Match, fields: Fields, resource: str) -> Callable[[dict[str, Any]], bool]:
    name, key, op, raw = match["field"], match["key"], match["op"], match["value"]
    kind = fields.get(name)
    if kind is None or (kind == "metadata") != (key is not None):
        raise _bad(f"Field `{name}` is an unsupported search field for resource `{resource}`.")
    quoted = raw[0] in "'\""
    value: Any = raw[1:-1] if quoted else int(raw)
    if kind == "number":
        if quoted or op == "~":
            raise _bad(f"Field `{name}` is a numeric field: use a number with :, >, <, >= or <=.")
    elif not quoted or op not in (":", "~") or (op == "~" and kind != "text"):
        raise _bad(f"Field `{name}` takes a quoted string with `:`" + (" or `~`." if kind == "text" else "."))
    if op == "~" and len(value) < 3:
        raise _bad("Substring search (`~`) needs at least 3 characters.")

    def get(obj: dict[str, Any]) -> Any:
        if kind == "metadata":
            return (obj.get("metadata") or {}).get(key)
        return obj.get(name)

    def test(obj: dict[str, Any]) -> bool:
        actual = get(obj)
        if actual is None:
            return False
        if kind == "number":
            return {":": actual == value, ">": actual > value, "<": actual < value,
                    ">=": actual >= value, "<=": actual <= value}[op]  # fmt: skip
        if kind == "text":
            actual, expected = str(actual).lower(), value.lower()
            return expected in actual if op == "~" else actual == expected
        return actual == value

    if match["neg"]:
        return lambda obj: not test(obj)
    return test


def _token(seqno: int) -> str:
    return base64.urlsafe_b64encode(f"page:{seqno}".encode()).decode().rstrip("=")


def _seqno(token: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        if kind == "page":
            return int(number)
    except ValueError:
        pass
    raise errors.invalid(f"Invalid page: {token}", "page")


def run(ctx: Ctx, type_name: str, resource: str, fields: Fields) -> dict[str, Any]:
    """Handle a search request for ``type_name`` (``resource`` as named in Stripe's messages)."""
    query = ctx.validate({"query": params.string, "limit": params.integer(1, 100), "page": params.string})
    params.require(query, "query")
    predicate = compile_query(query["query"], fields, resource)
    limit = query.get("limit", 10)
    before = _seqno(query["page"]) if query.get("page") else None
    data: list[dict[str, Any]] = []
    last = None
    has_more = False
    for seqno, obj in ctx.store.scan(type_name, before):
        if predicate(obj):
            if len(data) == limit:
                has_more = True
                break
            data.append(obj)
            last = seqno
    result: dict[str, Any] = {
        "object": "search_result",
        "data": data,
        "has_more": has_more,
        "next_page": _token(last) if has_more and last is not None else None,
        "url": ctx.path,
    }
    if "total_count" in ctx.expand:
        ctx.expand.remove("total_count")
        result["total_count"] = sum(1 for _, obj in ctx.store.scan(type_name) if predicate(obj))
    return result
