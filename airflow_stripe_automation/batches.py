"""Sweeps in batches: how a sensor's matches are split, and what one batch task reports about its objects.

A daily sweep may match thousands of objects; a backfill day, hundreds of thousands. One mapped task
per object stops at Airflow's ``[core] max_map_length`` (1,024 by default) and costs a process and
scheduler work per object. So a sensor given ``batch_size`` pushes each batch of its matches
(a list of summaries) as an XCom of its own and returns a short *ticket* per batch (:func:`ticket`:
the XCom key, the count, the first and last ids); each mapped task gets one ticket and reads only
its own batch, so no task reads, and no single XCom holds, the whole sweep. The sensor pushes each
batch as soon as it is full (:class:`BatchStream`), so it never holds the sweep either; as the number
of batches is known only at the end, a sweep with more batches than ``max_map_length`` hands each
mapped task a ticket naming several consecutive batches (:func:`combined`). A Stripe operator whose
``stripe_object`` is a batch (or a ticket) acts on each object in turn, with the same key and mark per object as
when it is mapped over single objects (:mod:`airflow_stripe_automation.idempotency` keys on the
DAG, the task and the object, never on the batch).

What a batch task does with each object is recorded here (:class:`BatchReport`): done, skipped (its
condition did not hold, or an upstream step skipped it), or failed, with why. A failed object does
not stop the others; the task fails at the end naming each failed object, and its retry redoes
only what is unfinished, since what was done finds its key or mark.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The context name a batch task's templates read the object's place in its batch under (0-based).
BATCH_POSITION = "batch_position"
#: The context name of the cache a batch task's per-object contexts share (what XComArgs resolved to).
RESOLVED_CACHE = "stripe_batch_resolved"
#: The XCom key under which a batch task lists the positions it skipped, for the steps after it.
SKIPPED_KEY = "batch_skipped"
#: The context name of what a task acts on, for its ``map_index_template`` (how the UI names it).
LABEL_NAME = "stripe_label"
#: The key of a batch ticket: the XCom key its objects were pushed under (the first one's, if several).
TICKET_KEY = "stripe_batch"
#: The key of a ticket naming several consecutive batches: all their XCom keys, in order.
BATCHES_KEY = "stripe_batches"
#: Objects named in a batch task's failure message; the log lists them all.
_NAMED_FAILURES = 20


def is_batch(value: Any) -> bool:
    """Return whether a rendered ``stripe_object`` is a batch (a list of objects), not one object."""
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        return False
    # XCom values come back as lazy sequences as well as lists.
    return isinstance(value, Sequence) or (hasattr(value, "__len__") and hasattr(value, "__getitem__"))


def batch_key(index: int) -> str:
    """The XCom key of a sensor's ``index``-th batch (0-based): ``batch_00000``, ``batch_00001``, …"""
    return f"batch_{index:05d}"


def ticket(task_id: str, index: int, batch: Sequence[Any]) -> dict[str, Any]:
    """
    The small stand-in for a batch that a sensor returns: where the batch is, how many, which ids.

    :param task_id: the task that pushed the batch
    :param index: the batch's place among its task's batches
    :param batch: the objects of the batch
    """
    return {
        TICKET_KEY: batch_key(index),
        "task_id": task_id,
        "count": len(batch),
        "first": object_label(batch[0], 0) if batch else None,
        "last": object_label(batch[-1], len(batch) - 1) if batch else None,
    }


class BatchStream:
    """
    Cut objects into batches as they arrive, pushing each batch as soon as it is full.

    Only the batch being filled and one ticket per pushed batch are held, so a sensor's memory does
    not grow with its sweep. Batches keep the order the objects came in.

    :param task_id: the task that pushes the batches (its tickets name it)
    :param batch_size: the objects per batch
    :param push: stores one batch: ``push(key, objects)`` (the task instance's ``xcom_push``)
    """

    def __init__(self, task_id: str, batch_size: int, push: Callable[[str, list[Any]], None]) -> None:
        self.task_id = task_id
        self.batch_size = batch_size
        self.push = push
        self.count = 0
        self.tickets: list[dict[str, Any]] = []
        self._batch: list[Any] = []

    def add(self, obj: Any) -> None:
        """Take the next object; push the batch if it is now full."""
        self._batch.append(obj)
        self.count += 1
        if len(self._batch) >= self.batch_size:
            self._flush()

    def close(self) -> list[dict[str, Any]]:
        """Push the last, partly filled batch (if any) and return a ticket per batch pushed."""
        if self._batch:
            self._flush()
        return self.tickets

    def _flush(self) -> None:
        index = len(self.tickets)
        self.push(batch_key(index), self._batch)
        self.tickets.append(ticket(self.task_id, index, self._batch))
        self._batch = []


def batches_per_ticket(batches: int, max_tickets: int) -> int:
    """How many consecutive batches each ticket names so that ``batches`` fit in ``max_tickets`` tickets."""
    return max(1, math.ceil(batches / max_tickets))


def combined(tickets: Sequence[Mapping[str, Any]], max_tickets: int) -> list[dict[str, Any]]:
    """
    Return ``tickets``, or fewer tickets each naming several consecutive batches, at most ``max_tickets``.

    A ticket for several batches keeps the first one's key under ``stripe_batch`` and names them all,
    in order, under ``stripe_batches``; its count and first and last ids are those of the batches
    together. A ticket for one batch has no ``stripe_batches``, as before.

    :param tickets: one ticket per batch, in the order the batches were pushed
    :param max_tickets: the most tickets to return (Airflow's ``max_map_length``)
    """
    per = batches_per_ticket(len(tickets), max_tickets)
    if per == 1:
        return [dict(t) for t in tickets]
    out = []
    for start in range(0, len(tickets), per):
        group = tickets[start : start + per]
        out.append(
            {
                TICKET_KEY: group[0][TICKET_KEY],
                "task_id": group[0]["task_id"],
                "count": sum(t["count"] for t in group),
                "first": group[0]["first"],
                "last": group[-1]["last"],
                BATCHES_KEY: [t[TICKET_KEY] for t in group],
            }
        )
    return out


def is_ticket(value: Any) -> bool:
    """Return whether ``value`` is a batch ticket (see :func:`ticket`)."""
    return isinstance(value, Mapping) and isinstance(value.get(TICKET_KEY), str) and "task_id" in value


def redeemed(value: Any, context: Mapping[str, Any]) -> Any:
    """
    The batch a ticket stands for, read from its XCom (from each of them, in order, for a ticket naming
    several); anything else as it is.

    :param value: a ticket, a batch or one object
    :param context: the running task's context (its ``ti`` reads the XCom)
    """
    if not is_ticket(value):
        return value
    out: list[Any] = []
    for key in value.get(BATCHES_KEY) or [value[TICKET_KEY]]:
        objects = context["ti"].xcom_pull(task_ids=value["task_id"], key=key, map_indexes=-1)
        if objects is None:
            raise LookupError(f"batch {key} of {value['task_id']} is not in XCom (was the task cleared?)")
        out.extend(objects)
    return out


def object_label(obj: Any, position: int) -> str:
    """How logs name an object of a batch: its id (or the invoice a result is about), else its place."""
    if isinstance(obj, Mapping):
        for name in ("id", "invoice", "about"):
            if isinstance(obj.get(name), str) and obj[name]:
                return obj[name]
    return f"object #{position + 1}"


def _short_name(obj: Any, position: int) -> str:
    """What people call an object: an invoice's number, else its id (or its place)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("number"), str) and obj["number"]:
        return obj["number"]
    return object_label(obj, position)


def ui_label(obj: Any) -> str:
    """
    How the UI names a task acting on one object: ``INV-0042 · Acme Corp``, ``cus_123 · ann@example.com``.

    The invoice number (else the id), then whom it concerns, when the summary says.

    :param obj: the object (a summary)
    """
    name = _short_name(obj, 0)
    if not isinstance(obj, Mapping):
        return name
    who = next(
        (
            obj[k]
            for k in ("customer_name", "customer_email", "name", "email")
            if isinstance(obj.get(k), str) and obj[k]
        ),
        None,
    )
    return f"{name} · {who}" if who and who != name else name


def batch_label(batch: Sequence[Any]) -> str:
    """How the UI names a batch task: its first and last objects and how many, ``INV-1 … INV-9 (100)``."""
    if not batch:
        return "empty batch"
    if len(batch) == 1:
        return f"{ui_label(batch[0])} (1)"
    first, last = _short_name(batch[0], 0), _short_name(batch[-1], len(batch) - 1)
    return f"{first} … {last} ({len(batch)})"


class CarriedFailure(Exception):
    """
    A failure recorded before a deferral, kept as text: an exception does not survive being serialised.

    :param kind: the original exception's class name
    :param message: what it said
    :param permanent: whether retrying cannot help (it was an ``AirflowFailException``)
    """

    def __init__(self, kind: str, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.permanent = permanent


def failure_kind(error: BaseException) -> str:
    """The name a failure is reported under: its class, or the original's for a carried one."""
    return error.kind if isinstance(error, CarriedFailure) else type(error).__name__


def is_permanent(error: BaseException) -> bool:
    """Whether retrying the task cannot help this failure (an ``AirflowFailException``, carried or not)."""
    from airflow.sdk.exceptions import AirflowFailException

    return error.permanent if isinstance(error, CarriedFailure) else isinstance(error, AirflowFailException)


@dataclass
class BatchReport:
    """
    What one batch task did with each of its objects.

    A task that defers (a grace period, a retry schedule) carries its report through the deferral
    as :meth:`as_state` and gets it back with :meth:`from_state`.

    :param size: the number of objects in the batch
    """

    size: int
    results: list[Any] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    #: of the skipped, those held for want of a person's approval (:mod:`airflow_stripe_automation.approval`)
    not_approved: list[int] = field(default_factory=list)
    failures: list[tuple[int, str, BaseException]] = field(default_factory=list)

    def done(self, result: Any) -> None:
        """Record the next object as done, with what the action returned."""
        self.results.append(result)

    def settle(self, position: int, result: Any) -> None:
        """Replace what the object at ``position`` has so far (a deferred object finishing later)."""
        self.results[position] = result

    def skip(self, position: int) -> None:
        """Record the object at ``position`` as skipped: nothing was done, by design."""
        self.skipped.append(position)
        self._put(position, None)

    def hold(self, position: int) -> None:
        """Record the object at ``position`` as not approved: skipped, nothing written, for want of approval."""
        self.not_approved.append(position)
        self.skip(position)

    def fail(self, position: int, label: str, error: BaseException) -> None:
        """Record the object at ``position`` as failed with ``error``; the others go on."""
        self.failures.append((position, label, error))
        self._put(position, None)

    def _put(self, position: int, value: Any) -> None:
        if position < len(self.results):
            self.results[position] = value
        else:
            self.results.append(value)

    @property
    def done_count(self) -> int:
        return self.size - len(self.skipped) - len(self.failures)

    def summary(self) -> str:
        """One line: how many objects were done, skipped and failed."""
        held = f" ({len(self.not_approved)} not approved)" if self.not_approved else ""
        return f"{self.done_count} done, {len(self.skipped)} skipped{held}, {len(self.failures)} failed of {self.size}"

    def failure_message(self) -> str:
        """The failed objects and why, for the task's exception (the first ones; the log has all)."""
        named = "; ".join(f"{label}: {failure_kind(err)}: {err}" for _, label, err in self.failures[:_NAMED_FAILURES])
        more = len(self.failures) - _NAMED_FAILURES
        rest = f"; and {more} more (see the log)" if more > 0 else ""
        return f"{len(self.failures)} of {self.size} objects failed ({self.summary()}): {named}{rest}"

    def as_state(self) -> dict[str, Any]:
        """The report as JSON-serialisable data, to travel in a deferral (results must be JSON already)."""
        return {
            "size": self.size,
            "results": self.results,
            "skipped": self.skipped,
            "not_approved": self.not_approved,
            "failures": [[p, label, failure_kind(e), str(e), is_permanent(e)] for p, label, e in self.failures],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> BatchReport:
        """The report :meth:`as_state` gave, failures carried as :class:`CarriedFailure`."""
        return cls(
            size=int(state["size"]),
            results=list(state["results"]),
            skipped=[int(p) for p in state["skipped"]],
            not_approved=[int(p) for p in state.get("not_approved", ())],
            failures=[
                (int(p), str(lab), CarriedFailure(kind, msg, bool(perm)))
                for p, lab, kind, msg, perm in state["failures"]
            ],
        )
