"""Sweeps in batches: how a sensor's matches are split, and what one batch task reports about its objects.

A daily sweep may match thousands of objects; a backfill day, hundreds of thousands. One mapped task
per object stops at Airflow's ``[core] max_map_length`` (1,024 by default) and costs a process and
scheduler work per object. So a sensor given ``batch_size`` returns its matches as a list of
batches (lists of summaries), and each mapped task works through one batch: a Stripe operator whose
``stripe_object`` is a list acts on each object in turn, with the same key and mark per object as
when it is mapped over single objects (:mod:`airflow_stripe_automation.idempotency` keys on the
DAG, the task and the object, never on the batch).

What a batch task does with each object is recorded here (:class:`BatchReport`): done, skipped (its
condition did not hold, or an upstream step skipped it), or failed, with why. A failed object does
not stop the others; the task fails at the end naming each failed object, and its retry redoes
only what is unfinished, since what was done finds its key or mark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The context name a batch task's templates read the object's place in its batch under (0-based).
BATCH_POSITION = "batch_position"
#: The context name of the cache a batch task's per-object contexts share (what XComArgs resolved to).
RESOLVED_CACHE = "stripe_batch_resolved"
#: The XCom key under which a batch task lists the positions it skipped, for the steps after it.
SKIPPED_KEY = "batch_skipped"
#: Objects named in a batch task's failure message; the log lists them all.
_NAMED_FAILURES = 20


def is_batch(value: Any) -> bool:
    """Return whether a rendered ``stripe_object`` is a batch (a list of objects), not one object."""
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        return False
    # XCom values come back as lazy sequences as well as lists.
    return isinstance(value, Sequence) or (hasattr(value, "__len__") and hasattr(value, "__getitem__"))


def split(matches: Sequence[Any], batch_size: int, max_batches: int) -> tuple[list[list[Any]], int]:
    """
    Return ``matches`` cut into batches of ``batch_size``, and the size used.

    When that would make more than ``max_batches`` batches (Airflow's ``max_map_length``), the
    batches grow instead, so any number of matches fits in one mapped task.

    :param matches: the objects found, in the order they are acted on
    :param batch_size: the objects per batch asked for
    :param max_batches: the most mapped tasks one task may expand to
    """
    size = max(batch_size, math.ceil(len(matches) / max_batches)) if matches else batch_size
    return [list(matches[i : i + size]) for i in range(0, len(matches), size)], size


def object_label(obj: Any, position: int) -> str:
    """How logs name an object of a batch: its id (or the invoice a result is about), else its place."""
    if isinstance(obj, Mapping):
        for name in ("id", "invoice", "about"):
            if isinstance(obj.get(name), str) and obj[name]:
                return obj[name]
    return f"object #{position + 1}"


@dataclass
class BatchReport:
    """
    What one batch task did with each of its objects.

    :param size: the number of objects in the batch
    """

    size: int
    results: list[Any] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failures: list[tuple[int, str, BaseException]] = field(default_factory=list)

    def done(self, result: Any) -> None:
        """Record the next object as done, with what the action returned."""
        self.results.append(result)

    def skip(self, position: int) -> None:
        """Record the object at ``position`` as skipped: nothing was done, by design."""
        self.skipped.append(position)
        self.results.append(None)

    def fail(self, position: int, label: str, error: BaseException) -> None:
        """Record the object at ``position`` as failed with ``error``; the others go on."""
        self.failures.append((position, label, error))
        self.results.append(None)

    @property
    def done_count(self) -> int:
        return self.size - len(self.skipped) - len(self.failures)

    def summary(self) -> str:
        """One line: how many objects were done, skipped and failed."""
        return f"{self.done_count} done, {len(self.skipped)} skipped, {len(self.failures)} failed of {self.size}"

    def failure_message(self) -> str:
        """The failed objects and why, for the task's exception (the first ones; the log has all)."""
        named = "; ".join(f"{label}: {type(err).__name__}: {err}" for _, label, err in self.failures[:_NAMED_FAILURES])
        more = len(self.failures) - _NAMED_FAILURES
        rest = f"; and {more} more (see the log)" if more > 0 else ""
        return f"{len(self.failures)} of {self.size} objects failed ({self.summary()}): {named}{rest}"
