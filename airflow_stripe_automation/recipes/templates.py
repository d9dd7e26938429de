"""Recipe templates that see more than Airflow's context: the object being acted on and earlier steps' results.

In a recipe, ``{{ obj.customer }}`` is the object the step acts on: a Stripe step's
``stripe_object`` (by default the trigger's object that this run of the steps is about, one per
sensor match), and in any other step (``http_request``) the trigger's object.
``{{ steps.retrieve_charge.amount }}`` is what an earlier step returned for that same object, and
``steps.<trigger id>`` (``steps.early_fraud_warning``) the trigger's object itself, for a step that
acts on another one. Airflow's own Jinja renders them, with the task's usual context (``params``,
``dag_run``, ``ds``…) plus those two names and ``money`` (``{{ obj.amount | money(obj.currency) }}``
-> ``$1,500.00``). A template that is exactly one expression over data (``"{{ obj.amount }}"``,
``"{{ params.address }}"``) keeps its type: an int stays an int, a mapping a mapping, a string a
string — never re-read as a number, unlike Airflow's native rendering, so a phone number
``+4930123`` stays text. Anything else renders to text.

The object comes from the mapped task group's argument and each step's result from its XCom, both
resolved on the worker: nothing is evaluated at parse time and no recipe text is run as Python. In a
batch task (a trigger with ``batch_size``; :mod:`airflow_stripe_automation.batches`) both are
batches, and a template rendered for the object at ``batch_position`` reads the entry at that place;
each batch is read once per task, not once per object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes

from airflow_stripe_automation.batches import BATCH_POSITION, RESOLVED_CACHE, is_batch, redeemed
from airflow_stripe_automation.money import money_or_text
from airflow_stripe_automation.rendered import OBJECT_NAME

#: The name recipe templates add to Airflow's context; ``obj`` (OBJECT_NAME) they share with the operators.
STEPS_NAME = "steps"
#: What ``obj`` was called in a recipe's steps before it had one name; the builder says to use ``obj``.
RETIRED_OBJECT_NAME = "object"
#: A whole-value template reading only these keeps its type: data, not text.
DATA_NAMES = frozenset({OBJECT_NAME, STEPS_NAME, "params", "dag_run"})

_DATA_TYPES = (str, int, float, bool, type(None), dict, list)
_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


def references(source: str) -> tuple[set[str], set[str]]:
    """
    Return the context names ``source`` reads (``params``, ``obj``…) and which ``steps.<id>``.

    :param source: a Jinja template (raises ``jinja2.TemplateSyntaxError`` if it is not one)
    """
    names, steps, _ = _read(source)
    return set(names), set(steps)


# The DAG processor checks the same templates on every parse of a recipe: each is read once per
# process, and with one parse for all that is asked of it (names, steps, method lookups).
@lru_cache(maxsize=4096)
def _read(source: str) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    tree = _parse_env().parse(source)
    names = meta.find_undeclared_variables(tree)
    steps: set[str] = set()
    lookups: list[nodes.Getattr | nodes.Getitem] = [*tree.find_all(nodes.Getattr), *tree.find_all(nodes.Getitem)]
    for node in lookups:
        if isinstance(node.node, nodes.Name) and node.node.name == STEPS_NAME:
            if isinstance(node, nodes.Getattr):
                steps.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                steps.add(node.arg.value)
    if STEPS_NAME in names and not steps:
        steps.add("")  # `steps` used without naming a step: reported by the builder
    return frozenset(names), frozenset(steps), _method_lookups(tree)


class _AnyName(dict):
    """Filters and tests as Jinja's compiler sees them when only reading a template: every name exists."""

    def __contains__(self, name: object) -> bool:
        return True

    def __missing__(self, name: str) -> Any:
        return _any_filter

    def get(self, name: str, default: Any = None) -> Any:
        return self[name]


def _any_filter(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value


@lru_cache(maxsize=1)
def _parse_env() -> jinja2.Environment:
    # Filters come from Airflow, the DAG and operators (money, ds_add…): which exist is the
    # renderer's business; here we only read which names a template uses.
    env = jinja2.Environment()
    env.filters = _AnyName(env.filters)
    env.tests = _AnyName(env.tests)
    return env


_MAPPING_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))


def method_lookups(source: str) -> list[str]:
    """
    ``x.items``-style lookups in ``source`` that Jinja resolves to a mapping's method, not its key.

    ``{{ params.items }}`` is the ``items()`` method of ``params``, never the param called ``items``:
    such a field must be read as ``params['items']``.

    :param source: a Jinja template
    """
    return list(_read(source)[2])


def _method_lookups(tree: nodes.Template) -> tuple[str, ...]:
    called = {id(node.node) for node in tree.find_all(nodes.Call)}
    return tuple(
        sorted(
            {
                node.attr
                for node in tree.find_all(nodes.Getattr)
                if node.attr in _MAPPING_METHODS and id(node) not in called
            }
        )
    )


def whole_expression(source: str) -> str | None:
    """The expression inside ``"{{ expr }}"`` when that is all ``source`` holds, else None."""
    match = _WHOLE_EXPRESSION.match(source)
    if not match or "{{" in match["expr"] or "{%" in source:
        return None
    return match["expr"].strip()


class RecipeTemplate:
    """
    A template field value rendered with the object acted on and earlier steps' results.

    Airflow resolves it when it renders the task's template fields (like an XComArg), on the worker.

    ``obj`` is the object the task itself offers (a Stripe operator's rendered ``stripe_object``);
    in a task that offers none, ``obj`` below.

    :param source: the Jinja template from the recipe
    :param obj: the trigger's object: the mapped task group's argument (resolved per object), or None
    :param steps: step id -> that step's output (an XComArg, or the trigger's object), for ``steps.<id>``
    """

    def __init__(self, source: str, *, obj: Any = None, steps: Mapping[str, Any] | None = None) -> None:
        self.source = source
        self.obj = obj
        self.steps = dict(steps or {})
        self.expression = whole_expression(source)

    def resolve(self, context: Mapping[str, Any]) -> Any:
        variables = dict(context)
        offered = context.get(OBJECT_NAME)  # None while a Stripe operator renders its stripe_object
        if offered is None and self.obj is not None:
            offered = resolved(self.obj, context)
        variables[OBJECT_NAME] = _plain(offered)
        variables[STEPS_NAME] = _StepResults(self.steps, context)
        variables.setdefault("money", money_or_text)
        env = context["task"].get_template_env()
        env.filters.setdefault("money", money_or_text)
        if self.expression is not None:
            value = _plain(env.compile_expression(self.expression, undefined_to_none=True)(**variables))
            return value if isinstance(value, _DATA_TYPES) else str(value)
        return env.from_string(self.source).render(**variables)

    def __str__(self) -> str:
        # What the UI shows before the run, and what DAG serialisation stores.
        return self.source

    __repr__ = __str__


class _StepResults:
    """``steps.<id>`` in a template: the step's result for the current object, read when used."""

    def __init__(self, outputs: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        self._outputs = outputs
        self._context = context

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Any:
        if name not in self._outputs:
            raise KeyError(f"no earlier step {name!r}")
        return _plain(resolved(self._outputs[name], self._context))


def resolved(value: Any, context: Mapping[str, Any]) -> Any:
    """
    What an XComArg (or the task group's argument) resolves to for the object being rendered.

    In a batch task it resolves to the batch; the entry at ``batch_position`` is this object's. The
    batch is read once per task (the per-object contexts share one cache), not once per object.

    :param value: anything with ``resolve(context)``
    :param context: the context the template renders with
    """
    cache = context.get(RESOLVED_CACHE)
    if cache is None:
        out = redeemed(value.resolve(context), context)
    else:
        if id(value) not in cache:
            cache[id(value)] = redeemed(value.resolve(context), context)
        out = cache[id(value)]
    position = context.get(BATCH_POSITION)
    if position is not None and is_batch(out) and 0 <= position < len(out):
        return out[position]
    return out


def _plain(value: Any) -> Any:
    # XCom values come back as lazy sequences or read-only mappings: hand templates plain data.
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (
        hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes))
    ):
        return [_plain(v) for v in value]
    return value
