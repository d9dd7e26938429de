"""Idempotency keys as Stripe implements them: replay the first result, refuse a different request.

Keys are scoped to the API key, live 24 hours of *server* time (the test clock), and only results of
requests that started executing are saved: 2xx and 402 (a declined card is a result), never a 400
from validation, a 401, an injected outage or a crash, so a retry with the same key runs again.
While the first request runs, a second one with the same key gets Stripe's 409.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import errors

TTL = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass
class Entry:
    method: str
    path: str
    params: dict[str, Any]
    created: int
    request_id: str
    status: int = 0
    body: bytes = b""
    done: bool = False


class IdempotencyCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def begin(
        self, scope: str, key: str, method: str, path: str, params: dict[str, Any], now: int, request_id: str
    ) -> Entry | None:
        """The saved entry to replay, or None after reserving ``key`` for this request."""
        if len(key) > MAX_KEY_LENGTH:
            raise errors.invalid(
                f"Idempotency keys can be at most {MAX_KEY_LENGTH} characters long (got {len(key)}).",
                "Idempotency-Key",
            )
        self._prune(now)
        entry = self._entries.get((scope, key))
        if entry is not None and now - entry.created >= TTL:
            del self._entries[(scope, key)]
            entry = None
        if entry is None:
            self._entries[(scope, key)] = Entry(method, path, params, now, request_id)
            return None
        if not entry.done:
            raise errors.idempotency(
                "There is currently another in-progress request using this idempotent key (that probably means "
                f"you submitted twice, and the other request is still going through): {key}. Please try again later.",
                status=409,
            )
        if (entry.method, entry.path) != (method, path):
            raise errors.idempotency(
                "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{entry.method} {entry.path}' vs '{method} {path}'). Try using a key other than '{key}' if "
                "you meant to execute a different request."
            )
        if entry.params != params:
            raise errors.idempotency(
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request."
            )
        return entry

    def finish(self, scope: str, key: str, status: int, body: bytes) -> None:
        """Save the result if Stripe would (2xx, 402); otherwise free the key for a retry."""
        entry = self._entries.get((scope, key))
        if entry is None or entry.done:
            return
        if 200 <= status < 300 or status == 402:
            entry.status, entry.body, entry.done = status, body, True
        else:
            del self._entries[(scope, key)]

    def _prune(self, now: int) -> None:
        while self._entries:
            first = next(iter(self._entries.values()))
            if now - first.created < TTL or not first.done:
                break
            self._entries.popitem(last=False)
