"""Finders against the local Stripe server: events or lists, the clock rule, filters, serialisation."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.conditions import field
from airflow_stripe_automation.finders import (
    CustomerCreatedFinder,
    EarlyFraudWarningFinder,
    EventFinder,
    Finder,
    FinderError,
    InvoiceOverdueFinder,
    InvoicePaidFinder,
    PaymentSucceededFinder,
    SubscriptionCanceledFinder,
    SubscriptionPaymentFailedFinder,
)
from airflow_stripe_automation.windows import Window
from tests.sensors.seeding import DAY, customer, failed_renewal, has_resource, now, payment, server_time

ALL = [
    EventFinder(event_types=["charge.refunded"]),
    PaymentSucceededFinder(condition=field("amount").gt(100000, currency="usd")),
    CustomerCreatedFinder(),
    EarlyFraudWarningFinder(actionable_only=False),
    SubscriptionCanceledFinder(),
    InvoicePaidFinder(),
    InvoiceOverdueFinder(days_overdue="3", min_amount_due="50000", currency="USD"),
    SubscriptionPaymentFailedFinder(interval="Year"),
]


@pytest.mark.parametrize("finder", ALL, ids=lambda f: f.name)
def test_a_finder_is_rebuilt_from_its_json(finder):
    import json

    data = json.loads(json.dumps(finder.to_dict()))
    assert Finder.from_dict(data) == finder


def test_parameters_are_normalised():
    assert ALL[6].params() == {"condition": None, "days_overdue": 3, "min_amount_due": 50000, "currency": "usd"}
    assert ALL[7].interval == "year"
    assert EarlyFraudWarningFinder(actionable_only=" Off ").actionable_only is False
    assert SubscriptionPaymentFailedFinder(first_failure_only="yes").first_failure_only is True


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EventFinder(event_types=[]), "1 to 20"),
        (lambda: EventFinder(event_types=["customer.*"]), "exact names"),
        (lambda: InvoiceOverdueFinder(min_amount_due=50000), "needs a currency"),
        (lambda: InvoiceOverdueFinder(days_overdue=-1), "whole number of days"),
        (lambda: InvoiceOverdueFinder(min_amount_due="12.50", currency="usd"), "integer number of minor units"),
        (lambda: SubscriptionPaymentFailedFinder(interval="yearly"), "interval must be one of"),
        (lambda: PaymentSucceededFinder(condition={"field": "amount", "op": "bigger", "value": 1}), "unknown op"),
        (lambda: Finder.from_dict({"name": "os.system", "params": {}}), "unknown finder"),
        (lambda: EarlyFraudWarningFinder(actionable_only="maybe"), "actionable_only must be true or false"),
        (lambda: SubscriptionPaymentFailedFinder(first_failure_only="sometimes"), "first_failure_only must be true"),
    ],
)
def test_bad_parameters_are_refused(make, message):
    with pytest.raises(FinderError, match=message):
        make()


def test_recent_windows_read_events_and_agree_with_the_list(stripe_server, stripe_client):
    t = now() - 2 * DAY
    with server_time(stripe_server, t + 10):
        first, second = payment(stripe_client, 1000), payment(stripe_client, 2000)
    window = Window(t, t + 60)

    auto = PaymentSucceededFinder().find(stripe_client, window)
    listed = PaymentSucceededFinder().find(stripe_client, window, source="list")

    assert auto.source == "events" and listed.source == "list"
    assert auto.matches == listed.matches
    assert sorted(m["id"] for m in auto.matches) == sorted([first.id, second.id])


def test_the_condition_narrows_the_matches(stripe_server, stripe_client):
    t = now() - 3600
    with server_time(stripe_server, t):
        payment(stripe_client, 100000)
        big = payment(stripe_client, 100001)
        payment(stripe_client, 900000, currency="eur")
    finder = PaymentSucceededFinder(condition=field("amount").gt(100000, currency="usd"))

    assert [m["id"] for m in finder.find(stripe_client, Window(t, t + 1)).matches] == [big.id]


def test_the_retention_rule_follows_stripes_clock_when_it_runs_ahead(stripe_server, stripe_client):
    """After advance_clock, "recent" for the worker is older than 30 days for the server: list instead."""
    window = Window(now() - 3600, now())
    assert PaymentSucceededFinder().choose_source(stripe_client, window, "auto")[0] == "events"

    stripe_server.advance_clock(days=40)
    customer(stripe_client)  # an event at the server's time tells the finder where Stripe's clock is

    source, why = PaymentSucceededFinder().choose_source(stripe_client, window, "auto")
    assert source == "list" and "before Stripe's 30-day event retention" in why


def test_exact_lists_are_used_at_any_age_and_the_event_finder_has_none(stripe_server, stripe_client):
    old = Window(now() - 60 * DAY, now() - 59 * DAY)
    with server_time(stripe_server, old.start + 5):
        cus = customer(stripe_client)

    found = CustomerCreatedFinder().find(stripe_client, old)
    assert (found.source, [m["id"] for m in found.matches]) == ("list", [cus.id])
    with pytest.raises(FinderError, match="Stripe keeps for 30 days"):
        EventFinder(event_types=["customer.created"]).find(stripe_client, old)
    with pytest.raises(FinderError, match="not found through events"):
        InvoiceOverdueFinder().find(stripe_client, old, source="events")
    assert stripe_server.write_requests()[-1]["path"] == "/v1/customers"  # the seeding, nothing after


def test_events_of_one_object_give_one_match_with_its_latest_snapshot(stripe_server, stripe_client):
    t = now() - 3600
    with server_time(stripe_server, t):
        cus = customer(stripe_client, "before@example.com")
    with server_time(stripe_server, t + 30):
        stripe_client.v1.customers.update(cus.id, params={"email": "after@example.com"})
    finder = EventFinder(event_types=["customer.created", "customer.updated"])

    matches = finder.find(stripe_client, Window(t, t + 60)).matches

    assert [(m["id"], m["email"]) for m in matches] == [(cus.id, "after@example.com")]


def test_a_failing_renewal_is_found_once_at_its_first_failure(stripe_server, stripe_client):
    """Stripe retries a declined renewal 3, 5 and 7 days later: by default only the first failure counts."""
    if not has_resource(stripe_server, "/v1/subscriptions"):
        pytest.skip("the local Stripe server does not serve subscriptions yet")
    _, renewal = failed_renewal(stripe_server, stripe_client, renews_at=now() - 20 * DAY)
    t = renewal.created  # the period's end, by the calendar
    first_day, later = Window(t, t + DAY), Window(t + DAY, t + 20 * DAY)

    def found(window, source="auto", **kwargs):
        finder = SubscriptionPaymentFailedFinder(**kwargs)
        return [(m["id"], m["attempt_count"]) for m in finder.find(stripe_client, window, source).matches]

    assert found(first_day) == [(renewal.id, 1)]
    assert found(later) == []
    assert found(later, first_failure_only=False) == [(renewal.id, 4)]  # the latest retry's snapshot
    assert found(first_day, source="list") == [(renewal.id, 4)]  # created in the window, still open
    assert found(first_day, interval="month") == []


@pytest.mark.parametrize("source", ["events", "list"])
def test_failed_payments_read_their_interval_from_the_prices_not_one_subscription_each(
    stripe_server, stripe_client, source
):
    """A sweep over many failed renewals lists the recipe's prices once and reads no subscription."""
    t = now() - 10 * DAY
    renewals = [failed_renewal(stripe_server, stripe_client, renews_at=t, interval="year")[1] for _ in range(3)]
    monthly = failed_renewal(stripe_server, stripe_client, renews_at=t, interval="month")[1]
    start = min(r.created for r in [*renewals, monthly])
    before = len(stripe_server.requests)

    found = SubscriptionPaymentFailedFinder().find(stripe_client, Window(start - 60, start + DAY), source)

    reads = [r["path"] for r in stripe_server.requests[before:]]
    assert sorted((m["id"], m["interval"]) for m in found.matches) == sorted(
        [(r.id, "year") for r in renewals] + [(monthly.id, "month")]
    )
    assert not [p for p in reads if p.startswith("/v1/subscriptions")]  # no read per object
    assert reads.count("/v1/prices") == 1
