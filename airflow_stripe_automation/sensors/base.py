"""What every Stripe sensor shares: its window, poke and deferrable modes, and what it returns.

A sensor searches one time window (by default the DAG run's data interval; see
:mod:`airflow_stripe_automation.windows` for the whole rule and the ``since``/``until`` override)
with a finder (:mod:`airflow_stripe_automation.finders`) and returns the matches as a list of small
dicts, de-duplicated by id and oldest first, ready for ``.expand()`` — or, with ``batch_size``, as
a list of batches of them, one mapped task per batch (:mod:`airflow_stripe_automation.batches`),
so a sweep of any size fits in Airflow's ``max_map_length``. By default it waits until
something matches; ``wait_for_match=False`` returns at once, with an empty list if nothing matched
(for sweeps that must run every day). In both modes it only reads from Stripe.

Poke mode checks every ``poke_interval``; ``deferrable=True`` checks once, then hands the wait to
:class:`~airflow_stripe_automation.triggers.objects.StripeObjectsTrigger`, which runs the same finder
in the triggerer. ``timeout`` and ``soft_fail`` behave as for any Airflow sensor in both modes: a
timeout fails the task, or skips it with ``soft_fail``. While waiting, a transient Stripe error
(rate limit, connection, 5xx) counts as "nothing yet"; other Stripe errors fail the task at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_stripe_automation.batches import split, ticket
from airflow_stripe_automation.errors import StripeInputError, StripeRetryPolicy, retryable_errors, translate
from airflow_stripe_automation.finders import SOURCES, Finder, FinderError, Found
from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.operators.base import validate_count
from airflow_stripe_automation.rendered import is_unset
from airflow_stripe_automation.triggers.objects import StripeObjectsTrigger
from airflow_stripe_automation.windows import InvalidWindowError, Window, resolve_window

if TYPE_CHECKING:
    from airflow.sdk import Context

_LOGGED_IDS = 20  # ids listed in the log line of a result
#: Airflow's own default of ``[core] max_map_length``: the most tasks one task may be mapped to.
DEFAULT_MAX_MAP_LENGTH = 1024


class StripeWindowSensor(BaseSensorOperator):
    """
    Base class of the Stripe sensors: find objects in a time window, return them as small dicts.

    Subclasses build their finder in :meth:`make_finder` from their own arguments.

    :param stripe_conn_id: the Stripe connection to read with (templated; the hook is built when the task runs)
    :param since: start of the window instead of the data interval's: ISO 8601, datetime or unix
        seconds; an empty or ``"None"`` value means not given (templated)
    :param until: end of the window (exclusive), same forms (templated)
    :param window_from_conf: when ``since``/``until`` are not given, read them from the run conf's
        ``since``/``until`` keys, so any run can replay a window (``{"since": …, "until": …}``)
    :param lookback: the window's length when the run's data interval is empty and no earlier
        successful run exists
    :param wait_for_match: wait until at least one object matches; False returns at once, maybe ``[]``
    :param condition: a structured condition over the summaries (:mod:`airflow_stripe_automation.conditions`);
        only objects meeting it match (templated)
    :param source: ``"auto"`` (events inside Stripe's 30-day retention, list APIs beyond), ``"events"``
        or ``"list"``
    :param deferrable: wait in the triggerer instead of a worker slot
    :param poke_interval: seconds between checks (both modes)
    :param batch_size: return the matches in batches of this many (a list of lists), for tasks mapped
        over batches; grown when the batches would outnumber ``[core] max_map_length``. Unset: a flat
        list, one mapped task per object, refused beyond ``max_map_length`` (templated)
    """

    template_fields: Sequence[str] = ("since", "until", "condition", "stripe_conn_id", "batch_size")
    template_fields_renderers: ClassVar[dict[str, str]] = {"condition": "json"}
    ui_color = "#635bff"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        stripe_conn_id: str = StripeHook.default_conn_name,
        since: Any = None,
        until: Any = None,
        window_from_conf: bool = True,
        lookback: timedelta | float = timedelta(days=1),
        wait_for_match: bool = True,
        condition: Mapping[str, Any] | None = None,
        source: str = "auto",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        batch_size: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retry_policy", StripeRetryPolicy())
        super().__init__(**kwargs)
        self.stripe_conn_id = stripe_conn_id
        self.since = since
        self.until = until
        self.window_from_conf = window_from_conf
        self.lookback = lookback if isinstance(lookback, timedelta) else timedelta(seconds=lookback)
        self.wait_for_match = wait_for_match
        self.condition = condition
        self.source = source
        self.deferrable = deferrable
        self.batch_size = batch_size

    # -- what subclasses provide -------------------------------------------------------------------
    def make_finder(self) -> Finder:
        """The finder for this sensor's (rendered) arguments; raises :class:`FinderError` on bad ones."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    @cached_property
    def hook(self) -> StripeHook:
        """The Stripe hook, built on first use (never at parse time)."""
        return StripeHook(stripe_conn_id=self.stripe_conn_id)

    def prepare(self, context: Context) -> tuple[Finder, Window]:
        """Validate the arguments and resolve the window (no network); logs which window is used."""
        if self.source not in SOURCES:
            raise StripeInputError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        self.requested_batch_size()  # refused before any call to Stripe
        try:
            finder = self.make_finder()
            window, why = resolve_window(context, self.since, self.until, self.lookback, self.window_from_conf)
        except (FinderError, InvalidWindowError) as err:
            raise StripeInputError(str(err)) from None
        self.log.info("Looking for %s in %s (%s).", finder.what, window, why)
        return finder, window

    def check(self, finder: Finder, window: Window) -> list[dict[str, Any]] | None:
        """Search once: the matches when done (any, or ``wait_for_match`` is off), None to keep waiting."""
        import stripe

        try:
            found = finder.find(self.hook.get_conn(), window, self.source)
        except retryable_errors() as err:
            if not self.wait_for_match:
                raise
            self.log.warning("Stripe did not answer (%s: %s); will look again.", type(err).__name__, err)
            return None
        except stripe.StripeError as err:
            raise translate(err, f"finding {finder.what}") from err
        except FinderError as err:
            raise StripeInputError(str(err)) from None
        return self.done(found, finder, window)

    def done(self, found: Found, finder: Finder, window: Window) -> list[dict[str, Any]] | None:
        """Log what a search found; return the matches if the sensor is done, else None."""
        if not found.matches and self.wait_for_match:
            self.log.info("No %s in %s yet (%s: %s).", finder.what, window, found.source, found.why)
            return None
        ids = [m["id"] for m in found.matches]
        self.log.info(
            "Found %d %s in %s from %s (%s)%s",
            len(ids),
            finder.what,
            window,
            found.source,
            found.why,
            f": {', '.join(ids[:_LOGGED_IDS])}{' …' if len(ids) > _LOGGED_IDS else ''}." if ids else ".",
        )
        return found.matches

    def handed_on(self, context: Context, matches: list[dict[str, Any]], finder: Finder) -> list[Any]:
        """
        The matches as the tasks after the sensor get them: the flat list, or one ticket per batch.

        Each batch is pushed as an XCom of its own (``batch_00000``, …) and the sensor returns the
        tickets (:func:`airflow_stripe_automation.batches.ticket`): a mapped task reads only its batch.
        """
        limit = conf.getint("core", "max_map_length", fallback=DEFAULT_MAX_MAP_LENGTH)
        size = self.requested_batch_size()
        if size is None:
            mapped = self.has_dag() and any(True for _ in self.iter_mapped_dependants())
            if mapped and len(matches) > limit:
                raise StripeInputError(
                    f"found {len(matches)} {finder.what}, more than the {limit} mapped tasks Airflow allows "
                    "([core] max_map_length): give the sensor a batch_size to act on them in batches"
                )
            return matches
        batches, used = split(matches, size, limit)
        if used != size:
            self.log.info(
                "Batches of %d, not %s: %d objects in batches of %s would be more than max_map_length (%d).",
                used,
                size,
                len(matches),
                size,
                limit,
            )
        if matches:
            self.log.info("Handing on %d objects in %d batches of up to %d.", len(matches), len(batches), used)
        tickets = []
        for index, batch in enumerate(batches):
            tickets.append(ticket(self.task_id, index, batch))
            context["ti"].xcom_push(key=tickets[-1]["stripe_batch"], value=batch)
        return tickets

    def requested_batch_size(self) -> int | None:
        """``batch_size`` as a number (a rendered template is text), None when unset; refused if not positive."""
        return None if is_unset(self.batch_size) else validate_count(self.batch_size, "batch_size")

    def poke(self, context: Context) -> PokeReturnValue:
        finder, window = self._prepared(context)
        matches = self.check(finder, window)
        if matches is None:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self.handed_on(context, matches, finder))

    def execute(self, context: Context) -> Any:
        self._prepared_for = self.prepare(context)
        if not self.deferrable:
            return super().execute(context)
        finder, window = self._prepared_for
        try:
            matches = self.check(finder, window)
        except AirflowFailException as err:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {err}"
                ) from err
            raise
        if matches is not None:
            return self.handed_on(context, matches, finder)
        self.defer(
            trigger=StripeObjectsTrigger(
                finder=finder.to_dict(),
                window_start=window.start,
                window_end=window.end,
                stripe_conn_id=self.stripe_conn_id,
                source=self.source,
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
                wait_for_match=self.wait_for_match,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Resume after the trigger: return its matches, or raise its timeout or error."""
        status = (event or {}).get("status")
        if status == "success":
            found = Found(event["matches"], event["source"], f"found by the trigger after {event.get('polls')} polls")
            finder = self.make_finder()
            return self.handed_on(context, self.done(found, finder, Window(*event["window"])) or [], finder)
        if status == "timeout":
            raise AirflowSensorTimeout(f"Sensor has timed out: {event.get('message')}")
        # the trigger retries transient errors itself: what reaches here will not get better
        raise AirflowFailException(f"Waiting for Stripe failed: {(event or {}).get('message', 'no event')}")

    def _prepared(self, context: Context) -> tuple[Finder, Window]:
        prepared = getattr(self, "_prepared_for", None)
        return prepared if prepared is not None else self.prepare(context)
