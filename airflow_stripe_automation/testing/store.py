"""The in-memory object store: typed tables, ids, newest-first pages, events and the server clock.

**Memory.** An object the current request is not working on is kept compact (see :mod:`.compact`:
a pickle deflated against a dictionary of its kind, a few hundred bytes), and everything about it
the store needs without opening it lives in flat arrays indexed by its sequence number (id, type,
``created``). A request works on plain dicts: the first :meth:`Store.get` (or page, lookup,
private) of an object since the last :meth:`Store.settle` opens it, and later calls return that
same dict, which the request changes in place or through :meth:`Store.update`. ``settle()``, run by
the server after every request, packs what changed and lets go of the dicts, so a dict a caller kept
past the request is a detached copy. Stored objects may embed other stored objects (a
subscription's ``items.data``, :attr:`ObjectType.embeds`): those are packed as references and opened
as the very dicts the store hands out, so changing an item changes the subscription too, as before.

**Cost model.** Every object gets a global sequence number when stored; a table keeps its sequence
numbers sorted (appending is O(1)), so a cursor (``starting_after``) is found by bisection and a page
costs O(log n + page). Declared index fields (``customer`` on payment intents, ``type`` on events,
``status`` on invoices) keep their own sorted sequences, so a filtered page costs the same, and a
second indexed filter is a bisection per candidate, without opening it. Declared range fields
(``due_date`` on invoices) keep a sequence sorted by value: a page filtered by a range of them
gathers the few candidates in the range instead of scanning past thousands outside it (whichever
of the two is cheaper, switching when a scan turns out long). While a table's ``created`` values
grow with insertion order (the clock only moves forward), ``created`` filters are bisections too;
a clock set backwards turns that into a scan, still correct.

Objects are plain JSON dicts built from Stripe's fixture for their type (see :meth:`Store.build`),
so their top-level keys are Stripe's. Internal state that Stripe does not show (a test card's
behaviour) lives in :meth:`Store.private`. All methods expect the caller to hold :attr:`lock`.
"""

from __future__ import annotations

import heapq
import random
import string
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import errors
from .compact import Codec, dump
from .templates import clone, fixture

API_VERSION = "2026-10-28.endive"  # the stripe SDK pinned by this package (stripe._api_version)
EVENT_RETENTION = 30 * 86400
_ALPHABET = string.ascii_letters + string.digits
#: a range-filtered page gathers its candidates from the range index when there are fewer than this
#: many per object a scan would have to open (opening one costs about as much as sorting 80 numbers)
_GATHER_FACTOR = 80


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
    indexes: tuple[str, ...] = ()  # top-level fields filtered by equality, e.g. "customer"
    fixture: str = ""
    ranges: tuple[str, ...] = ()  # top-level integer fields filtered by ranges, e.g. "due_date"
    embeds: tuple[str, ...] = ()  # top-level lists (``{"data": [...]}``) of other stored objects
    frozen: bool = False  # never changed once stored (events): packed once, never checked for changes


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


class _Ref:
    """An embedded stored object inside another's pickle: opened as the store's own dict for it."""

    __slots__ = ("id",)

    def __init__(self, object_id: str) -> None:
        self.id = object_id

    def __reduce__(self) -> tuple[type[_Ref], tuple[str]]:
        return _Ref, (self.id,)


# A bucket of an equality index: one sequence number (most customers have one invoice) or a sorted
# array of them; a bare int saves the array's 70 bytes for each of those.
Bucket = int | array


def _members(bucket: Bucket | None) -> Sequence[int]:
    if bucket is None:
        return ()
    return (bucket,) if isinstance(bucket, int) else bucket


def _insort(seqs: array, seq: int) -> None:
    if not seqs or seq > seqs[-1]:
        seqs.append(seq)
    else:
        seqs.insert(bisect_left(seqs, seq), seq)


def _discard(seqs: array, seq: int) -> None:
    i = bisect_left(seqs, seq)
    if i < len(seqs) and seqs[i] == seq:
        del seqs[i]


def _contains(seqs: Sequence[int], seq: int) -> bool:
    i = bisect_left(seqs, seq)
    return i < len(seqs) and seqs[i] == seq


class _Range:
    """Sequence numbers sorted by one integer field's value (then by number); values of other types aside."""

    __slots__ = ("values", "seqs", "odd")

    def __init__(self) -> None:
        self.values: list[int] = []
        self.seqs = array("q")
        self.odd: set[int] = set()  # objects whose value is no integer: always candidates, checked when opened

    def add(self, value: Any, seq: int) -> None:
        if value is None:
            return
        if type(value) is not int:
            self.odd.add(seq)
            return
        lo, hi = bisect_left(self.values, value), bisect_right(self.values, value)
        i = bisect_left(self.seqs, seq, lo, hi)
        self.values.insert(i, value)
        self.seqs.insert(i, seq)

    def remove(self, value: Any, seq: int) -> None:
        if value is None:
            return
        if type(value) is not int:
            self.odd.discard(seq)
            return
        lo, hi = bisect_left(self.values, value), bisect_right(self.values, value)
        i = bisect_left(self.seqs, seq, lo, hi)
        if i < hi and self.seqs[i] == seq:
            del self.values[i], self.seqs[i]

    def span(self, low: int | None, high: int | None) -> tuple[int, int]:
        """Positions ``[begin, end)`` of the values within the inclusive bounds."""
        begin = 0 if low is None else bisect_left(self.values, low)
        end = len(self.values) if high is None else bisect_right(self.values, high)
        return begin, max(begin, end)


class _Table:
    """One type's live objects: their sequence numbers, sorted, and the type's indexes."""

    def __init__(self, otype: ObjectType, number: int) -> None:
        self.type = otype
        self.number = number  # the type's number in Store._kinds
        self.all = array("q")
        self.indexes: dict[str, dict[Any, Bucket]] = {field: {} for field in otype.indexes}
        self.ranges: dict[str, _Range] = {field: _Range() for field in otype.ranges}
        self.monotonic = True
        self.last_created: int | None = None

    def index(self, seq: int, obj: dict[str, Any]) -> None:
        for field, index in self.indexes.items():
            _bucket_add(index, obj.get(field), seq)
        for field, ranged in self.ranges.items():
            ranged.add(obj.get(field), seq)

    def unindex(self, seq: int, obj: dict[str, Any]) -> None:
        for field, index in self.indexes.items():
            _bucket_remove(index, obj.get(field), seq)
        for field, ranged in self.ranges.items():
            ranged.remove(obj.get(field), seq)


def _bucket_add(index: dict[Any, Bucket], value: Any, seq: int) -> None:
    if value is None:
        return
    bucket = index.get(value)
    if bucket is None:
        index[value] = seq
    elif isinstance(bucket, int):
        index[value] = array("q", sorted((bucket, seq)))
    else:
        _insort(bucket, seq)


def _bucket_remove(index: dict[Any, Bucket], value: Any, seq: int) -> None:
    if value is None:
        return
    bucket = index.get(value)
    if bucket is None:
        return
    if isinstance(bucket, int):
        if bucket == seq:
            del index[value]
        return
    _discard(bucket, seq)
    if not bucket:
        del index[value]


class Store:
    """All objects of one server; ``types`` are the object types the resource families declared."""

    def __init__(self, types: Iterable[ObjectType]) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.types = {t.name: t for t in types}
        if len(self.types) > 255:
            raise ValueError("at most 255 object types")
        self._type_names = list(self.types)
        self.event_listeners: list[EventListener] = []
        self.clock_listeners: list[Callable[[Store, int, int], None]] = []
        self._rng = random.Random()
        self.reset()

    def reset(self) -> None:
        self.clock.offset = 0
        self.clock.frozen = None
        self.clock.pinned = None
        self.tables = {name: _Table(t, i) for i, (name, t) in enumerate(self.types.items())}
        self.deleted: set[str] = set()  # ids of deleted objects (their stubs stay retrievable)
        self._codec = Codec()
        # Everything per object, by sequence number (0 is unused): flat arrays, not a dict per object.
        self._seq: dict[str, int] = {}
        self._ids: list[str | None] = [None]
        self._kinds = bytearray(1)
        self._created = array("q", [0])
        self._blobs: list[bytes | None] = [None]  # packed objects (None: only in _open so far)
        self._private_blobs: dict[int, bytes] = {}
        # What requests work on until settle(): dicts, with the pickle they were opened from (None: new).
        self._open: dict[int, tuple[dict[str, Any], bytes | None]] = {}
        self._open_private: dict[str, tuple[dict[str, Any], bytes | None]] = {}

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
            if object_id not in self._seq:
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
        if object_id in self._seq:
            raise ValueError(f"{object_id} is already stored")
        created = obj.get("created") or 0
        if table.last_created is not None and created < table.last_created:
            table.monotonic = False
        table.last_created = created if table.last_created is None else max(created, table.last_created)
        seq = len(self._ids)
        self._seq[object_id] = seq
        self._ids.append(object_id)
        self._kinds.append(table.number)
        self._created.append(created)
        self._blobs.append(None)
        self._open[seq] = (obj, None)
        table.all.append(seq)
        table.index(seq, obj)
        return obj

    def update(self, obj: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` (top-level keys) and return Stripe's ``previous_attributes``."""
        previous = diff(obj, changes)
        if not previous:
            return previous
        seq = self._live_seq(obj)
        table = self._table_of(seq)
        for field, index in table.indexes.items():
            if field in previous:
                _bucket_remove(index, obj.get(field), seq)
                _bucket_add(index, changes[field], seq)
        for field, ranged in table.ranges.items():
            if field in previous:
                ranged.remove(obj.get(field), seq)
                ranged.add(changes[field], seq)
        if "created" in previous:  # never done by the families today; lists stay right if it is
            self._created[seq] = changes["created"] or 0
            table.monotonic = False
        obj.update(changes)
        return previous

    def delete(self, obj: dict[str, Any], stub: dict[str, Any]) -> None:
        """Take ``obj`` out of lists; retrieving its id afterwards returns ``stub`` (Stripe's deleted shape)."""
        seq = self._live_seq(obj)
        table = self._table_of(seq)
        _discard(table.all, seq)
        table.unindex(seq, obj)
        self._open[seq] = (stub, None)
        self.deleted.add(obj["id"])

    def private(self, object_id: str) -> dict[str, Any]:
        """Server-side state of an object that Stripe does not expose (a dict the caller may change)."""
        entry = self._open_private.get(object_id)
        if entry is None:
            seq = self._seq.get(object_id)
            blob = self._private_blobs.get(seq) if seq is not None else None
            if blob is None:
                entry = ({}, None)
            else:
                raw = self._codec.unpack(blob)
                entry = (self._codec.load(raw), raw)
            self._open_private[object_id] = entry
        return entry[0]

    # -- lookups ------------------------------------------------------------------------------
    def get(self, type_name: str, object_id: Any) -> dict[str, Any] | None:
        """A live object of that type, or None (unknown id, other type, deleted)."""
        seq = self._seq.get(object_id) if isinstance(object_id, str) else None
        if seq is None or self._type_names[self._kinds[seq]] != type_name or object_id in self.deleted:
            return None
        return self._live(seq)

    def require(self, type_name: str, object_id: Any, param: str = "id", status: int | None = None) -> dict[str, Any]:
        """The live object, or Stripe's resource_missing (404 for a path id, 400 for a parameter)."""
        obj = self.get(type_name, object_id)
        if obj is None:
            raise errors.no_such(self.types[type_name].label, str(object_id), param, status)
        return obj

    def lookup(self, object_id: Any) -> dict[str, Any] | None:
        """Any stored object by id, deleted stubs included (what expansion shows)."""
        seq = self._seq.get(object_id) if isinstance(object_id, str) else None
        return None if seq is None else self._live(seq)

    def kind_of(self, object_id: Any) -> str | None:
        """The type name of a stored id (deleted ones included), or None."""
        seq = self._seq.get(object_id) if isinstance(object_id, str) else None
        return None if seq is None else self._type_names[self._kinds[seq]]

    def items(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(id, type name, object)`` for everything stored, deleted stubs included, oldest first (read only)."""
        for seq in range(1, len(self._ids)):
            object_id = self._ids[seq]
            if object_id is not None:
                yield object_id, self._type_names[self._kinds[seq]], self._peek(seq)[0]

    # -- opening and packing ------------------------------------------------------------------
    def _table_of(self, seq: int) -> _Table:
        return self.tables[self._type_names[self._kinds[seq]]]

    def _live_seq(self, obj: dict[str, Any]) -> int:
        """The sequence number of ``obj``, which must be the store's own dict for it (a copy would be lost)."""
        seq = self._seq[obj["id"]]
        entry = self._open.get(seq)
        if entry is None:
            self._open[seq] = (obj, None)  # a copy from scan(): it becomes the live one
        elif entry[0] is not obj:
            raise RuntimeError(f"{obj['id']}: changing a copy, not the stored object (get it from the store)")
        return seq

    def _live(self, seq: int) -> dict[str, Any]:
        """The dict requests work on for ``seq``, opened from its pack on first use since the last settle."""
        entry = self._open.get(seq)
        if entry is None:
            raw = self._codec.unpack(self._blobs[seq])  # type: ignore[arg-type]
            obj = self._codec.load(raw)
            self._open[seq] = entry = (obj, raw)
            self._resolve(seq, obj)
        return entry[0]

    def _peek(self, seq: int) -> tuple[dict[str, Any], bytes | None]:
        """The object for reading only: the live dict if open (and None), else a copy and its pickle."""
        entry = self._open.get(seq)
        if entry is not None:
            return entry[0], None
        if self._table_of(seq).type.embeds:
            return self._live(seq), None  # embedded objects must be the store's own dicts
        raw = self._codec.unpack(self._blobs[seq])  # type: ignore[arg-type]
        return self._codec.load(raw), raw

    def _adopt(self, seq: int, obj: dict[str, Any], raw: bytes) -> dict[str, Any]:
        """Make a copy from :meth:`_peek` the live dict (it is handed out, and pages get changed in place)."""
        if seq not in self._open:
            self._open[seq] = (obj, raw)
        return self._open[seq][0]

    def _resolve(self, seq: int, obj: dict[str, Any]) -> None:
        for field in self._table_of(seq).type.embeds:
            listed = obj.get(field)
            if isinstance(listed, dict) and isinstance(listed.get("data"), list):
                listed["data"] = [self._live(self._seq[x.id]) if isinstance(x, _Ref) else x for x in listed["data"]]

    def _packable(self, seq: int, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with embedded stored objects replaced by references (a shallow copy where needed)."""
        embeds = self._table_of(seq).type.embeds
        if not embeds or obj.get("deleted") is True:
            return obj
        out = dict(obj)
        for field in embeds:
            listed = obj.get(field)
            if isinstance(listed, dict) and isinstance(listed.get("data"), list):
                refs: list[Any] = []
                for item in listed["data"]:
                    item_seq = self._seq.get(item.get("id", "")) if isinstance(item, dict) else None
                    entry = self._open.get(item_seq) if item_seq is not None else None
                    refs.append(_Ref(item["id"]) if entry is not None and entry[0] is item else item)
                out[field] = {**listed, "data": refs}
        return out

    def settle(self) -> None:
        """Pack what requests changed and let go of every open dict: the end of a request.

        Dicts handed out before are detached afterwards (changing them changes nothing).
        """
        opened = self._open
        for seq, (obj, raw) in opened.items():
            if raw is not None and self._table_of(seq).type.frozen:
                continue  # only read: an event is never changed once recorded
            new = dump(self._packable(seq, obj))
            if new != raw:
                self._blobs[seq] = self._codec.pack(self._kind(seq, obj), new, self._template(seq, obj))
        opened.clear()
        keep: dict[str, tuple[dict[str, Any], bytes | None]] = {}
        for object_id, (state, raw) in self._open_private.items():
            owner = self._seq.get(object_id)
            if owner is None:
                keep[object_id] = (state, raw)  # not an object (yet): engine-wide state stays a dict
                continue
            if not state:
                self._private_blobs.pop(owner, None)
                continue
            new = dump(state)
            if new != raw:
                self._private_blobs[owner] = self._codec.pack(("private", self._kinds[owner]), new)
        self._open_private = keep

    def _kind(self, seq: int, obj: dict[str, Any]) -> Any:
        """What an object compresses like: its type, an event's type, or a deleted stub."""
        type_name = self._type_names[self._kinds[seq]]
        if obj.get("deleted") is True:
            return ("deleted", type_name)
        if type_name == "event":
            return ("event", obj.get("type"))
        return type_name

    def _template(self, seq: int, obj: dict[str, Any]) -> str | None:
        return None if obj.get("deleted") is True else self._table_of(seq).type.fixture

    # -- lists --------------------------------------------------------------------------------
    def page(
        self,
        type_name: str,
        *,
        where: dict[str, Any] | None = None,
        low: int | None = None,
        high: int | None = None,
        ranges: dict[str, tuple[int | None, int | None]] | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        limit: int = 10,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page, newest first, and whether more objects lie beyond it (Stripe's ``has_more``).

        :param type_name: the table
        :param where: top-level fields that must equal the given value (a set or frozenset: any of them)
        :param low: inclusive lower bound on ``created``
        :param high: inclusive upper bound on ``created``
        :param ranges: inclusive ``(low, high)`` bounds on other integer fields (None: unbounded);
            an object without the field never matches a bounded range
        :param starting_after: the cursor: objects older than this id
        :param ending_before: the cursor: objects newer than this id (the page still comes newest first)
        :param limit: the page size
        :param predicate: a further test on each candidate
        """
        table = self.tables[type_name]
        cursor = starting_after or ending_before
        seq_low, seq_high = 1, len(self._ids) - 1  # inclusive bounds on sequence numbers
        if cursor is not None:
            if self.kind_of(cursor) != type_name:
                raise errors.no_such(table.type.label, cursor, "starting_after" if starting_after else "ending_before")
            if starting_after:
                seq_high = self._seq[cursor] - 1
            else:
                seq_low = self._seq[cursor] + 1
        if (low is not None or high is not None) and table.monotonic:
            created = self._created.__getitem__
            if low is not None:
                i = bisect_left(table.all, low, key=created)
                seq_low = max(seq_low, table.all[i] if i < len(table.all) else seq_high + 1)
            if high is not None:
                i = bisect_right(table.all, high, key=created)
                seq_high = min(seq_high, table.all[i - 1] if i > 0 else 0)

        checks: dict[str, Any] = {}
        sources: list[list[Sequence[int]]] = []  # per indexed field, the buckets any of which may hold a match
        for field, value in (where or {}).items():
            if field in table.indexes:
                values = value if isinstance(value, (set, frozenset)) else (value,)
                sources.append([b for b in (_members(table.indexes[field].get(v)) for v in values) if b])
            else:
                checks[field] = value
        sources.sort(key=lambda buckets: sum(len(b) for b in buckets))
        primary: list[Sequence[int]] = sources[0] if sources else [table.all]
        others = sources[1:]
        bounds = dict(ranges or {})
        for field, (lo, hi) in list(bounds.items()):
            if lo is None and hi is None:
                del bounds[field]

        def cheap(seq: int) -> bool:
            """What can be told without opening the object: created bounds, the other indexed fields."""
            if not seq_low <= seq <= seq_high:
                return False
            if (low is not None or high is not None) and not table.monotonic:
                created = self._created[seq]
                if (low is not None and created < low) or (high is not None and created > high):
                    return False
            return all(any(_contains(b, seq) for b in buckets) for buckets in others)

        def full(obj: dict[str, Any]) -> bool:
            for field, wanted in checks.items():
                value = obj.get(field)
                if (value not in wanted) if isinstance(wanted, (set, frozenset)) else (value != wanted):
                    return False
            for field, (lo, hi) in bounds.items():
                value = obj.get(field)
                if value is None or (lo is not None and value < lo) or (hi is not None and value > hi):
                    return False
            return predicate is None or predicate(obj)

        newest_first = not ending_before
        found: list[dict[str, Any]] = []

        def take(seqs: Iterable[int]) -> int | None:
            """Add matches from ``seqs`` (in page order) until the page is full; the last seq looked at."""
            last = None
            for seq in seqs:
                last = seq
                if not cheap(seq):
                    continue
                obj, raw = self._peek(seq)
                if full(obj):
                    found.append(obj if raw is None else self._adopt(seq, obj, raw))
                    if len(found) > limit:
                        break
            return last

        gather = self._gatherable(table, bounds)
        if gather is None:
            take(self._ordered(primary, seq_low, seq_high, newest_first))
        else:
            field, count = gather
            budget = max(1, count // _GATHER_FACTOR)  # objects a scan may open before gathering wins
            if budget > limit:
                opened = 0
                scanned = self._ordered(primary, seq_low, seq_high, newest_first)

                def counted() -> Iterator[int]:
                    nonlocal opened
                    for seq in scanned:
                        yield seq
                        opened += 1
                        if opened >= budget:
                            return

                last = take(counted())
                if len(found) <= limit and opened >= budget and last is not None:
                    # a long scan: gather the rest from the range index, beyond where the scan stopped
                    if newest_first:
                        seq_high = last - 1
                    else:
                        seq_low = last + 1
                    take(self._gathered(table, field, bounds[field], primary, cheap, newest_first))
            else:
                take(self._gathered(table, field, bounds[field], primary, cheap, newest_first))

        has_more = len(found) > limit
        found = found[:limit]
        if ending_before:
            found.reverse()
        return found, has_more

    @staticmethod
    def _gatherable(table: _Table, bounds: dict[str, tuple[int | None, int | None]]) -> tuple[str, int] | None:
        """The range-indexed bound with the fewest candidates, and how many: ``(field, count)``, or None."""
        best = None
        for field, (lo, hi) in bounds.items():
            ranged = table.ranges.get(field)
            if ranged is not None:
                begin, end = ranged.span(lo, hi)
                count = end - begin + len(ranged.odd)
                if best is None or count < best[1]:
                    best = (field, count)
        return best

    @staticmethod
    def _ordered(buckets: list[Sequence[int]], seq_low: int, seq_high: int, newest_first: bool) -> Iterator[int]:
        """Sequence numbers of the buckets (sorted, disjoint) within the bounds, newest or oldest first."""
        parts = []
        for bucket in buckets:
            begin, end = bisect_left(bucket, seq_low), bisect_right(bucket, seq_high)
            if begin < end:
                parts.append(bucket[begin:end] if len(buckets) > 1 else range(begin, end))
        if len(buckets) == 1:
            bucket = buckets[0]
            if parts:
                span = parts[0]
                yield from (bucket[i] for i in (reversed(span) if newest_first else span))
            return
        if newest_first:
            yield from heapq.merge(*(reversed(p) for p in parts), reverse=True)
        else:
            yield from heapq.merge(*parts)

    @staticmethod
    def _gathered(
        table: _Table,
        field: str,
        bound: tuple[int | None, int | None],
        primary: list[Sequence[int]],
        cheap: Callable[[int], bool],
        newest_first: bool,
    ) -> list[int]:
        """The candidates a range index holds within ``bound``, in page order (a sort of the few in range)."""
        ranged = table.ranges[field]
        begin, end = ranged.span(*bound)
        whole = len(primary) == 1 and primary[0] is table.all
        seqs = [
            seq
            for seq in (*ranged.seqs[begin:end], *ranged.odd)
            if cheap(seq) and (whole or any(_contains(b, seq) for b in primary))
        ]
        seqs.sort(reverse=newest_first)
        return seqs

    def scan(self, type_name: str, before: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(seqno, object)`` for every live object of a type, newest first, older than ``before``.

        For reading: an object not open in this request comes as a copy; to change one, :meth:`get` it.
        """
        seqs = self.tables[type_name].all
        end = len(seqs) if before is None else bisect_left(seqs, before)
        for i in range(end - 1, -1, -1):
            seq = seqs[i]
            yield seq, self._peek(seq)[0]

    def count(self, type_name: str) -> int:
        return len(self.tables[type_name].all)

    def ids(self, type_name: str) -> list[str]:
        """The ids of a type's live objects, oldest first."""
        return [self._ids[seq] for seq in self.tables[type_name].all]  # type: ignore[misc]

    def index_values(self, type_name: str, field: str) -> list[Any]:
        """The values an indexed field has in the table (e.g. every event type recorded)."""
        return list(self.tables[type_name].indexes[field])

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
