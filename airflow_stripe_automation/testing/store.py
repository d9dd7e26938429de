"""The in-memory object store: typed tables, ids, newest-first pages, events and the server clock.

Cost model (what keeps thousands of objects fast): every object gets a global sequence number
when stored; a table keeps its ids sorted by that number (appending is O(1)), so a cursor
(``starting_after``) is found by bisection and a page costs O(log n + page). Declared index fields
(``customer`` on payment intents, ``type`` on events, ...) keep their own sorted sequences, so a
filtered page costs the same. While a table's ``created`` values grow with insertion order (the
clock only moves forward), ``created`` filters are bisections too; a clock set backwards turns
that into a scan, still correct.

Objects are plain JSON dicts built from Stripe's fixture for their type (see :meth:`Store.build`),
so their top-level keys are Stripe's. Internal state that Stripe does not show (a test card's
behaviour) lives in :meth:`Store.private`. All methods expect the caller to hold :attr:`lock`.
"""

from __future__ import annotations

import random
import string
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import errors
from .templates import clone, fixture

API_VERSION = "2026-10-28.endive"  # the stripe SDK pinned by this package (stripe._api_version)
EVENT_RETENTION = 30 * 86400
_ALPHABET = string.ascii_letters + string.digits


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Stripe's ``previous_attributes``: old values of changed keys, one level into hashes."""
    previous: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if before == value:
            continue
        if isinstance(before, dict) and isinstance(value, dict):
            previous[key] = {
                k: clone(before.get(k)) for k in before.keys() | value.keys() if before.get(k) != value.get(k)
            }
        else:
            previous[key] = clone(before)
    return previous


@dataclass(frozen=True)
class ObjectType:
    name: str  # the ``object`` value and fixture key, e.g. "payment_intent"
    label: str  # as in Stripe's "No such payment_intent: 'pi_x'"
    prefix: str
    id_length: int
    indexes: tuple[str, ...] = ()
    fixture: str = ""


@dataclass(frozen=True)
class StoreListener:
    """An event listener that is also handed the store (see :meth:`ResourceFamily.on_store_event`)."""

    fn: Callable[[Store, dict[str, Any]], None]


#: what runs after every new event: ``listener(event)``, or a :class:`StoreListener`
EventListener = Callable[[dict[str, Any]], None] | StoreListener


class Clock:
    """Server time: real time plus an offset that tests move forward (time keeps flowing).

    ``frozen`` (a timestamp, normally None) stops it: what happens at a moment in the past while
    the clock is moved (a renewal at its period's end) gets exactly that time. ``pinned`` is the
    same for a test: objects it creates while pinned get exactly the moment it chose, however long
    the requests take (a second ticking between setting the clock and a create would move them).
    """

    def __init__(self) -> None:
        self.offset = 0
        self.frozen: int | None = None
        self.pinned: int | None = None

    def now(self) -> int:
        if self.frozen is not None:
            return self.frozen
        if self.pinned is not None:
            return self.pinned
        return int(time.time()) + self.offset

    def set(self, timestamp: int) -> None:
        self.offset = int(timestamp) - int(time.time())
        if self.pinned is not None:
            self.pinned = int(timestamp)


class _Seq:
    """Ids sorted by sequence number, with their ``created`` values alongside for bisection."""

    __slots__ = ("keys", "ids", "created")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.ids: list[str] = []
        self.created: list[int] = []

    def add(self, key: int, object_id: str, created: int) -> None:
        if not self.keys or key > self.keys[-1]:
            self.keys.append(key)
            self.ids.append(object_id)
            self.created.append(created)
        else:
            i = bisect_left(self.keys, key)
            self.keys.insert(i, key)
            self.ids.insert(i, object_id)
            self.created.insert(i, created)

    def remove(self, key: int) -> None:
        i = bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i], self.ids[i], self.created[i]


class _Table:
    def __init__(self, otype: ObjectType) -> None:
        self.type = otype
        self.all = _Seq()
        self.indexes: dict[str, dict[Any, _Seq]] = {field: {} for field in otype.indexes}
        self.monotonic = True
        self.last_created: int | None = None


class Store:
    """All objects of one server; ``types`` are the object types the resource families declared."""

    def __init__(self, types: Iterable[ObjectType]) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.types = {t.name: t for t in types}
        self.event_listeners: list[EventListener] = []
        self.clock_listeners: list[Callable[[Store, int, int], None]] = []
        self._rng = random.Random()
        self.reset()

    def reset(self) -> None:
        self.clock.offset = 0
        self.clock.frozen = None
        self.clock.pinned = None
        self.tables = {name: _Table(t) for name, t in self.types.items()}
        self.objects: dict[str, dict[str, Any]] = {}  # id -> object (deleted ones as their stub)
        self.kind: dict[str, str] = {}  # id -> type name
        self.seqno: dict[str, int] = {}
        self.deleted: set[str] = set()
        self._private: dict[str, dict[str, Any]] = {}
        self._counter = 0

    # -- time ---------------------------------------------------------------------------------
    def now(self) -> int:
        return self.clock.now()

    def move_clock(self, timestamp: int) -> None:
        """Set server time and let families run time-based behaviour (renewals, expiries)."""
        before = self.now()
        self.clock.set(timestamp)
        for listener in self.clock_listeners:
            listener(self, before, self.now())

    # -- building and storing -----------------------------------------------------------------
    def new_id(self, type_name: str) -> str:
        otype = self.types[type_name]
        while True:
            object_id = f"{otype.prefix}_" + "".join(self._rng.choices(_ALPHABET, k=otype.id_length))
            if object_id not in self.objects:
                return object_id

    def build(self, type_name: str, **fields: Any) -> dict[str, Any]:
        """A new object from Stripe's fixture for the type; ``fields`` may only set keys Stripe has."""
        otype = self.types[type_name]
        obj = fixture(otype.fixture)
        obj["id"] = fields.pop("id", None) or self.new_id(type_name)
        if "created" in obj:
            obj["created"] = self.now()
        if "livemode" in obj:
            obj["livemode"] = False
        if "metadata" in obj:
            obj["metadata"] = {}
        for key, value in fields.items():
            if key not in obj:
                raise KeyError(f"{type_name} has no field {key!r} in Stripe's fixture")
            obj[key] = value
        return obj

    def create(self, type_name: str, **fields: Any) -> dict[str, Any]:
        return self.insert(type_name, self.build(type_name, **fields))

    def insert(self, type_name: str, obj: dict[str, Any]) -> dict[str, Any]:
        table = self.tables[type_name]
        object_id = obj["id"]
        self._counter += 1
        key = self._counter
        created = obj.get("created") or 0
        if table.last_created is not None and created < table.last_created:
            table.monotonic = False
        table.last_created = created if table.last_created is None else max(created, table.last_created)
        self.objects[object_id] = obj
        self.kind[object_id] = type_name
        self.seqno[object_id] = key
        table.all.add(key, object_id, created)
        for field, index in table.indexes.items():
            value = obj.get(field)
            if value is not None:
                index.setdefault(value, _Seq()).add(key, object_id, created)
        return obj

    def update(self, obj: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` (top-level keys) and return Stripe's ``previous_attributes``."""
        previous = diff(obj, changes)
        if not previous:
            return previous
        type_name = self.kind[obj["id"]]
        table = self.tables[type_name]
        key = self.seqno[obj["id"]]
        for field, index in table.indexes.items():
            if field in previous:
                old_value, new_value = obj.get(field), changes[field]
                if old_value is not None:
                    index[old_value].remove(key)
                if new_value is not None:
                    index.setdefault(new_value, _Seq()).add(key, obj["id"], obj.get("created") or 0)
        obj.update(changes)
        return previous

    def delete(self, obj: dict[str, Any], stub: dict[str, Any]) -> None:
        """Take ``obj`` out of lists; retrieving its id afterwards returns ``stub`` (Stripe's deleted shape)."""
        object_id = obj["id"]
        table = self.tables[self.kind[object_id]]
        key = self.seqno[object_id]
        table.all.remove(key)
        for field, index in table.indexes.items():
            value = obj.get(field)
            if value is not None:
                index[value].remove(key)
        self.objects[object_id] = stub
        self.deleted.add(object_id)

    def private(self, object_id: str) -> dict[str, Any]:
        """Server-side state of an object that Stripe does not expose."""
        return self._private.setdefault(object_id, {})

    # -- lookups ------------------------------------------------------------------------------
    def get(self, type_name: str, object_id: Any) -> dict[str, Any] | None:
        """A live object of that type, or None (unknown id, other type, deleted)."""
        if not isinstance(object_id, str) or self.kind.get(object_id) != type_name or object_id in self.deleted:
            return None
        return self.objects[object_id]

    def require(self, type_name: str, object_id: Any, param: str = "id", status: int | None = None) -> dict[str, Any]:
        """The live object, or Stripe's resource_missing (404 for a path id, 400 for a parameter)."""
        obj = self.get(type_name, object_id)
        if obj is None:
            raise errors.no_such(self.types[type_name].label, str(object_id), param, status)
        return obj

    def lookup(self, object_id: Any) -> dict[str, Any] | None:
        """Any stored object by id, deleted stubs included (what expansion shows)."""
        return self.objects.get(object_id) if isinstance(object_id, str) else None

    # -- lists --------------------------------------------------------------------------------
    def page(
        self,
        type_name: str,
        *,
        where: dict[str, Any] | None = None,
        low: int | None = None,
        high: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        limit: int = 10,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page, newest first, and whether more objects lie beyond it (Stripe's ``has_more``)."""
        table = self.tables[type_name]
        seq = table.all
        checks = dict(where or {})
        for field, value in list(checks.items()):
            if field in table.indexes:
                seq = table.indexes[field].get(value) or _Seq()
                del checks[field]
                break
        begin, end = 0, len(seq.keys)
        if (low is not None or high is not None) and table.monotonic:
            if low is not None:
                begin = bisect_left(seq.created, low)
            if high is not None:
                end = bisect_right(seq.created, high)
        cursor = starting_after or ending_before
        if cursor is not None:
            if self.kind.get(cursor) != type_name:
                raise errors.no_such(table.type.label, cursor, "starting_after" if starting_after else "ending_before")
            if starting_after:
                end = min(end, bisect_left(seq.keys, self.seqno[cursor]))
            else:
                begin = max(begin, bisect_right(seq.keys, self.seqno[cursor]))

        def matches(obj: dict[str, Any]) -> bool:
            created = obj.get("created") or 0
            if (low is not None and created < low) or (high is not None and created > high):
                return False
            if any(obj.get(f) != v for f, v in checks.items()):
                return False
            return predicate is None or predicate(obj)

        found: list[dict[str, Any]] = []
        indices = range(begin, end) if ending_before else range(end - 1, begin - 1, -1)
        for i in indices:
            obj = self.objects[seq.ids[i]]
            if matches(obj):
                found.append(obj)
                if len(found) > limit:
                    break
        has_more = len(found) > limit
        found = found[:limit]
        if ending_before:
            found.reverse()
        return found, has_more

    def scan(self, type_name: str, before: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(seqno, object)`` for every live object of a type, newest first, older than ``before``."""
        seq = self.tables[type_name].all
        end = len(seq.keys) if before is None else bisect_left(seq.keys, before)
        for i in range(end - 1, -1, -1):
            yield seq.keys[i], self.objects[seq.ids[i]]

    def count(self, type_name: str) -> int:
        return len(self.tables[type_name].all.ids)

    # -- events -------------------------------------------------------------------------------
    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an Event with a snapshot of ``obj``; listeners (webhook delivery) see it next."""
        data: dict[str, Any] = {"object": clone(obj)}
        if previous:
            data["previous_attributes"] = clone(previous)
        event = self.create(
            "event",
            type=event_type,
            data=data,
            api_version=API_VERSION,
            pending_webhooks=0,
            request=dict(request or {"id": None, "idempotency_key": None}),
        )
        for listener in self.event_listeners:
            if isinstance(listener, StoreListener):
                listener.fn(self, event)
            else:
                listener(event)
        return event
