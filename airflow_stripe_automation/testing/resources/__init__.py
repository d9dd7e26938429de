"""Resource families: each module here defines ``family = ResourceFamily(...)`` and is found by itself.

To add refunds, invoices, ...: create ``resources/refunds.py`` with a family, declare its object
types and routes (see :mod:`..registry`), done.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..registry import ResourceFamily


def load_families() -> list[ResourceFamily]:
    families = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        family = getattr(module, "family", None)
        if isinstance(family, ResourceFamily):
            families.append(family)
    return families
