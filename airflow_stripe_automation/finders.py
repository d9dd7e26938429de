"""Finders: what a sensor looks for in a time window, and how to find it in Stripe, read-only.

A finder is plain data (a name and JSON parameters), so a sensor checks with it in poke mode and
its trigger rebuilds the same finder in the triggerer: both modes run the same code and return the
same list. Finders only list and retrieve; nothing here writes to Stripe.

**Events or object lists.** Stripe keeps events for 30 days. Where a list API filters by the moment
that defines a match (a customer's or an early fraud warning's ``created``, an invoice's
``due_date``), the finder always lists objects: exact at any age, and it sees their current state.
Where the moment is a state change the list APIs cannot filter on (a payment succeeding, an
invoice being paid or failing, a subscription ending), the finder reads events when the whole
window lies inside the retention, and lists objects beyond it (see each finder for how).

The rule, by clock: Stripe's "now" is taken as the later of the worker's clock and the newest
event's ``created`` (so a Stripe-compatible server whose clock runs ahead, like the local test
server after ``advance_clock``, is judged by its own time). Events are used when the window starts
at least :data:`RETENTION` − :data:`MARGIN` before that now; older windows use the list APIs.
``source="events"`` or ``source="list"`` forces one path. Reading that newest event costs a request,
so a caller that decides again and again (a trigger's polls) keeps Stripe's lead over our clock
instead (:class:`StripeClock`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_stripe_automation import conditions
from airflow_stripe_automation.inputs import whole_number
from airflow_stripe_automation.money import InvalidMoneyError, normalize_currency, validate_amount
from airflow_stripe_automation.objects import plain, summarize
from airflow_stripe_automation.rendered import parse_bool
from airflow_stripe_automation.windows import Window, http_date

if TYPE_CHECKING:
    import stripe
    from stripe.params import EventListParams

RETENTION = 30 * 86400  # how long Stripe lists events
MARGIN = 3600  # keep clear of the retention edge: a window must not start inside the last hour
SOURCES = ("auto", "events", "list")
PAGE = 100  # the largest page Stripe serves


class FinderError(ValueError):
    """A finder that cannot run as asked (bad parameter, window out of reach); retrying cannot help."""


@dataclass(frozen=True)
class Found:
    """
    What one search found.

    :param matches: the summaries, de-duplicated by id, oldest first
    :param source: ``"events"`` or ``"list"``
    :param why: why that source was used, for the log
    """

    matches: list[dict[str, Any]]
    source: str
    why: str


class Finder:
    """
    Base class: find Stripe objects of one kind in a window.

    :param condition: a structured condition (:mod:`airflow_stripe_automation.conditions`) over the
        summaries; only objects meeting it match
    """

    #: the registry name, used when a trigger rebuilds the finder
    name: ClassVar[str] = ""
    #: what is looked for, for logs ("overdue invoices"); set per class, or per instance (EventFinder)
    what: str = "objects"
    #: events whose ``data.object`` is a candidate; set per class, or per instance (EventFinder)
    event_types: tuple[str, ...] = ()
    #: the list API filters by the defining moment: "auto" always lists objects
    list_is_exact: ClassVar[bool] = False

    _registry: ClassVar[dict[str, type[Finder]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            Finder._registry[cls.name] = cls

    def __init__(self, *, condition: Mapping[str, Any] | None = None) -> None:
        try:
            self.condition = conditions.validate(condition) if condition else None
        except conditions.InvalidConditionError as err:
            raise FinderError(str(err)) from None

    # -- serialisation ---------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The JSON parameters that rebuild this finder (subclasses add theirs)."""
        return {"condition": self.condition}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params()}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Finder:
        """Rebuild a finder from :meth:`to_dict`'s output (only registered finders)."""
        try:
            cls = Finder._registry[data["name"]]
        except KeyError:
            raise FinderError(f"unknown finder {data.get('name')!r}") from None
        try:
            return cls(**data.get("params", {}))
        except TypeError as err:  # parameters of another version of the finder
            raise FinderError(f"finder {data['name']!r}: {err}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Finder) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params()!r})"

    # -- what subclasses provide -------------------------------------------------------------------
    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        """Candidates from the list APIs (any age)."""
        raise FinderError(
            f"{self.what} can only be found through Stripe events, which Stripe keeps for 30 days: "
            f"the window starts too long ago"
        )

    def keep(self, obj: dict[str, Any]) -> bool:
        """Whether a candidate (a plain dict of the Stripe object) is a match."""
        return True

    def summary(self, client: stripe.StripeClient, obj: dict[str, Any], window: Window) -> dict[str, Any]:
        """The small dict returned for a match."""
        return summarize(obj)

    def accept(self, summary: dict[str, Any]) -> bool:
        """Whether a summary matches (for filters on what :meth:`summary` adds)."""
        return True

    # -- the shared search -------------------------------------------------------------------------
    def find(
        self,
        client: stripe.StripeClient,
        window: Window,
        source: str = "auto",
        *,
        limit: int | None = None,
        clock: StripeClock | None = None,
    ) -> Found:
        """
        Return the matches in ``window``.

        :param client: a Stripe client (only its list and retrieve methods are used)
        :param window: the window to search
        :param source: ``"auto"``, ``"events"`` or ``"list"``
        :param limit: stop after this many matches, the first ones the API lists (newest first): for
            a caller that only needs to know whether anything matches, which then reads a page or so
        :param clock: Stripe's clock as already known, for ``"auto"`` (see :meth:`choose_source`)
        """
        source, why = self.choose_source(client, window, source, clock)
        ordered: list[dict[str, Any]] = []
        for match in self.iter_matches(client, window, source):
            ordered.append(match)
            if limit is not None and len(ordered) >= limit:
                break  # the pages after this one are never requested
        ordered.sort(key=lambda s: (s.get("created") or 0, s["id"]))
        return Found(ordered, source, why)

    def iter_matches(self, client: stripe.StripeClient, window: Window, source: str) -> Iterator[dict[str, Any]]:
        """
        Yield each match's summary once, as the list pages arrive (in the API's order, newest first).

        What :meth:`find` sorts; a sweep that hands work on in batches can take them from here
        without holding every match: only the ids already matched are kept.

        :param client: a Stripe client (only its list and retrieve methods are used)
        :param window: the window to search
        :param source: ``"events"`` or ``"list"``, as :meth:`choose_source` decided
        """
        candidates = self.from_events(client, window) if source == "events" else self.from_objects(client, window)
        matched: set[str] = set()
        for obj in candidates:
            # Events come newest first: the first snapshot of an object is its latest in the window.
            if obj.get("id") in matched or not self.keep(obj):
                continue
            summary = self.summary(client, obj, window)
            if self.accept(summary) and (self.condition is None or conditions.evaluate(self.condition, summary)):
                matched.add(obj["id"])
                yield summary

    def choose_source(
        self, client: stripe.StripeClient, window: Window, source: str, clock: StripeClock | None = None
    ) -> tuple[str, str]:
        """
        Return ``("events" | "list", why)`` for this window (see the module docstring).

        :param client: a Stripe client, to read Stripe's clock when the choice needs it
        :param window: the window to search
        :param source: ``"auto"``, ``"events"`` or ``"list"``
        :param clock: Stripe's clock as already known (None: read it now, one request, when needed)
        """
        if source not in SOURCES:
            raise FinderError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        if source == "events" and not self.event_types:
            raise FinderError(f"{self.what} are not found through events")
        if source != "auto":
            return source, f"source={source!r} requested"
        if not self.event_types or self.list_is_exact:
            return "list", "the list API filters by the moment that defines a match"
        now = clock.now(client) if clock is not None else stripe_now(client)
        oldest = now - RETENTION + MARGIN
        if window.start >= oldest:
            return "events", "the window lies inside Stripe's 30-day event retention"
        return "list", "the window starts before Stripe's 30-day event retention"

    def from_events(self, client: stripe.StripeClient, window: Window) -> Iterator[dict[str, Any]]:
        """The ``data.object`` of every event of :attr:`event_types` in the window, newest first."""
        params: EventListParams = {"created": window.created(), "limit": PAGE}
        if len(self.event_types) == 1:
            params["type"] = self.event_types[0]
        else:
            params["types"] = list(self.event_types)
        for event in client.v1.events.list(params=params).auto_paging_iter():
            yield plain(event)["data"]["object"]


def response_time(obj: Any) -> int | None:
    """
    Stripe's clock when it answered the request ``obj`` came from (the ``Date`` header), or ``None``.

    :param obj: an object the SDK returned (it keeps its response)
    """
    headers = getattr(getattr(obj, "last_response", None), "headers", None) or {}
    moment = http_date(next((v for k, v in headers.items() if k.lower() == "date"), None))
    return None if moment is None else int(moment)


def stripe_now(client: stripe.StripeClient) -> int:
    """
    Stripe's clock: the ``Date`` header of a one-event list, and never before that event's ``created``.

    Without the header (a proxy that strips it), the later of our clock and the newest event's
    ``created`` stands in.
    """
    page = client.v1.events.list(params={"limit": 1})
    newest = page.data[0].created if page.data else 0
    answered = response_time(page)
    return max(int(time.time()) if answered is None else answered, newest)


class StripeClock:
    """
    Stripe's "now" as :func:`stripe_now` reads it, read once and then kept as its lead over our clock.

    Choosing a source needs Stripe's clock, which costs a request (the newest event). A trigger
    polling one window for hours would spend every other request on it; Stripe's clock does not jump
    ahead of ours, so its lead, once read, stands. (The local test server's clock can jump, by
    ``advance_clock``; a clock kept across such a jump judges by the lead it read.)

    :param lead: seconds Stripe's clock is ahead of ours, when known already (None: read on first use)
    """

    def __init__(self, lead: int | None = None) -> None:
        self.lead = lead

    def now(self, client: stripe.StripeClient) -> int:
        """Stripe's now: our clock plus the lead, which is read from Stripe the first time."""
        if self.lead is None:
            self.lead = max(0, stripe_now(client) - int(time.time()))
        return int(time.time()) + self.lead


def _list(service: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for obj in service.list(params={**params, "limit": PAGE}).auto_paging_iter():
        yield plain(obj)


def _flag(value: Any, name: str) -> bool:
    try:
        return bool(parse_bool(value, default=False))
    except ValueError:
        raise FinderError(f"{name} must be true or false, got {value!r}") from None


def _money_filter(min_amount: Any, currency: Any, amount_field: str) -> tuple[int | None, str | None]:
    try:
        code = None if currency in (None, "") else normalize_currency(currency)
        if min_amount in (None, "", 0, "0"):
            return None, code
        if code is None:
            raise FinderError(f"min_{amount_field} needs a currency: amounts are minor units of one currency")
        return validate_amount(min_amount, code, field=f"min_{amount_field}"), code
    except InvalidMoneyError as err:
        raise FinderError(str(err)) from None


# -- the finders ---------------------------------------------------------------------------------


class EventFinder(Finder):
    """
    Objects named by events of given types (``data.object``, latest snapshot in the window).

    Only through the Events API: windows older than Stripe's 30-day retention are refused.

    :param event_types: Stripe event types, e.g. ``["charge.refunded"]`` (at most 20)
    :param condition: a structured condition over the summaries
    """

    name = "events"
    what = "event objects"

    def __init__(self, *, event_types: Iterable[str], condition: Mapping[str, Any] | None = None) -> None:
        super().__init__(condition=condition)
        types = [event_types] if isinstance(event_types, str) else list(event_types or ())
        if not types or len(types) > 20 or not all(isinstance(t, str) and t.strip() for t in types):
            raise FinderError(f"event_types must list 1 to 20 Stripe event types, got {event_types!r}")
        if any("*" in t for t in types):
            raise FinderError("event_types take exact names (wildcards match too much to act on)")
        self.event_types = tuple(t.strip() for t in types)
        self.what = f"objects of {', '.join(self.event_types)} events"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "event_types": list(self.event_types)}


class PaymentSucceededFinder(Finder):
    """
    PaymentIntents that succeeded in the window.

    Events: ``payment_intent.succeeded``. Older windows: PaymentIntents created in the window whose
    status is ``succeeded`` (a payment confirmed at creation, as most are, succeeds in the same second).

    :param condition: a structured condition over the summaries (e.g. amount > 100000 usd)
    """

    name = "payment_succeeded"
    what = "succeeded payments"
    event_types = ("payment_intent.succeeded",)

    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        return (
            pi
            for pi in _list(client.v1.payment_intents, {"created": window.created()})
            if pi.get("status") == "succeeded"
        )


class CustomerCreatedFinder(Finder):
    """
    Customers created in the window (the customers list, filtered by ``created``: exact at any age).

    :param condition: a structured condition over the summaries
    """

    name = "customer_created"
    what = "new customers"
    event_types = ("customer.created",)
    list_is_exact = True

    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        return _list(client.v1.customers, {"created": window.created()})


class EarlyFraudWarningFinder(Finder):
    """
    Radar early fraud warnings created in the window (listed by ``created``: exact at any age).

    :param actionable_only: only warnings still ``actionable`` (charge neither refunded nor disputed)
    :param condition: a structured condition over the summaries
    """

    name = "early_fraud_warning"
    what = "early fraud warnings"
    event_types = ("radar.early_fraud_warning.created",)
    list_is_exact = True

    def __init__(self, *, actionable_only: bool = True, condition: Mapping[str, Any] | None = None) -> None:
        super().__init__(condition=condition)
        self.actionable_only = _flag(actionable_only, "actionable_only")

    def params(self) -> dict[str, Any]:
        return {**super().params(), "actionable_only": self.actionable_only}

    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        return _list(client.v1.radar.early_fraud_warnings, {"created": window.created()})

    def keep(self, obj: dict[str, Any]) -> bool:
        return bool(obj.get("actionable")) or not self.actionable_only


class SubscriptionCanceledFinder(Finder):
    """
    Subscriptions that ended (were canceled) in the window.

    Events: ``customer.subscription.deleted``. Older windows: canceled subscriptions whose
    ``ended_at`` lies in the window (every canceled subscription created before the window's end is
    read, as Stripe cannot filter by ``ended_at``).

    :param condition: a structured condition over the summaries
    """

    name = "subscription_canceled"
    what = "canceled subscriptions"
    event_types = ("customer.subscription.deleted",)

    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        listed = _list(client.v1.subscriptions, {"status": "canceled", "created": {"lt": window.end}})
        return (sub for sub in listed if window.contains(sub.get("ended_at")))


class InvoicePaidFinder(Finder):
    """
    Invoices paid in the window.

    Events: ``invoice.paid``. Older windows: paid invoices whose ``status_transitions.paid_at`` lies in
    the window (every paid invoice created before the window's end is read).

    :param condition: a structured condition over the summaries
    """

    name = "invoice_paid"
    what = "paid invoices"
    event_types = ("invoice.paid",)

    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        listed = _list(client.v1.invoices, {"status": "paid", "created": {"lt": window.end}})
        return (inv for inv in listed if window.contains((inv.get("status_transitions") or {}).get("paid_at")))


class InvoiceOverdueFinder(Finder):
    """
    Open invoices that became at least ``days_overdue`` days overdue in the window.

    Computed from invoice state, never from ``invoice.overdue`` events (Stripe only sends those when a
    Billing automation is set up): invoices whose ``due_date + days_overdue`` falls in the window and
    whose status is still ``open``. Consecutive windows therefore see each invoice once. Each
    summary adds ``days_overdue``: whole days from the due date to Stripe's clock when the list was
    read (its ``Date`` header; at least to the window's end), so a backfill of an old window says how
    late the invoice is now, not how late it was when the window closed.

    :param days_overdue: how many days past its due date an invoice must be (0: due)
    :param min_amount_due: only invoices with at least this ``amount_due``, in minor units of ``currency``
    :param currency: only invoices in this currency (required with ``min_amount_due``)
    :param condition: a structured condition over the summaries
    """

    name = "invoice_overdue"
    what = "overdue invoices"
    #: Stripe's clock when the search listed the invoices (set by :meth:`from_objects`)
    _now: int | None = None

    def __init__(
        self,
        *,
        days_overdue: int | str = 0,
        min_amount_due: int | str | None = None,
        currency: str | None = None,
        condition: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(condition=condition)
        days = whole_number(days_overdue)
        if days is None or days < 0:
            raise FinderError(f"days_overdue must be a whole number of days ≥ 0, got {days_overdue!r}")
        self.days_overdue = days
        self.min_amount_due, self.currency = _money_filter(min_amount_due, currency, "amount_due")

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "days_overdue": self.days_overdue,
            "min_amount_due": self.min_amount_due,
            "currency": self.currency,
        }

    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        due = window.shifted(-self.days_overdue * 86400)
        first = client.v1.invoices.list(params={"status": "open", "due_date": due.created(), "limit": PAGE})
        # Read here, before any summary: the list call is made now, not when the pages are iterated.
        self._now = max(window.end, response_time(first) or window.end)
        return (plain(obj) for obj in first.auto_paging_iter())

    def keep(self, obj: dict[str, Any]) -> bool:
        if obj.get("status") != "open" or obj.get("due_date") is None:
            return False
        if self.currency and obj.get("currency") != self.currency:
            return False
        return self.min_amount_due is None or (obj.get("amount_due") or 0) >= self.min_amount_due

    def summary(self, client: stripe.StripeClient, obj: dict[str, Any], window: Window) -> dict[str, Any]:
        now = self._now or window.end
        return {**summarize(obj), "days_overdue": max(0, (now - obj["due_date"]) // 86400)}


class SubscriptionPaymentFailedFinder(Finder):
    """
    Subscription invoices whose payment failed in the window.

    Events: ``invoice.payment_failed`` on invoices of a subscription. By default only an invoice's
    first failed attempt counts (``attempt_count`` 1), so Stripe's own retries of the same invoice
    do not make it match again in later windows: each failing invoice is found once. Older windows:
    subscription invoices created in the window whose payment was attempted and which are still
    unpaid (``open`` or ``uncollectible``; an invoice voided since, as when an incomplete
    subscription expires, is left out). Each summary adds the subscription's billing ``interval``
    (``month``, ``year``…), read from the price on the invoice's subscription line: the account's
    recurring prices are listed once per sweep (a catalog is a page or two), so a sweep over
    thousands of invoices reads no subscription one by one. Only an invoice whose line names no
    listed price (more lines than the invoice carries inline) costs a read of its subscription.
    And ``failed_at``: when the first payment attempt failed (Stripe attempts a subscription
    invoice's payment as it finalizes it: ``status_transitions.finalized_at``), Stripe's clock, which
    a dunning schedule starts from.

    :param interval: only subscriptions billed at this interval (``day``, ``week``, ``month``, ``year``)
    :param first_failure_only: count only each invoice's first failed attempt (events); False: every
        failure in the window, the invoice as at its latest one
    :param condition: a structured condition over the summaries
    """

    name = "subscription_payment_failed"
    what = "failed subscription payments"
    event_types = ("invoice.payment_failed",)
    _INTERVALS = ("day", "week", "month", "year")

    def __init__(
        self,
        *,
        interval: str | None = None,
        first_failure_only: bool = True,
        condition: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(condition=condition)
        self.first_failure_only = _flag(first_failure_only, "first_failure_only")
        if isinstance(interval, str):
            interval = interval.strip().lower() or None
        if interval is not None and interval not in self._INTERVALS:
            raise FinderError(f"interval must be one of {', '.join(self._INTERVALS)}, got {interval!r}")
        self.interval = interval
        self._intervals: dict[str, str | None] = {}  # subscription id -> interval, for the rare fallback
        self._price_intervals: dict[str, str] | None = None  # recurring price id -> interval, listed once

    def params(self) -> dict[str, Any]:
        return {**super().params(), "interval": self.interval, "first_failure_only": self.first_failure_only}

    def from_events(self, client: stripe.StripeClient, window: Window) -> Iterator[dict[str, Any]]:
        for invoice in super().from_events(client, window):
            if not self.first_failure_only or invoice.get("attempt_count") == 1:
                yield invoice

    def from_objects(self, client: stripe.StripeClient, window: Window) -> Iterable[dict[str, Any]]:
        listed = _list(client.v1.invoices, {"created": window.created()})
        return (
            inv
            for inv in listed
            if inv.get("status") in ("open", "uncollectible") and (inv.get("attempt_count") or 0) > 0
        )

    def keep(self, obj: dict[str, Any]) -> bool:
        return summarize(obj).get("subscription") is not None

    def summary(self, client: stripe.StripeClient, obj: dict[str, Any], window: Window) -> dict[str, Any]:
        out = summarize(obj)
        # When the payment failed: Stripe attempts a subscription invoice's payment as it finalizes it.
        out["failed_at"] = (obj.get("status_transitions") or {}).get("finalized_at") or obj.get("created")
        interval = self._interval_from_lines(client, obj)
        out["interval"] = interval if interval is not None else self._interval_of(client, out["subscription"])
        return out

    def accept(self, summary: dict[str, Any]) -> bool:
        return self.interval is None or summary["interval"] == self.interval

    def _interval_from_lines(self, client: stripe.StripeClient, invoice: dict[str, Any]) -> str | None:
        """The interval of the price on the invoice's subscription line, or None when it names no listed price."""
        if self._price_intervals is None:
            self._price_intervals = {
                price["id"]: price["recurring"]["interval"]
                for price in _list(client.v1.prices, {"type": "recurring"})
                if price.get("recurring")
            }
        for line in (invoice.get("lines") or {}).get("data") or []:
            if ((line.get("parent") or {}).get("type")) != "subscription_item_details":
                continue
            price = ((line.get("pricing") or {}).get("price_details") or {}).get("price")
            price_id = price.get("id") if isinstance(price, dict) else price
            if price_id in self._price_intervals:
                return self._price_intervals[price_id]
        return None

    def _interval_of(self, client: stripe.StripeClient, subscription_id: str) -> str | None:
        if subscription_id not in self._intervals:
            sub = plain(client.v1.subscriptions.retrieve(subscription_id))
            self._intervals[subscription_id] = summarize(sub).get("interval")
        return self._intervals[subscription_id]
