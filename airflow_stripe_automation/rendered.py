"""What rendered templates look like when the value they read was not given."""

from __future__ import annotations

from typing import Any

# ``"{{ dag_run.conf.get('since') }}"`` with no ``since`` renders "None"; a missing param renders "".
_ABSENT = frozenset({"", "none", "null"})


def is_unset(value: Any) -> bool:
    """Return whether an optional argument (possibly a rendered template) means "not given"."""
    return value is None or (isinstance(value, str) and value.strip().lower() in _ABSENT)
