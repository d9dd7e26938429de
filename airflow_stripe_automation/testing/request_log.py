"""The request log: what reached the server's ``/v1`` API, oldest first, for tests to inspect.

It keeps the last :data:`SIZE` requests. A record is kept as a tuple in :data:`FIELDS` order (a
dict per request costs five times as much, and a sweep sends hundreds of thousands) and handed
out as a fresh dict.
"""

from __future__ import annotations

from collections import deque
from typing import Any

SIZE = 100_000
FIELDS = (
    "method",
    "path",
    "params",
    "idempotency_key",
    "status",
    "replayed",
    "request_id",
    "stripe_version",
    "stripe_account",
    "time",
)
_MISSING = object()  # a field the record never got (``time`` of a request refused before it was read)


class RequestLog:
    """The last :data:`SIZE` records; all methods expect the caller to hold the server's lock."""

    def __init__(self, size: int = SIZE) -> None:
        """
        :param size: how many of the newest records to keep
        """
        self._records: deque[tuple[Any, ...]] = deque(maxlen=size)

    def append(self, record: dict[str, Any]) -> None:
        """Keep ``record`` (the keys of :data:`FIELDS`, each optional)."""
        self._records.append(tuple(record.get(name, _MISSING) for name in FIELDS))

    def records(self) -> list[dict[str, Any]]:
        """Every kept record as a new dict, oldest first."""
        return [{k: v for k, v in zip(FIELDS, values, strict=True) if v is not _MISSING} for values in self._records]

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)
