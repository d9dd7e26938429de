"""Turn a checked recipe into an Airflow DAG: the trigger's sensor, then the steps, once per matched object.

The DAG a recipe gives is what a Python DAG would spell out by hand:

* ``trigger: {type: external}`` — no sensor: a run triggered with conf (UI, REST API, CLI) is the
  event, and the steps run once per run.
* ``trigger: {type: <sensor>}`` — the sensor task (id: the type, or ``trigger.id``) returns the
  matched objects, and the steps run once per object in a mapped task group (id ``each_object``, or
  ``trigger.group``). In the group every Stripe step gets that object as its ``stripe_object``
  unless it names another one; ``{{ obj }}`` in a step's templates is the object it acts on (its
  ``stripe_object``; in a step without one, the trigger's object), ``{{ steps.<id> }}`` what an
  earlier step returned for it and ``{{ steps.<trigger id> }}`` the trigger's object. With
  ``group: null`` each step is instead mapped on its own over the objects. The
  sensor's ``since``/``until`` default to the run conf's, so ``{"since": …, "until": …}`` replays a
  window. The sensor hands its objects on in batches of ``trigger.with.batch_size`` (100 unless the
  recipe says; :mod:`airflow_stripe_automation.batches`), each mapped task working through one
  batch object by object — unless a step's class can only act on one object at a time (it sets
  ``batchable = False``), when each object gets its own mapped task.
* ``trigger: {type: <sensor>, mode: events}`` — event-driven: no schedule and no sensor; the DAG is
  scheduled on an asset (``stripe://events/<dag id>``) that a
  :class:`~airflow_stripe_automation.triggers.events.StripeEventsTrigger` in the triggerer feeds,
  one asset event per Stripe event of the sensor's kind (polled every ``trigger.poll_interval``
  seconds, 10 by default), and the trigger's task (same id) is a
  :class:`~airflow_stripe_automation.operators.events.StripeTriggeringObjectsOperator` handing on
  the run's objects, filtered by ``with.condition``, in batches of ``with.batch_size``. The steps
  are built as for the sweep, so the same ``action_id`` acts once per object in both forms.
* Steps run in order, each after the one before it, or after the steps its ``after:`` names
  (``after: []``: at the start). A Stripe step with a ``condition`` in ``with:`` is skipped when its
  ``stripe_object`` does not meet it; a ``continue_if`` step skips itself — and so the steps after
  it — when its condition does not hold. Either way the run ends successfully.

Task ids are the step ids (in the group: ``<group>.<id>``) and each step's class is the one its
``type`` names (:mod:`~airflow_stripe_automation.recipes.types`), with ``with:`` as keyword
arguments — so a recipe and its Python example DAG can be compared task by task. Nothing here calls
Stripe or the network: building the DAG only stores arguments.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from airflow_stripe_automation.recipes.errors import FieldPath, Problem, RecipeError, find_secrets, mask_secrets
from airflow_stripe_automation.recipes.loader import Recipe
from airflow_stripe_automation.recipes.templates import (
    DATA_NAMES,
    OBJECT_NAME,
    RETIRED_OBJECT_NAME,
    STEPS_NAME,
    RecipeTemplate,
    locked_out,
    method_lookups,
    references,
    whole_expression,
)
from airflow_stripe_automation.recipes.types import (
    EXTERNAL_TRIGGER,
    GATE_TYPE,
    UnknownTypeError,
    step_class,
    trigger_class,
)
from airflow_stripe_automation.rendered import is_template
from airflow_stripe_automation.suggestions import did_you_mean

DEFAULT_START_DATE = "2026-01-01"
DEFAULT_GROUP_ID = "each_object"
#: Objects per mapped task when a recipe's trigger does not say (and every step can work through a batch).
DEFAULT_BATCH_SIZE = 100
#: Run conf keys a sensor-triggered recipe reads to replay a window instead of the run's own.
WINDOW_CONF_KEYS = ("since", "until")
# Set by the recipe itself (id, name) or by the builder (dag, group): not allowed in `with:`.
_RESERVED_ARGS = {"task_id", "task_display_name", "dag", "task_group", "params", "default_args"}
# Durations YAML can only write as numbers: seconds.
_SECONDS_ARGS = {"retry_delay", "max_retry_delay", "execution_timeout", "response_timeout"}
_ASSET_ARGS = {"outlets", "inlets"}
# Amounts in minor units that a step may give as literals: checked when the recipe is parsed.
_AMOUNT_ARGS = {"amount", "minimum_amount"}
_ITEMS_ARG = "items"  # an invoice's lines, each with a unit_amount
# Set by the recipe's deployment, never by a recipe: which Stripe account it acts on, and what makes
# each write happen once.
_DEPLOYMENT_ARGS = {
    "stripe_conn_id": (
        "the Stripe connection is the deployment's, not a recipe's: a recipe's trigger and steps use "
        "stripe_default, which the deployment defines (a connection, or AIRFLOW_CONN_STRIPE_DEFAULT); remove it"
    ),
    "idempotency_key": (
        "idempotency keys are derived from the DAG, the step and the object, so that a replay acts on "
        "nothing twice; a recipe cannot set them: remove it"
    ),
}


def dag_id_for(recipe: Recipe) -> str:
    """The DAG id of a recipe file: ``recipe_<file stem>``."""
    return f"recipe_{recipe.stem}"


def build_dag(recipe: Recipe, dag_id: str | None = None) -> Any:
    """
    Build the DAG of a checked recipe; raise :class:`RecipeError` naming the field when it cannot.

    :param recipe: a recipe from :func:`~airflow_stripe_automation.recipes.loader.load_recipe`
    :param dag_id: default ``recipe_<file stem>``
    """
    return _Builder(recipe).build(dag_id or dag_id_for(recipe))


@dataclass
class _Step:
    """A step, checked, ready to become a task."""

    path: FieldPath
    spec: dict[str, Any]
    cls: type[Any]

    @property
    def id(self) -> str:
        return self.spec["id"]

    @property
    def is_gate(self) -> bool:
        return self.spec["type"] == GATE_TYPE


class _Builder:
    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.data = recipe.data
        self.problems: list[Problem] = []
        trigger = self.data["trigger"]
        self.external = trigger["type"] == EXTERNAL_TRIGGER
        self.trigger_id = trigger.get("id", trigger["type"])
        self.group_id = trigger.get("group", DEFAULT_GROUP_ID)
        # `group: null`: each step is mapped on its own over the trigger's objects (no task group).
        self.ungrouped = not self.external and self.group_id is None
        # Where the trigger's object exists (`obj` by default, `steps.<trigger id>`): the steps of a
        # sensor-triggered recipe, in its task group.
        self.has_trigger_object = not self.external and not self.ungrouped
        self.events = not self.external and trigger.get("mode") == "events"

    # -- checking, before anything is built ----------------------------------------------------

    def _problem(self, path: FieldPath, message: str) -> None:
        self.problems.append(self.recipe.problem(path, message))

    def _check_trigger(self) -> type[Any] | None:
        trigger = self.data["trigger"]
        if self.external:
            return None
        try:
            cls = trigger_class(trigger["type"])
        except UnknownTypeError as err:
            self._problem(("trigger", "type"), f"trigger {trigger['type']!r} is not available: {err}")
            return None
        self._check_arguments(
            cls, trigger.get("with") or {}, ("trigger",), ran=set(), in_steps=False, injected=WINDOW_CONF_KEYS
        )
        return cls

    def _check_steps(self) -> list[_Step]:
        steps: list[_Step] = []
        ran_before: dict[str, set[str]] = {}  # step id -> the steps that have run when it starts
        for index, spec in enumerate(self.data["steps"]):
            here: FieldPath = ("steps", index)
            step_id = spec["id"]
            if step_id in ran_before:
                first = next(i for i, s in enumerate(self.data["steps"]) if s["id"] == step_id)
                self._problem(
                    (*here, "id"),
                    f"step id {step_id!r} is already used (at line {self.recipe.line(('steps', first, 'id'))})",
                )
                continue
            if step_id in (self.trigger_id, self.group_id):
                self._problem((*here, "id"), f"step id {step_id!r} is the trigger's task or group id; pick another")
            ran: set[str] = set()
            for upstream in self._upstream_ids(spec, here, list(ran_before)):
                ran |= {upstream} | ran_before[upstream]
            ran_before[step_id] = ran
            try:
                cls = step_class(spec["type"])
            except UnknownTypeError as err:
                self._problem((*here, "type"), f"step type {spec['type']!r} is not available: {err}")
                continue
            step = _Step(here, spec, cls)
            if step.is_gate:
                self._check_gate(step, ran)
            else:
                self._check_arguments(cls, spec.get("with") or {}, here, ran=ran, in_steps=True)
                if self.ungrouped:
                    self._check_mappable(cls, spec, here)
            steps.append(step)
        return steps

    def _upstream_ids(self, spec: Mapping[str, Any], here: FieldPath, earlier: list[str]) -> list[str]:
        """The steps this one runs after: ``after``, or the step just before it."""
        if "after" not in spec:
            return earlier[-1:]
        for index, upstream in enumerate(spec["after"]):
            if upstream not in earlier:
                self._problem((*here, "after", index), f"{upstream!r} is not an earlier step")
        return [a for a in spec["after"] if a in earlier]

    def _check_gate(self, step: _Step, ran: set[str]) -> None:
        if self.ungrouped:
            self._problem(
                (*step.path, "type"),
                "continue_if needs the steps' task group: remove 'group: null', or "
                "use the steps' own 'condition' field",
            )
        condition = step.spec["if"]
        for path, value in _templates_in(condition, (*step.path, "if")):
            self._check_template(value, path, set(), field_templated=True, in_steps=False)
        # Template values are only known at run time: check the structure with stand-ins.
        self._check_condition(_with_stand_ins(condition), (*step.path, "if"))
        if "object" in step.spec:  # what the gate tests: its obj
            self._check_template(step.spec["object"], (*step.path, "object"), ran, field_templated=True, in_steps=True)
        elif self.external:
            self._problem(
                step.path,
                "continue_if in a recipe with an external trigger needs 'object' (what to "
                "test, e.g. '{{ params }}' or '{{ steps.<id> }}')",
            )

    def _check_mappable(self, cls: type[Any], spec: Mapping[str, Any], here: FieldPath) -> None:
        if "stripe_object" not in _signature(cls)[0]:
            self._problem(
                (*here, "type"),
                f"{cls.__name__} takes no stripe_object, so it cannot be mapped over the "
                "trigger's objects without the steps' task group (remove 'group: null')",
            )
        elif "stripe_object" in (spec.get("with") or {}):
            self._problem(
                (*here, "with", "stripe_object"),
                "with 'group: null' each step's stripe_object is the trigger's object it is mapped over",
            )

    def _check_condition(self, condition: Mapping[str, Any], path: FieldPath) -> None:
        from airflow_stripe_automation.conditions import InvalidConditionError, validate

        try:
            validate(condition, "")
        except InvalidConditionError as err:
            # conditions.validate names the part at fault (".all[1]: …"): point at that part.
            text = str(err)
            located = re.match(r"^((?:\.[A-Za-z_]+|\[\d+\])*): (.*)$", text, re.DOTALL)
            inner: list[str | int] = []
            if located:
                for name, index in re.findall(r"\.([A-Za-z_]+)|\[(\d+)\]", located[1]):
                    inner.append(int(index) if index else name)
                text = located[2]
            self._problem((*path, *inner), text)

    def _check_arguments(
        self,
        cls: type[Any],
        kwargs: Mapping[str, Any],
        path: FieldPath,
        *,
        ran: set[str],
        in_steps: bool,
        injected: Sequence[str] = (),
    ) -> None:
        accepted, required = _signature(cls)
        templated = set(getattr(cls, "template_fields", ()))
        # A step whose obj is its own stripe_object: given in `with`, or mapped over (group: null).
        own_object = in_steps and "stripe_object" in accepted and ("stripe_object" in kwargs or self.ungrouped)
        for name, value in kwargs.items():
            where = (*path, "with", name)
            if name in _DEPLOYMENT_ARGS:
                self._problem(where, f"{name!r} cannot be set in a recipe: {_DEPLOYMENT_ARGS[name]}")
            elif name in _RESERVED_ARGS:
                self._problem(where, f"{name!r} is set by the recipe (use the step's id/name), not in 'with'")
            elif name not in accepted:
                hint = did_you_mean(name, sorted(accepted - _RESERVED_ARGS - set(_DEPLOYMENT_ARGS)), cutoff=0.7)
                self._problem(where, f"unknown field {name!r} for {cls.__name__}{hint}")
            else:
                self._check_template(
                    value,
                    where,
                    ran,
                    field_templated=name in templated,
                    in_steps=in_steps,
                    owner=cls.__name__,
                    templated_fields=templated,
                    own_object=own_object and name != "stripe_object",
                )
                if name == "condition" and isinstance(value, Mapping):
                    self._check_condition(_with_stand_ins(value), where)
                if in_steps:
                    self._check_amounts(name, value, kwargs, where)
        for name in sorted(required - set(kwargs) - _RESERVED_ARGS - set(injected)):
            self._problem(
                (*path, "with") if "with" in self._spec_at(path) else path,
                f"missing required field {name!r} for {cls.__name__}",
            )

    def _check_amounts(self, name: str, value: Any, kwargs: Mapping[str, Any], where: FieldPath) -> None:
        """Literal amounts of a step (``amount: ten``, ``12.5``, ``0``): refused now, not when the step runs."""
        from airflow_stripe_automation.money import InvalidMoneyError, parse_minor_units, validate_amount

        if name in _AMOUNT_ARGS:
            amounts: list[tuple[FieldPath, str, Any]] = [(where, name, value)]
        elif name == _ITEMS_ARG and isinstance(value, list):
            amounts = [
                ((*where, i, "unit_amount"), f"items[{i}].unit_amount", item["unit_amount"])
                for i, item in enumerate(value)
                if isinstance(item, Mapping) and "unit_amount" in item
            ]
        else:
            return
        currency = kwargs.get("currency", "usd")
        step_id = self._spec_at(where[:2]).get("id")
        for path, field, amount in amounts:
            if amount is None or is_template(amount):
                continue  # no amount (a refund of everything), or known when the step runs
            try:
                if isinstance(currency, str) and not is_template(currency):
                    validate_amount(amount, currency, field=field)
                else:
                    parse_minor_units(amount, field=field)
            except InvalidMoneyError as err:
                self._problem(path, f"step {step_id!r}: {err}")

    def _spec_at(self, path: FieldPath) -> Mapping[str, Any]:
        node: Any = self.data
        for part in path:
            node = node[part]
        return node if isinstance(node, Mapping) else {}

    def _check_template(
        self,
        value: Any,
        path: FieldPath,
        ran: set[str],
        *,
        field_templated: bool,
        in_steps: bool,
        owner: str = "",
        templated_fields: set[str] | None = None,
        own_object: bool = False,
    ) -> None:
        import jinja2

        if isinstance(value, (Mapping, list)):
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            for key, item in items:
                self._check_template(
                    item,
                    (*path, key),
                    ran,
                    field_templated=field_templated,
                    in_steps=in_steps,
                    owner=owner,
                    templated_fields=templated_fields,
                    own_object=own_object,
                )
            return
        if not is_template(value):
            return
        if not field_templated:
            listed = ", ".join(sorted(templated_fields or ())) or "none"
            self._problem(
                path,
                f"{owner} does not render templates in this field, so the text would be used as it "
                f"is (its templated fields: {listed})",
            )
            return
        try:
            names, steps = references(value)
            methods = method_lookups(value)
            refused = locked_out(value)
        except jinja2.TemplateSyntaxError as err:
            self._problem(path, f"not a valid template: {err.message}")
            return
        for message in refused:
            self._problem(path, message)
        for method in methods:
            self._problem(
                path,
                f"'.{method}' is the mapping's {method}() method in Jinja, not the field "
                f"{method!r}: write ['{method}'] (e.g. params['{method}'])",
            )
        if RETIRED_OBJECT_NAME in names:
            trigger_object = (
                f"; in a step acting on another object, the trigger's is {STEPS_NAME}.{self.trigger_id}"
                if self.has_trigger_object
                else ""
            )
            self._problem(
                path,
                f"'{RETIRED_OBJECT_NAME}' is no longer a name in templates: use {OBJECT_NAME}, the object the "
                f"step acts on (e.g. '{{{{ {OBJECT_NAME}.customer }}}}'){trigger_object}",
            )
        if self.ungrouped and in_steps and steps:
            self._problem(
                path,
                f"with 'group: null' each step is mapped on its own: '{STEPS_NAME}' needs the steps' task "
                f"group (the step reads its object as {OBJECT_NAME}, e.g. '{{{{ {OBJECT_NAME}.customer }}}}')",
            )
            return
        if OBJECT_NAME in names and not in_steps:
            where = "the trigger's own fields" if path[0] == "trigger" else "a condition's values"
            self._problem(path, f"'{OBJECT_NAME}' is the object a step acts on; {where} cannot use it")
        elif OBJECT_NAME in names and self.external and not own_object:
            self._problem(
                path,
                f"'{OBJECT_NAME}' is the object the step acts on, and an external trigger matches none: give "
                f"the step a stripe_object (continue_if: an object), e.g. '{{{{ {STEPS_NAME}.<id> }}}}' or "
                "'{{ params }}', or read params",
            )
        for step_id in sorted(steps):
            if step_id == "":
                self._problem(path, f"'{STEPS_NAME}' must name a step, e.g. {STEPS_NAME}.retrieve_charge")
            elif step_id not in ran and not (in_steps and self.has_trigger_object and step_id == self.trigger_id):
                self._problem(
                    path,
                    f"'{STEPS_NAME}.{step_id}' is not a step that has run before this one "
                    "(an earlier step it runs after)",
                )

    # -- building ------------------------------------------------------------------------------

    def build(self, dag_id: str) -> Any:
        from airflow.sdk import DAG

        from airflow_stripe_automation.operators.summary import summarize_run

        for path in find_secrets(self.data):
            self._problem(
                path,
                "this holds a Stripe secret key (masked here): keys belong in the deployment's stripe_default "
                "connection, never in a recipe; remove it, and roll the key if the file was shared",
            )
        sensor_cls = self._check_trigger()
        steps = self._check_steps()
        dag_kwargs = self._dag_kwargs(dag_id)
        if self.problems:
            raise RecipeError(self.recipe.path, sorted(self.problems, key=lambda p: p.line or 0))

        with DAG(**dag_kwargs) as dag:
            if sensor_cls is None:
                self._build_steps(steps, obj=None)
            elif self.ungrouped:
                self._build_ungrouped(steps, self._build_trigger(sensor_cls, steps))
            else:
                self._build_group(steps, self._build_trigger(sensor_cls, steps))
            summarize_run(dag)  # as every example DAG ends: the run's summary and note
        return dag

    def _dag_kwargs(self, dag_id: str) -> dict[str, Any]:
        data = self.data
        tags = ["stripe", "recipe"]
        if data.get("recipe"):
            tags.append(f"recipe:{data['recipe']}")
        tags += [t for t in data.get("tags", []) if t not in tags]
        kwargs: dict[str, Any] = {
            "dag_id": dag_id,
            "description": mask_secrets(data["description"]) if data.get("description") else None,
            "schedule": self._events_schedule(dag_id) if self.events else self._schedule(),
            "start_date": self._start_date(),
            "catchup": data.get("catchup", False),
            "tags": tags,
            "params": self._params(),
            "doc_md": self._doc_md(),
        }
        if "max_active_runs" in data:
            kwargs["max_active_runs"] = data["max_active_runs"]
        if "owner" in data:
            kwargs["default_args"] = {"owner": data["owner"]}
        return kwargs

    def _schedule(self) -> Any:
        expression = self.data.get("schedule")
        if expression is None:
            return None
        from airflow.sdk.exceptions import AirflowException
        from airflow.timetables.interval import CronDataIntervalTimetable

        try:
            # A real data interval (not 3.3's default trigger timetable): sensors read the window
            # since the previous run, and backfills replay past windows.
            timetable = CronDataIntervalTimetable(expression, timezone="UTC")
            timetable.validate()
        except (ValueError, AirflowException) as err:
            self._problem(("schedule",), f"{expression!r} is not a valid cron schedule: {err}")
            return None
        return timetable

    def _start_date(self) -> Any:
        import pendulum

        text = self.data.get("start_date", DEFAULT_START_DATE)
        try:
            return pendulum.parse(text, tz="UTC")
        except ValueError as err:
            self._problem(("start_date",), f"{text!r} is not a date: {err}")
            return pendulum.parse(DEFAULT_START_DATE, tz="UTC")

    def _params(self) -> dict[str, Any]:
        from airflow.sdk import Param
        from airflow.sdk.definitions.param import ParamsDict
        from airflow.sdk.exceptions import AirflowException

        params: dict[str, Any] = {}
        for name, spec in (self.data.get("params") or {}).items():
            if isinstance(spec, Mapping):
                spec = dict(spec)
                description = spec.pop("description", None)
                if "default" in spec:
                    params[name] = Param(spec.pop("default"), description=description, **spec)
                else:  # no default: the run must give it
                    params[name] = Param(description=description, **spec)
            else:
                params[name] = Param(spec, **_inferred_type(spec))
        # Scheduled runs use the defaults, so they must be valid (as Airflow checks); a triggered
        # recipe may use an invalid default to make the run's conf give the value.
        for name, param in params.items() if self.data.get("schedule") is not None else ():
            if param.has_value:
                try:
                    ParamsDict({name: param}).validate()
                except (ValueError, AirflowException) as err:
                    self._problem(("params", name), f"the default does not fit the param's own rules: {err}")
        return params

    def _doc_md(self) -> str:
        doc = self.data.get("doc") or self.data.get("description") or ""
        # The UI shows the doc to everyone who can see the DAG: never a key pasted into the recipe.
        return mask_secrets(
            f"{doc.strip()}\n\n---\nBuilt from the recipe file `{self.recipe.path.name}`:\n\n"
            f"```yaml\n{self.recipe.source.rstrip()}\n```\n"
        ).lstrip()

    def _events_schedule(self, dag_id: str) -> list[Any]:
        """``mode: events``: the asset the Stripe events watcher feeds, the sensor's finder watching."""
        from airflow_stripe_automation.finders import Finder, FinderError
        from airflow_stripe_automation.operators.events import DEFAULT_POLL_INTERVAL, stripe_events_asset

        trigger = self.data["trigger"]
        if self.data.get("schedule") is not None:
            self._problem(
                ("schedule",), "a recipe with trigger mode 'events' runs on each Stripe event: remove 'schedule'"
            )
        # The finder's own filters (not the condition: it is templated, and the trigger renders nothing).
        given = trigger.get("with") or {}
        try:
            finder = Finder.from_dict({"name": trigger["type"], "params": {}})
            params = {k: given[k] for k in finder.params() if k in given and k != "condition"}
            finder = Finder.from_dict({"name": trigger["type"], "params": params})
        except FinderError as err:
            self._problem(("trigger", "mode"), f"trigger {trigger['type']!r} cannot watch events: {err}")
            return []
        if not finder.event_types:
            self._problem(("trigger", "mode"), f"{finder.what} are not found through Stripe events: use mode 'sweep'")
            return []
        interval = trigger.get("poll_interval", DEFAULT_POLL_INTERVAL)
        return [stripe_events_asset(dag_id, finder, poll_interval=interval)]

    def _build_trigger(self, cls: type[Any], steps: list[_Step]) -> Any:
        trigger = self.data["trigger"]
        if self.events:
            from airflow_stripe_automation.operators.events import StripeTriggeringObjectsOperator

            cls = StripeTriggeringObjectsOperator
        accepted, _ = _signature(cls)
        accepted, _ = _signature(cls)
        kwargs = {
            name: self._argument(value, obj=None, outputs={}, name=name)
            for name, value in (trigger.get("with") or {}).items()
            # events mode: the sensor's other arguments (its window, its wait) have no meaning there
            if not self.events or name in accepted
        }
        if (
            "batch_size" in accepted
            and "batch_size" not in kwargs
            and all(getattr(s.cls, "batchable", False) for s in steps)
        ):
            kwargs["batch_size"] = DEFAULT_BATCH_SIZE
        for key in WINDOW_CONF_KEYS:
            if key in accepted and key not in kwargs:
                kwargs[key] = RecipeTemplate(f"{{{{ dag_run.conf.get('{key}') }}}}")
        if "name" in trigger:
            kwargs["task_display_name"] = trigger["name"]
        return self._instantiate(cls, ("trigger",), task_id=self.trigger_id, **kwargs)

    def _build_group(self, steps: list[_Step], sensor: Any) -> None:
        from airflow.sdk import task_group

        def each(obj: Any) -> None:
            self._build_steps(steps, obj=obj)

        each.__doc__ = f"The recipe's steps, once per object {sensor.task_id} matched."
        task_group(group_id=self.group_id)(each).expand(obj=sensor.output)

    def _build_ungrouped(self, steps: list[_Step], sensor: Any) -> None:
        """``group: null``: each step is a mapped task over the trigger's objects (its ``stripe_object``)."""
        tasks: dict[str, Any] = {}
        previous = sensor
        for step in steps:
            kwargs = self._step_kwargs(step, obj=None, outputs={})
            try:
                task = step.cls.partial(task_id=step.id, **kwargs).expand(stripe_object=sensor.output)
            except Exception as err:
                raise self._refused(step.cls, step.path, err) from None
            upstreams = [tasks[a] for a in step.spec["after"]] if "after" in step.spec else [previous]
            for upstream in upstreams or [sensor]:
                upstream >> task
            tasks[step.id] = previous = task

    def _build_steps(self, steps: list[_Step], *, obj: Any) -> None:
        """Build the steps; each runs after the one before it, or after the steps its ``after`` names."""
        # `steps.<trigger id>` is the trigger's object, for a step acting on another one.
        outputs: dict[str, Any] = {self.trigger_id: obj} if obj is not None else {}
        tasks: dict[str, Any] = {}
        previous = None
        for step in steps:
            if step.is_gate:
                task = self._build_gate(step, obj=obj, outputs=outputs)
            else:
                kwargs = self._step_kwargs(step, obj=obj, outputs=outputs)
                if obj is not None and "stripe_object" not in kwargs and "stripe_object" in _signature(step.cls)[0]:
                    kwargs["stripe_object"] = obj  # `obj` in the step's own templates: the trigger's object
                task = self._instantiate(step.cls, step.path, task_id=step.id, **kwargs)
            upstreams = [tasks[a] for a in step.spec["after"]] if "after" in step.spec else [previous]
            for upstream in upstreams:
                if upstream is not None:
                    upstream >> task
            tasks[step.id] = previous = task
            outputs[step.id] = task.output

    def _build_gate(self, step: _Step, *, obj: Any, outputs: Mapping[str, Any]) -> Any:
        """A ``continue_if`` step: a task that skips itself (and so the steps after it) when its condition fails."""
        subject = (
            self._argument(step.spec["object"], obj=obj, outputs=outputs, name="object")
            if "object" in step.spec
            else obj
        )
        # Template values ("{{ params.vip_amount }}") keep their type; the condition is checked once rendered.
        condition = self._argument(step.spec["if"], obj=None, outputs={}, name="if")
        names = {"task_display_name": step.spec["name"]} if "name" in step.spec else {}
        try:
            return step.cls(task_id=step.id, stripe_object=subject, condition=condition, **names)
        except Exception as err:
            raise self._refused(step.cls, step.path, err) from None

    def _step_kwargs(self, step: _Step, *, obj: Any, outputs: Mapping[str, Any]) -> dict[str, Any]:
        kwargs = {
            name: self._argument(value, obj=obj, outputs=outputs, name=name)
            for name, value in (step.spec.get("with") or {}).items()
        }
        if "name" in step.spec:
            kwargs["task_display_name"] = step.spec["name"]
        if "action_id" not in kwargs and getattr(step.cls, "action", None) and "action_id" in _signature(step.cls)[0]:
            kwargs["action_id"] = self.action_id(step.id)
        return kwargs

    def action_id(self, step_id: str) -> str:
        """
        The identity a step acts under, ``<recipe>/<step id>``: the same in the recipe's Python example DAG.

        ``<recipe>`` is the recipe's ``recipe:`` reference (``R8``), else its file's name; so renaming
        the DAG, the file or the task group acts on nothing twice, and a copy that must act on its
        own gives itself another ``recipe:``.
        """
        return f"{self.data.get('recipe') or self.recipe.stem}/{step_id}"

    def _argument(self, value: Any, *, obj: Any, outputs: Mapping[str, Any], name: str) -> Any:
        """A recipe value as the operator gets it: templates that need the object or steps become resolvable."""
        if isinstance(value, Mapping):
            return {k: self._argument(v, obj=obj, outputs=outputs, name=name) for k, v in value.items()}
        if isinstance(value, list):
            converted = [self._argument(v, obj=obj, outputs=outputs, name=name) for v in value]
            return _assets(converted) if name in _ASSET_ARGS else converted
        if name in _SECONDS_ARGS and isinstance(value, (int, float)) and not isinstance(value, bool):
            return timedelta(seconds=value)
        if not is_template(value):
            return value
        # Every template becomes a RecipeTemplate, rendered locked down: never by the DAG's own Jinja
        # environment, which sees the task's whole context (conn, var, macros…).
        names, steps = references(value)
        uses_object = OBJECT_NAME in names
        expression = whole_expression(value)
        typed = expression is not None and (uses_object or bool(steps) or names <= DATA_NAMES)
        if expression is not None and len(steps) == 1:
            (step_id,) = steps
            if expression.replace(" ", "") in (
                f"{STEPS_NAME}.{step_id}",
                f"{STEPS_NAME}['{step_id}']",
                f'{STEPS_NAME}["{step_id}"]',
            ):
                return outputs[step_id]  # an XComArg: Airflow resolves it to this object's result
        return RecipeTemplate(
            value, obj=obj if uses_object else None, steps={s: outputs[s] for s in steps}, typed=typed
        )

    def _instantiate(self, cls: type[Any], path: FieldPath, **kwargs: Any) -> Any:
        try:
            return cls(**kwargs)
        except Exception as err:
            raise self._refused(cls, path, err) from None

    def _refused(self, cls: type[Any], path: FieldPath, err: Exception) -> RecipeError:
        where = (*path, "with") if "with" in self._spec_at(path) else path
        return RecipeError(self.recipe.path, [self.recipe.problem(where, f"{cls.__name__} refused it: {err}")])


def _templates_in(value: Any, path: FieldPath) -> list[tuple[FieldPath, str]]:
    if isinstance(value, Mapping):
        return [found for k, v in value.items() for found in _templates_in(v, (*path, k))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in _templates_in(v, (*path, i))]
    return [(path, value)] if is_template(value) else []


def _with_stand_ins(condition: Any) -> Any:
    """``condition`` with template values replaced by values of the right kind, to check its structure."""
    if isinstance(condition, list):
        return [_with_stand_ins(c) for c in condition]
    if not isinstance(condition, Mapping):
        return condition
    out = {k: _with_stand_ins(v) if k in ("all", "any", "not") else v for k, v in condition.items()}
    if is_template(out.get("currency")):
        out["currency"] = "usd"
    if is_template(out.get("value")):
        out["value"] = 1 if "currency" in out else "stand-in"
    return out


def _signature(cls: type) -> tuple[set[str], set[str]]:
    """The keyword arguments ``cls`` accepts, and those it requires, across its base classes."""
    # Classes are hashable, but mypy does not see a ``type[Any]`` argument as Hashable (the cache's
    # argument type; python/mypy#11470): the callers' classes pass through this ``type`` parameter.
    return _cached_signature(cls)


@cache
def _cached_signature(cls: type) -> tuple[set[str], set[str]]:
    accepted: set[str] = set()
    required: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if param.default is param.empty and name not in accepted:  # a subclass's default wins
                required.add(name)
            accepted.add(name)
    # What a subclass passes its base itself (the approval form's answers) is neither asked for nor taken.
    supplied = set(getattr(cls, "supplied_arguments", ()))
    return accepted - supplied, required - supplied


def _inferred_type(value: Any) -> dict[str, Any]:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array")):
        if isinstance(value, kind):
            return {"type": name}
    return {}


def _assets(values: list[Any]) -> list[Any]:
    from airflow.sdk import Asset

    return [Asset(v) if isinstance(v, str) else v for v in values]
