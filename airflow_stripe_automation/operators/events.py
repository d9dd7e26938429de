"""Event-driven recipes: the asset a Stripe events watcher feeds, and the task that reads its events in a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetWatcher, BaseOperator

from airflow_stripe_automation import conditions
from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.finders import Finder
from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.operators.base import validate_count
from airflow_stripe_automation.rendered import is_unset
from airflow_stripe_automation.triggers.events import StripeEventsTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The default poll interval of an events watcher, in seconds: how far behind Stripe a recipe may run.
DEFAULT_POLL_INTERVAL = 10.0


def stripe_events_asset(
    name: str,
    finder: Finder,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    stripe_conn_id: str = StripeHook.default_conn_name,
) -> Asset:
    """
    Return the asset ``stripe://events/<name>``, watched by a :class:`StripeEventsTrigger` for the finder's events.

    Schedule a DAG on it (``schedule=[asset]``) to run it on each matching Stripe event; read the
    objects in the run with :class:`StripeTriggeringObjectsOperator`. One asset per DAG: the
    watcher's cursor lives in the asset's state store.

    :param name: the asset's name, e.g. the DAG id
    :param finder: what is watched: its event types, and the objects it keeps (no templated condition:
        the trigger runs where nothing is rendered; give the condition to the operator)
    :param poll_interval: seconds between polls of Stripe's Events API
    :param stripe_conn_id: the Stripe connection the watcher reads with
    """
    trigger = StripeEventsTrigger(finder=finder.to_dict(), stripe_conn_id=stripe_conn_id, poll_interval=poll_interval)
    return Asset(
        name=name, uri=f"stripe://events/{name}", watchers=[AssetWatcher(name=f"{name}_watcher", trigger=trigger)]
    )


class StripeTriggeringObjectsOperator(BaseOperator):
    """
    Return the Stripe objects of the asset events that triggered the run, in batches ready for ``.expand()``.

    The event-driven counterpart of a sweep's sensor: the same summaries, the same ``condition``,
    the same batches — so the steps after it, with the sweep's ``action_id``, act on each object
    once whichever form saw it first. An object named by several events of the run (asset events
    queue up while a run is busy) is handed on once, in its latest snapshot; a run without asset
    events (triggered by hand) hands on nothing. Reads no Stripe API.

    :param condition: a structured condition the objects must meet (templated)
    :param batch_size: objects per batch, each batch one mapped task (templated)
    """

    template_fields: Sequence[str] = ("condition", "batch_size")
    template_fields_renderers = {"condition": "json"}

    def __init__(
        self,
        *,
        condition: Mapping[str, Any] | None = None,
        batch_size: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.condition = condition
        self.batch_size = batch_size

    def execute(self, context: Context) -> list[list[dict[str, Any]]]:
        size = None if is_unset(self.batch_size) else validate_count(self.batch_size, "batch_size")
        try:
            condition = conditions.validate(self.condition) if self.condition else None
        except conditions.InvalidConditionError as err:
            raise StripeInputError(str(err)) from None
        latest: dict[str, dict[str, Any]] = {}
        events = 0
        for asset_events in context["triggering_asset_events"].values():
            for asset_event in asset_events:
                payload = (asset_event.extra or {}).get("payload") or {}
                if payload.get("status") != "success":
                    continue
                for obj in payload.get("objects") or ():
                    if not isinstance(obj, dict) or not obj.get("id"):
                        continue
                    events += 1
                    # Oldest first: a later event's snapshot of the object replaces an earlier one.
                    latest.pop(obj["id"], None)
                    latest[obj["id"]] = obj
        objects = [obj for obj in latest.values() if condition is None or conditions.evaluate(condition, obj)]
        self.log.info("%d Stripe event(s) in this run: %d object(s) to act on.", events, len(objects))
        size = size or max(len(objects), 1)
        return [objects[i : i + size] for i in range(0, len(objects), size)]
