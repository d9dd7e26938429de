"""Events: ``GET /v1/events`` and ``GET /v1/events/{id}``, within Stripe's 30-day window.

Events are recorded by :meth:`..store.Store.emit` whenever a family changes something. As at
Stripe, only the last 30 days (of server time) are listed or retrievable, ``type`` accepts a ``*``
wildcard (``customer.*``), ``types[]`` takes up to 20 exact names, and the two are exclusive.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from .. import errors
from ..params import LIST_SCHEMA, array, boolean, string
from ..registry import Ctx, ResourceFamily
from ..store import EVENT_RETENTION

family = ResourceFamily("events")
family.object_type("event", indexes=("type",), frozen=True)


@family.get("/v1/events")
def list_events(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**LIST_SCHEMA, "type": string, "types": array(string), "delivery_success": boolean})
    if q.get("type") and q.get("types"):
        raise errors.invalid("You may only specify one of these parameters: type, types.", "types")
    if len(q.get("types") or []) > 20:
        raise errors.invalid("You may specify at most 20 event types.", "types")
    checks = []
    where: dict[str, Any] = {}
    if q.get("type") and "*" in q["type"]:
        # the recorded types the pattern matches, each an index: no event of another type is opened
        pattern = q["type"]
        where["type"] = {t for t in ctx.store.index_values("event", "type") if fnmatch.fnmatchcase(t, pattern)}
    elif q.get("type"):
        where["type"] = q["type"]
    if q.get("types"):
        where["type"] = set(q["types"])
    if "delivery_success" in q:
        delivered = q["delivery_success"]
        checks.append(lambda e: (e["pending_webhooks"] == 0) == delivered)
    predicate = (lambda e: all(check(e) for check in checks)) if checks else None
    floor = ctx.store.now() - EVENT_RETENTION
    return ctx.page("event", q, where=where, predicate=predicate, created_floor=floor)


@family.get("/v1/events/{id}")
def retrieve_event(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    event = ctx.store.require("event", ctx.args["id"])
    if event["created"] < ctx.store.now() - EVENT_RETENTION:
        raise errors.no_such("event", event["id"])
    return event
