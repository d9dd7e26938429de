"""How the store keeps objects it is not working on: a pickle, deflated against a preset dictionary.

A stored Stripe object is a nested dict of 20–90 keys; as Python objects an invoice takes about
6 KB, its events 4 KB each. Most of that is structure every object of its kind repeats: the same
keys in the same order, the fixture's defaults. Deflate with a *preset dictionary* (zlib's
``zdict``) made of that structure stores only what differs: an invoice in about 300 bytes, an
event in 150–400. Each kind of object (a type, or for events an event type) gets its own
dictionary, made once from Stripe's fixture for the type followed by the first real object of the
kind (real ids, URLs and values look alike), so objects compress well from the first one on.

Pickle (not JSON) keeps every Python value exactly as it was (tuples, int keys, floats), so an
object decoded later is equal to the one stored, and dumping it again gives the same bytes unless
it changed: the store's way of telling what a request modified.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Hashable
from typing import Any

from .templates import fixture

PROTOCOL = pickle.HIGHEST_PROTOCOL
ZDICT_SIZE = 32 * 1024  # deflate looks back at most 32 KB: a longer preset dictionary is wasted
LEVEL = 6
WBITS = -15  # raw deflate: no header or checksum, which a 100-byte blob would feel


def dump(value: Any) -> bytes:
    """The pickle of ``value`` (what :meth:`Codec.pack` compresses, and what tells a change)."""
    return pickle.dumps(value, PROTOCOL)


class Codec:
    """Compress and restore pickles, one preset dictionary per kind of object (at most 65,536 kinds)."""

    def __init__(self) -> None:
        self._numbers: dict[Hashable, int] = {}
        self._zdicts: list[bytes] = []

    def pack(self, kind: Hashable, raw: bytes, template: str | None = None) -> bytes:
        """``raw`` (a :func:`dump`) compressed against ``kind``'s dictionary, made from it if it is the first.

        :param kind: what the value is, e.g. ``"invoice"`` or ``("event", "invoice.paid")``
        :param raw: the pickle to compress
        :param template: the fixture whose shape starts the dictionary (the first value follows it)
        """
        number = self._numbers.get(kind)
        if number is None:
            start = dump(fixture(template)) if template else b""
            number = len(self._zdicts)
            if number > 0xFFFF:
                raise OverflowError("too many kinds of compressed objects")
            self._zdicts.append((start + raw)[-ZDICT_SIZE:])
            self._numbers[kind] = number
        packer = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, 8, zlib.Z_DEFAULT_STRATEGY, self._zdicts[number])
        return number.to_bytes(2, "big") + packer.compress(raw) + packer.flush()

    def unpack(self, blob: bytes) -> bytes:
        """The pickle :meth:`pack` compressed."""
        number = int.from_bytes(blob[:2], "big")
        return zlib.decompressobj(WBITS, self._zdicts[number]).decompress(memoryview(blob)[2:])

    @staticmethod
    def load(raw: bytes) -> Any:
        return pickle.loads(raw)
