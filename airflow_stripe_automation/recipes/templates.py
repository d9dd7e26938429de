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

Recipe authors do not write Python, and a recipe must not reach what its DAG's Python could: every
recipe template renders in a locked-down Jinja environment (an ``ImmutableSandboxedEnvironment``:
no ``_``-names, no mutating calls, no file loader) that sees only the names below
(:data:`TEMPLATE_NAMES`) as plain data — no ``conn``, ``var``, ``ti``, ``task`` or Airflow's
``macros`` modules (``macros`` offers only its date helpers, :data:`MACRO_NAMES`). The builder
refuses, when the recipe is parsed, a template naming anything else (:func:`locked_out`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

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
#: The run's fields a recipe template reads by name (``{{ ds }}``, ``{{ run_id }}``), from Airflow's context.
RUN_NAMES = frozenset(
    {
        "run_id",
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
    }
)
#: What ``dag_run`` holds in a recipe template: the run's conf and fields, as data.
DAG_RUN_FIELDS = ("conf", "dag_id", "run_id", "run_type", "logical_date", "data_interval_start", "data_interval_end")
#: What ``macros`` holds in a recipe template: Airflow's date helpers, not its modules (``uuid``, ``json``…).
MACRO_NAMES = ("datetime", "timedelta", "ds_add", "ds_format")
#: Jinja's own globals a recipe template may call (``{{ dict(obj, event='paid') }}``).
JINJA_GLOBALS = frozenset({"range", "dict", "namespace", "cycler", "joiner"})
#: Every name a recipe template may read; nothing else is in its context.
TEMPLATE_NAMES = frozenset({*DATA_NAMES, "money", "macros", *RUN_NAMES, *JINJA_GLOBALS})
# Restricted members of these names: which a template may read (``macros.uuid`` is not one).
_MEMBERS = {"macros": MACRO_NAMES, "dag_run": DAG_RUN_FIELDS}
# In Airflow's context, not a recipe template's: said plainly, without a "did you mean".
_AIRFLOW_ONLY = frozenset({"conn", "var", "ti", "task_instance", "task", "dag", "outlet_events", "inlet_events"})
_READABLE = ", ".join(["params", OBJECT_NAME, f"{STEPS_NAME}.<id>", "money", "macros", "dag_run", *sorted(RUN_NAMES)])
_STATEMENT_NAMES = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Extends: "extends",
}

_DATA_TYPES = (str, int, float, bool, type(None), dict, list)
_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


def references(source: str) -> tuple[set[str], set[str]]:
    """
    Return the context names ``source`` reads (``params``, ``obj``…) and which ``steps.<id>``.

    :param source: a Jinja template (raises ``jinja2.TemplateSyntaxError`` if it is not one)
    """
    reading = _read(source)
    return set(reading.names), set(reading.steps)


class _Reading(NamedTuple):
    names: frozenset[str]
    steps: frozenset[str]
    methods: tuple[str, ...]
    locked_out: tuple[str, ...]


# The DAG processor checks the same templates on every parse of a recipe: each is read once per
# process, and with one parse for all that is asked of it (names, steps, method lookups, names refused).
@lru_cache(maxsize=4096)
def _read(source: str) -> _Reading:
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
    return _Reading(frozenset(names), frozenset(steps), _method_lookups(tree), _locked_out(tree, names))


def locked_out(source: str) -> list[str]:
    """
    What ``source`` reads that a recipe template may not, in words: names, ``_``-attributes, filters, file statements.

    Recipe templates see only :data:`TEMPLATE_NAMES` (``macros`` and ``dag_run`` only their listed
    members); ``object``, the retired name of ``obj``, is left to the builder's own message.

    :param source: a Jinja template (raises ``jinja2.TemplateSyntaxError`` if it is not one)
    """
    return list(_read(source).locked_out)


def _locked_out(tree: nodes.Template, names: set[str]) -> tuple[str, ...]:
    from airflow_stripe_automation.suggestions import did_you_mean

    found: list[str] = []
    for node_type, statement in _STATEMENT_NAMES.items():
        if any(True for _ in tree.find_all(node_type)):
            found.append(f"'{{% {statement} %}}' cannot be used in a recipe template: it would read other files")
    for name in sorted(names - TEMPLATE_NAMES - {RETIRED_OBJECT_NAME}):
        if name in _AIRFLOW_ONLY:
            why, hint = "a recipe cannot read Airflow's connections, variables, task instance or DAG", ""
        else:
            why, hint = "not a name recipe templates know", did_you_mean(name, sorted(TEMPLATE_NAMES))
        found.append(f"{name!r}: {why} (templates read only {_READABLE}){hint}")
    # (what is read from, the member, whether as an attribute): obj.x, obj['x']
    lookups: list[tuple[nodes.Node, str, bool]] = [(n.node, n.attr, True) for n in tree.find_all(nodes.Getattr)]
    lookups += [
        (n.node, n.arg.value, False)
        for n in tree.find_all(nodes.Getitem)
        if isinstance(n.arg, nodes.Const) and isinstance(n.arg.value, str)
    ]
    for owner, member, as_attribute in lookups:
        # A mapping's key may start with '_' (obj['metadata']['_source']); an attribute may not.
        if member.startswith("__") or (as_attribute and member.startswith("_")):
            found.append(
                f"{member!r} cannot be read in a recipe template: names starting with '_' are Python internals"
            )
        elif isinstance(owner, nodes.Name) and owner.name in _MEMBERS and owner.name in names:
            allowed = _MEMBERS[owner.name]
            if member not in allowed:
                found.append(
                    f"'{owner.name}.{member}' is not available in recipe templates"
                    f"{did_you_mean(member, allowed)} ({owner.name} holds only {', '.join(allowed)})"
                )
    # Attributes read by a name the lookups above cannot see: the attr filter, str.format's "{0.x}".
    if any(n.name == "attr" for n in tree.find_all(nodes.Filter)):
        found.append(
            "the 'attr' filter cannot be used in a recipe template: it reads attributes by a computed name "
            "(read a field as obj['name'])"
        )
    for call in tree.find_all(nodes.Call):
        node = call.node
        if isinstance(node, nodes.Getattr) and node.attr in ("format", "format_map"):
            found.append(
                f"'.{node.attr}()' cannot be used in a recipe template: its fields read attributes "
                "('{0.__class__}'); use the 'format' filter ('%s' | format(x)) or '~'"
            )
    env = locked_env()  # the filters and tests a recipe template renders with
    for kind, known, used in (
        ("filter", set(env.filters), {n.name for n in tree.find_all(nodes.Filter)}),
        ("test", set(env.tests), {n.name for n in tree.find_all(nodes.Test)}),
    ):
        for name in sorted(used - known):
            found.append(f"no {kind} named {name!r} in recipe templates{did_you_mean(name, sorted(known))}")
    return tuple(dict.fromkeys(found))


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
    return list(_read(source).methods)


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
    A recipe's template field value, rendered locked down with the object acted on and earlier steps' results.

    Airflow resolves it when it renders the task's template fields (like an XComArg), on the worker;
    it renders in :func:`locked_env` with :func:`template_variables`, never in the DAG's own Jinja
    environment with the task's whole context.

    ``obj`` is the object the task itself offers (a Stripe operator's rendered ``stripe_object``);
    in a task that offers none, ``obj`` below.

    :param source: the Jinja template from the recipe
    :param obj: the trigger's object: the mapped task group's argument (resolved per object), or None
    :param steps: step id -> that step's output (an XComArg, or the trigger's object), for ``steps.<id>``
    :param typed: a whole-value template (``"{{ params.amount }}"``) keeps its value's type; else text
    """

    def __init__(
        self, source: str, *, obj: Any = None, steps: Mapping[str, Any] | None = None, typed: bool = True
    ) -> None:
        self.source = source
        self.obj = obj
        self.steps = dict(steps or {})
        self.expression = whole_expression(source) if typed else None

    def resolve(self, context: Mapping[str, Any]) -> Any:
        variables = template_variables(context)
        offered = context.get(OBJECT_NAME)  # None while a Stripe operator renders its stripe_object
        if offered is None and self.obj is not None:
            offered = resolved(self.obj, context)
        variables[OBJECT_NAME] = _plain(offered)
        variables[STEPS_NAME] = _StepResults(self.steps, context)
        if self.expression is not None:
            value = _plain(_compiled_expression(self.expression)(**variables))
            return value if isinstance(value, _DATA_TYPES) else str(value)
        return _compiled(self.source).render(**variables)

    def __str__(self) -> str:
        # What the UI shows before the run, and what DAG serialisation stores.
        return self.source

    __repr__ = __str__


def template_variables(context: Mapping[str, Any]) -> dict[str, Any]:
    """
    What a recipe template sees of a task's context: params, the run's fields, ``dag_run`` and ``macros``, as data.

    Not ``conn``, ``var``, ``ti``, ``task`` or anything else the context holds. ``obj`` and
    ``steps`` are the template's own (:class:`RecipeTemplate`).

    :param context: the task's context
    """
    variables: dict[str, Any] = {name: context[name] for name in RUN_NAMES if name in context}
    variables["params"] = _plain(context.get("params") or {})
    dag_run = context.get("dag_run")
    variables["dag_run"] = {
        name: _plain((getattr(dag_run, name, None) or {}) if name == "conf" else getattr(dag_run, name, None))
        for name in DAG_RUN_FIELDS
    }
    variables["macros"] = _macros()
    variables["money"] = money_or_text
    return variables


@lru_cache(maxsize=1)
def _macros() -> dict[str, Any]:
    from airflow.sdk.execution_time.macros import ds_add, ds_format

    helpers = {"datetime": datetime.datetime, "timedelta": datetime.timedelta, "ds_add": ds_add, "ds_format": ds_format}
    return {name: helpers[name] for name in MACRO_NAMES}


@lru_cache(maxsize=1)
def locked_env() -> jinja2.Environment:
    """
    The Jinja environment recipe templates render in: sandboxed, immutable, no loader, Airflow's date filters and ``money``.

    Undefined names and fields fail the render (``StrictUndefined``, as Airflow's default), except
    in a whole-value template, where a missing field is None.
    """
    from airflow.sdk.definitions._internal.templater import FILTERS  # ds, ts…: Airflow's own date filters
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    env.filters.update(FILTERS)
    env.filters["money"] = money_or_text
    env.globals = {name: value for name, value in env.globals.items() if name in JINJA_GLOBALS}
    return env


# A batch task renders the same templates once per object: each is compiled once per process.
@lru_cache(maxsize=1024)
def _compiled(source: str) -> jinja2.Template:
    return locked_env().from_string(source)


@lru_cache(maxsize=1024)
def _compiled_expression(expression: str) -> Any:
    return locked_env().compile_expression(expression, undefined_to_none=True)


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
