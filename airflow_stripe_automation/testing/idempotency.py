"""Idempotency keys as Stripe implements them: replay the first result, refuse a different request.

Keys are scoped to the API key, live 24 hours of *server* time (the test clock), and only results of
requests that started executing are saved: 2xx and 402 (a declined card is a result), never a 400
from validation, a 401, an injected outage or a crash, so a retry with the same key runs again.
While the first request runs, a second one with the same key gets Stripe's 409.

The SDK sends a key with every POST, so a day of a sweep leaves hundreds of thousands of entries:
each keeps its response body deflated against an earlier body of its endpoint (see :mod:`.compact`;
a 6 KB invoice in a few hundred bytes) and a 16-byte digest of its params instead of the params,
which is all a replay is compared by.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import errors
from .compact import Codec

TTL = 24 * 3600
MAX_KEY_LENGTH = 255


def fingerprint(params: dict[str, Any]) -> bytes:
    """A digest that is equal for equal decoded params: what a replay is compared by (not the params)."""
    return hashlib.blake2b(pickle.dumps(_canonical(params), pickle.HIGHEST_PROTOCOL), digest_size=16).digest()


def _endpoint(entry: Entry) -> tuple[str, ...]:
    """What a response looks like: its method, resource and action (``POST invoices finalize``), no ids."""
    parts = entry.path.split("/")
    return (entry.method, *parts[2:3], *parts[4:5])


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return ("d", tuple(sorted((k, _canonical(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("l", tuple(_canonical(v) for v in value))
    return value


@dataclass(slots=True)
class Entry:
    """A key's first request, and once it finished, its saved result (the body packed: see :meth:`IdempotencyCache.body`)."""

    method: str
    path: str
    params: bytes  # :func:`fingerprint` of the request's params
    created: int
    request_id: str
    status: int = 0
    packed_body: bytes = b""
    done: bool = False


class IdempotencyCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._scopes: dict[str, str] = {}  # one string per API key, not one per request
        self._codec = Codec()  # bodies of one endpoint look alike: each deflated against the first one

    def clear(self) -> None:
        self._entries.clear()
        self._scopes.clear()
        self._codec = Codec()

    def body(self, entry: Entry) -> bytes:
        """The response body saved for a finished entry."""
        return self._codec.unpack(entry.packed_body) if entry.packed_body else b""

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
        scope = self._scopes.setdefault(scope, scope)
        digest = fingerprint(params)
        entry = self._entries.get((scope, key))
        if entry is not None and now - entry.created >= TTL:
            del self._entries[(scope, key)]
            entry = None
        if entry is None:
            self._entries[(scope, key)] = Entry(method, path, digest, now, request_id)
            return None
        if not entry.done:
            raise errors.idempotency_key_in_use(
                "There is currently another in-progress request using this idempotent key (that probably means "
                f"you submitted twice, and the other request is still going through): {key}. Please try again later."
            )
        if (entry.method, entry.path) != (method, path):
            raise errors.idempotency(
                "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{entry.method} {entry.path}' vs '{method} {path}'). Try using a key other than '{key}' if "
                "you meant to execute a different request."
            )
        if entry.params != digest:
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
            entry.status, entry.packed_body, entry.done = status, self._codec.pack(_endpoint(entry), body), True
        else:
            del self._entries[(scope, key)]

    def _prune(self, now: int) -> None:
        while self._entries:
            first = next(iter(self._entries.values()))
            if now - first.created < TTL or not first.done:
                break
            self._entries.popitem(last=False)
