"""Decide on a Stripe object with structured conditions: branch (unmapped flows) or continue-if (per object)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseBranchOperator

from airflow_stripe_automation.conditions import evaluate, validate
from airflow_stripe_automation.operators.base import StripeBaseOperator
from airflow_stripe_automation.rendered import holds_template

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class StripeConditionBranchOperator(BaseBranchOperator):
    """
    Follow the branches whose condition the Stripe object meets; skip the others.

    Conditions are data (``{"field": "amount", "op": "gt", "value": 100000, "currency": "usd"}``,
    combined with ``all``/``any``/``not``; see :mod:`airflow_stripe_automation.conditions`), checked
    when the DAG is parsed (or, when they hold templates such as ``"{{ params.vip_amount }}"``, once
    rendered) and evaluated without ``eval``. With no branch taken and no
    ``otherwise``, every branch is skipped and the run ends successfully ("no action").

    :param stripe_object: the object to test, a dict (templated; XComArgs resolve), e.g. a sensor match
    :param branches: ``[{"when": condition, "then": task_id or [task_ids]}, …]`` (templated)
    :param otherwise: task id(s) to follow when no branch matches; default none
    :param match: ``first`` follows the first matching branch; ``all`` follows every matching one
    """

    template_fields: Sequence[str] = ("stripe_object", "branches")
    template_fields_renderers = {"stripe_object": "json", "branches": "json"}
    ui_color = "#a5a1ff"

    def __init__(
        self,
        *,
        stripe_object: Mapping[str, Any] | Any,
        branches: Sequence[Mapping[str, Any]],
        otherwise: str | Sequence[str] | None = None,
        match: str = "first",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if match not in ("first", "all"):
            raise ValueError(f"{kwargs.get('task_id')}: match must be 'first' or 'all', got {match!r}")
        self.branches = branches
        self.stripe_object = stripe_object
        self.otherwise = _task_ids(otherwise)
        self.match = match
        # Decided on the argument as given: literal conditions are data, never rendered.
        self._branches_are_template = holds_template(branches)
        if not self._branches_are_template:
            # Checked now, so a malformed condition is a DAG import error, not a failed run.
            self._validated_branches()

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render one template field's value; literal ``branches`` as they are (natively, ``""`` would become ``None``)."""
        if content is self.branches and not self._branches_are_template:
            return content
        return super().render_template(content, context, jinja_env, seen_oids)

    def _validated_branches(self) -> list[dict[str, Any]]:
        return [
            {"when": validate(b.get("when"), f"{self.task_id}.branches[{i}].when"), "then": _task_ids(b.get("then"))}
            for i, b in enumerate(self.branches)
        ]

    def choose_branch(self, context: Context) -> str | Iterable[str]:
        branches = self._validated_branches()
        obj = self.stripe_object if isinstance(self.stripe_object, Mapping) else {}
        if not obj:
            self.log.warning("No Stripe object to test (got %r); following 'otherwise'.", self.stripe_object)
        chosen: list[str] = []
        for branch in branches:
            if evaluate(branch["when"], obj):
                chosen.extend(t for t in branch["then"] if t not in chosen)
                if self.match == "first":
                    break
        if not chosen:
            chosen = list(self.otherwise)
        self.log.info("%s -> %s", obj.get("id", "object"), chosen or "no action")
        return chosen


def _task_ids(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class StripeContinueIfOperator(StripeBaseOperator):
    """
    Go on only when the Stripe object meets ``condition``: otherwise skip, and with it what follows.

    The task skips *itself* (``condition`` on :class:`StripeBaseOperator`), and Airflow's trigger rules
    skip the tasks after it for that object. Unlike a branch or short-circuit, which skip other
    tasks, this works per object inside a mapped task group. Returns the object, for the next step.

    :param stripe_object: the object tested, a dict (templated; XComArgs resolve)
    :param condition: the structured condition it must meet (templated)
    """

    ui_color = "#a5a1ff"

    def __init__(self, *, condition: Mapping[str, Any], **kwargs: Any) -> None:
        if not condition:
            raise ValueError(f"{kwargs.get('task_id')}: condition is required")
        super().__init__(condition=condition, **kwargs)

    def execute_one(self, context: Context) -> Any:
        return self.stripe_object
