"""Values that may come as text: which hold a template, what "not given" looks like once rendered, yes/no."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What templates call the object a task acts on: a Stripe operator's rendered ``stripe_object``; in a
#: recipe's step without one, the trigger's object.
OBJECT_NAME = "obj"

# ``"{{ dag_run.conf.get('since') }}"`` with no ``since`` renders "None"; a missing param renders "".
_ABSENT = frozenset({"", "none", "null"})
_YES = frozenset({"true", "yes", "on", "1"})
_NO = frozenset({"false", "no", "off", "0"})


def is_unset(value: Any) -> bool:
    """Return whether an optional argument (possibly a rendered template) means "not given"."""
    return value is None or (isinstance(value, str) and value.strip().lower() in _ABSENT)


def parse_bool(value: Any, default: bool | None = None) -> bool | None:
    """
    Return a yes/no value as a bool, ``default`` if it is not given; raise :class:`ValueError` otherwise.

    Accepted: a bool; the numbers 1 and 0; the text true/false, yes/no, on/off or 1/0, in any case and
    with blanks around (templates render ``"True"``, JSON extras may hold ``"yes"`` or ``1``). Other
    text is refused rather than guessed: a typo in a switch must not flip it.

    :param value: the value
    :param default: what an unset value (None, "", "None", "null") means
    """
    if isinstance(value, bool):
        return value
    if is_unset(value):
        return default
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"expected true or false (yes/no, on/off, 1/0), got {value!r}")


def is_template(value: Any) -> bool:
    """Return whether ``value`` is a string holding Jinja markup."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def holds_template(value: Any) -> bool:
    """
    Return whether Airflow's rendering would change ``value``: a template string, or something resolved, anywhere in it.

    Walks mappings (their values, as Airflow renders them), lists, tuples and sets. Objects Airflow
    resolves when it renders (an ``XComArg``, a recipe template: anything with ``resolve``) count.

    :param value: a template field's value as given to the operator
    """
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(holds_template(v) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(holds_template(v) for v in value)
    return callable(getattr(value, "resolve", None))
