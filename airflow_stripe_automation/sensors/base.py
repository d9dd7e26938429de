"""What every Stripe sensor shares: its window, poke and deferrable modes, and what it returns.

A sensor searches one time window (by default the DAG run's data interval; see
:mod:`airflow_stripe_automation.windows` for the whole rule and the ``since``/``until`` override)
with a finder (:mod:`airflow_stripe_automation.finders`) and returns the matches as a list of small
dicts, de-duplicated by id and oldest first, ready for ``.expand()`` — or, with ``batch_size``, in
batches, one mapped task per batch (:mod:`airflow_stripe_automation.batches`), so a sweep of any
size fits in Airflow's ``max_map_length``. Batches are pushed as XComs while the pages arrive, so
the sensor's memory does not grow with the sweep; they are in the order Stripe lists the matches,
newest first (by event for the events source, by creation for the list APIs), and nothing after the
sensor depends on that order. By default it waits until something matches;
``wait_for_match=False`` returns at once, with an empty list if nothing matched (for sweeps that
must run every day). In both modes it only reads from Stripe.

Poke mode checks every ``poke_interval``; ``deferrable=True`` checks once, then hands the wait to
:class:`~airflow_stripe_automation.triggers.objects.StripeObjectsTrigger`, which runs the same finder
in the triggerer until something matches and then hands back to the task, which reads the window
itself (see :meth:`StripeWindowSensor.execute_complete`). ``timeout`` and ``soft_fail`` behave as
for any Airflow sensor in both modes: a timeout fails the task, or skips it with ``soft_fail``.
While waiting, a transient Stripe error (rate limit, connection, 5xx) counts as "nothing yet";
other Stripe errors fail the task at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_stripe_automation.batches import BatchStream, batches_per_ticket, combined
from airflow_stripe_automation.errors import (
    StripeInputError,
    StripeRetryPolicy,
    default_retries,
    retryable_errors,
    translate,
)
from airflow_stripe_automation.finders import SOURCES, Finder, FinderError, StripeClock
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


@dataclass
class _Searched:
    """What one search gave: what the tasks after the sensor get, how many matched, from where, and the first ids."""

    handed: list[Any]
    count: int
    source: str
    why: str
    ids: list[str]
    #: the batch XComs pushed (with batch_size)
    batches: int = 0


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
    :param batch_size: hand the matches on in batches of this many, each pushed as an XCom of its own
        (``batch_00000``, …, newest matches first) while the window is read, and return one ticket per
        batch for tasks mapped over batches; when the batches would outnumber ``[core]
        max_map_length``, a ticket names several consecutive batches. Unset: a flat list, oldest
        first, one mapped task per object, refused beyond ``max_map_length`` (templated)
    :param retries: tries after the first; by default ``[core] default_task_retries``, or 3 when that
        is 0, so the retry policy can act on a 429 or 5xx
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
        retries: int | None = default_retries(),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retry_policy", StripeRetryPolicy())
        super().__init__(retries=retries, **kwargs)
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

    def check(
        self,
        context: Context,
        finder: Finder,
        window: Window,
        source: str | None = None,
        clock: StripeClock | None = None,
    ) -> list[Any] | None:
        """
        Search once; return what the tasks after the sensor get, or None to keep waiting.

        Done means anything matched, or ``wait_for_match`` is off. With ``batch_size`` the batches
        are pushed during the search (:meth:`_search_in_batches`); a search that found nothing pushed
        nothing. A search that fails part-way while waiting (a transient error) may have pushed some
        batches: the next one pushes under the same keys again, and only the tickets of the search
        that ends the wait are handed on.

        :param context: the task's context (its ``ti`` pushes the batches)
        :param finder: what to look for
        :param window: where
        :param source: the source to read, instead of the sensor's own ``source``
        :param clock: Stripe's clock, as far as it is already known (see :class:`StripeClock`)
        """
        import stripe

        source = source or self.source
        size = self.requested_batch_size()
        try:
            if size is None:
                searched = self._search_flat(finder, window, source, clock)
            else:
                searched = self._search_in_batches(context, finder, window, source, clock, size)
        except retryable_errors() as err:
            if not self.wait_for_match:
                raise
            self.log.warning("Stripe did not answer (%s: %s); will look again.", type(err).__name__, err)
            return None
        except stripe.StripeError as err:
            raise translate(err, f"finding {finder.what}") from err
        except FinderError as err:
            raise StripeInputError(str(err)) from None
        if not searched.count and self.wait_for_match:
            self.log.info("No %s in %s yet (%s: %s).", finder.what, window, searched.source, searched.why)
            return None
        ids = searched.ids
        self.log.info(
            "Found %d %s in %s from %s (%s)%s",
            searched.count,
            finder.what,
            window,
            searched.source,
            searched.why,
            f": {', '.join(ids)}{' …' if searched.count > len(ids) else ''}." if ids else ".",
        )
        if size is None:
            self._refuse_unmappable(searched.count, finder)
        elif searched.count:
            self._log_batches(searched, size)
        return searched.handed

    def _log_batches(self, searched: _Searched, size: int) -> None:
        """Say how the matches were handed on: how many batches, and how many a mapped task takes."""
        limit = conf.getint("core", "max_map_length", fallback=DEFAULT_MAX_MAP_LENGTH)
        per = batches_per_ticket(searched.batches, limit)
        if per > 1:
            self.log.info(
                "%d batches of %d would be more than max_map_length (%d): each mapped task takes up to %d "
                "consecutive batches.",
                searched.batches,
                size,
                limit,
                per,
            )
        self.log.info(
            "Handing on %d objects in %d batches of up to %d.", searched.count, len(searched.handed), size * per
        )

    def _search_flat(self, finder: Finder, window: Window, source: str, clock: StripeClock | None) -> _Searched:
        """Every match in one list, oldest first (held whole: it is as long as the mapped tasks it feeds)."""
        found = finder.find(self.hook.get_conn(), window, source, clock=clock)
        ids = [m["id"] for m in found.matches[:_LOGGED_IDS]]
        return _Searched(found.matches, len(found.matches), found.source, found.why, ids)

    def _search_in_batches(
        self, context: Context, finder: Finder, window: Window, source: str, clock: StripeClock | None, size: int
    ) -> _Searched:
        """
        Push the matches as batches of ``size`` while the pages arrive; hand on a ticket per batch.

        Only the batch being filled, the tickets, and the ids seen (the finder's de-duplication) are
        held. The tickets are combined when there are more than ``[core] max_map_length`` of them.
        """
        client = self.hook.get_conn()
        chosen, why = finder.choose_source(client, window, source, clock)
        stream = BatchStream(self.task_id, size, lambda key, batch: context["ti"].xcom_push(key=key, value=batch))
        ids: list[str] = []
        for match in finder.iter_matches(client, window, chosen):
            if len(ids) < _LOGGED_IDS:
                ids.append(match["id"])
            stream.add(match)
        pushed = stream.close()
        limit = conf.getint("core", "max_map_length", fallback=DEFAULT_MAX_MAP_LENGTH)
        return _Searched(combined(pushed, limit), stream.count, chosen, why, ids, len(pushed))

    def _refuse_unmappable(self, count: int, finder: Finder) -> None:
        """Refuse a flat list longer than the mapped tasks Airflow allows, when tasks are mapped over it."""
        limit = conf.getint("core", "max_map_length", fallback=DEFAULT_MAX_MAP_LENGTH)
        if count <= limit:
            return
        if self.has_dag() and any(True for _ in self.iter_mapped_dependants()):
            raise StripeInputError(
                f"found {count} {finder.what}, more than the {limit} mapped tasks Airflow allows "
                "([core] max_map_length): give the sensor a batch_size to act on them in batches"
            )

    def requested_batch_size(self) -> int | None:
        """``batch_size`` as a number (a rendered template is text), None when unset; refused if not positive."""
        return None if is_unset(self.batch_size) else validate_count(self.batch_size, "batch_size")

    def poke(self, context: Context) -> PokeReturnValue:
        finder, window = self._prepared(context)
        handed = self.check(context, finder, window)
        if handed is None:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=handed)

    def execute(self, context: Context) -> Any:
        self._prepared_for = self.prepare(context)
        if not self.deferrable:
            return super().execute(context)
        finder, window = self._prepared_for
        clock = StripeClock()
        try:
            handed = self.check(context, finder, window, clock=clock)
        except AirflowFailException as err:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {err}"
                ) from err
            raise
        if handed is not None:
            return handed
        self.defer_wait(finder, window, time.time() + self.timeout, clock.lead)

    def defer_wait(self, finder: Finder, window: Window, deadline: float, clock_lead: int | None = None) -> NoReturn:
        """
        Hand the wait to the trigger until ``deadline`` (unix time); :meth:`execute_complete` resumes.

        :param finder: what to look for
        :param window: where
        :param deadline: when the sensor times out, however many times it defers
        :param clock_lead: Stripe's clock's lead over ours, if the sensor read it (the trigger then need not)
        """
        left = deadline - time.time()
        if left <= 0:
            raise AirflowSensorTimeout(f"Sensor has timed out: no {finder.what} in {window} before the timeout")
        self.defer(
            trigger=StripeObjectsTrigger(
                finder=finder.to_dict(),
                window_start=window.start,
                window_end=window.end,
                stripe_conn_id=self.stripe_conn_id,
                source=self.source,
                poll_interval=self.poke_interval,
                deadline=deadline,
                wait_for_match=self.wait_for_match,
                clock_lead=clock_lead,
            ),
            method_name="execute_complete",
            kwargs={"deadline": deadline},
            timeout=timedelta(seconds=left),
        )

    def execute_complete(self, context: Context, event: dict[str, Any], deadline: float | None = None) -> list[Any]:
        """
        Resume after the trigger: read the window and hand on its matches, or raise its timeout or error.

        The trigger only tells that something matched (and where it looked), never the matches: an
        event is stored in the metadata DB, and a sweep's matches are megabytes. The task reads the
        window again from the source the trigger used, streaming it into batches as a poke does. If
        the match is gone by then (an invoice paid in between), the sensor defers again, until the
        same deadline. An event of an older version, which carried the matches, is read the same way.

        :param context: the task's context
        :param event: the trigger's event
        :param deadline: when the sensor times out (unix time), as it first deferred
        """
        status = (event or {}).get("status")
        if status == "success":
            finder, window = self.make_finder(), Window(*event["window"])
            self.log.info(
                "The trigger found %s in %s after %s polls (first: %s); reading the window.",
                finder.what,
                window,
                event.get("polls"),
                event.get("first") or "none",
            )
            handed = self.check(context, finder, window, source=event.get("source"))
            if handed is not None:
                return handed
            self.defer_wait(finder, window, deadline if deadline is not None else time.time() + self.timeout)
        if status == "timeout":
            raise AirflowSensorTimeout(f"Sensor has timed out: {event.get('message')}")
        # the trigger retries transient errors itself: what reaches here will not get better
        raise AirflowFailException(f"Waiting for Stripe failed: {(event or {}).get('message', 'no event')}")

    def _prepared(self, context: Context) -> tuple[Finder, Window]:
        prepared = getattr(self, "_prepared_for", None)
        return prepared if prepared is not None else self.prepare(context)
