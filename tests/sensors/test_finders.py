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


def test_stripes_clock_is_read_from_its_date_header_even_with_no_event_since(stripe_server, stripe_client):
    """A clock moved 40 days with nothing created since: only Stripe's Date header says where it is."""
    from airflow_stripe_automation.finders import stripe_now

    window = Window(now() - 3600, now())
    stripe_server.set_clock(now() + 40 * DAY, pin=True)

    assert abs(stripe_now(stripe_client) - stripe_server.now()) <= 1  # the header's resolution: a second
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


def _seed_in_window(server, start: int, count: int, make) -> None:
    for i in range(count):
        server.set_clock(start + i, pin=True)
        make(i)
    server.set_clock(now())


def _pay(server, i: int) -> dict:
    params = {"amount": 1000 + i, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    return server.call("POST", "/v1/payment_intents", params)


def _open_invoice(server, i: int, due_in: int = 0) -> dict:
    cus = server.call("POST", "/v1/customers", {"email": f"c{i}@example.com"})
    due = server.now() + 7 * DAY
    invoice = server.call(
        "POST", "/v1/invoices", {"customer": cus["id"], "collection_method": "send_invoice", "due_date": due}
    )
    server.call("POST", "/v1/invoiceitems", {"customer": cus["id"], "invoice": invoice["id"], "amount": 50000 + i})
    return server.call("POST", f"/v1/invoices/{invoice['id']}/finalize")


def _subscription(server, i: int, card: str, state: dict) -> dict:
    if "price" not in state:
        price = {
            "currency": "usd",
            "unit_amount": 9900,
            "product_data": {"name": "Plan"},
            "recurring": {"interval": "year"},
        }
        state["price"] = server.call("POST", "/v1/prices", price)["id"]
    cus = server.call(
        "POST", "/v1/customers", {"payment_method": card, "invoice_settings": {"default_payment_method": card}}
    )
    return server.call("POST", "/v1/subscriptions", {"customer": cus["id"], "items": [{"price": state["price"]}]})


SWEEPS = {
    "events": (lambda: EventFinder(event_types=["charge.refunded"]), lambda s, i, st: s.call(
        "POST", "/v1/refunds", {"payment_intent": _pay(s, i)["id"]}), 0),
    "payment_succeeded": (PaymentSucceededFinder, lambda s, i, st: _pay(s, i), 0),
    "customer_created": (CustomerCreatedFinder, lambda s, i, st: s.call("POST", "/v1/customers", {}), 0),
    "early_fraud_warning": (EarlyFraudWarningFinder, lambda s, i, st: s.create_early_fraud_warning(
        _pay(s, i)["latest_charge"]), 0),
    "subscription_canceled": (SubscriptionCanceledFinder, lambda s, i, st: s.call(
        "DELETE", f"/v1/subscriptions/{_subscription(s, i, 'pm_card_visa', st)['id']}"), 0),
    "invoice_paid": (InvoicePaidFinder, lambda s, i, st: s.call(
        "POST", f"/v1/invoices/{_open_invoice(s, i)['id']}/pay", {"paid_out_of_band": True}), 0),
    "invoice_overdue": (InvoiceOverdueFinder, lambda s, i, st: _open_invoice(s, i), 7 * DAY),
    "subscription_payment_failed": (SubscriptionPaymentFailedFinder, lambda s, i, st: _subscription(
        s, i, "pm_card_chargeCustomerFail", st), 0),
}  # fmt: skip


def _sources(name: str) -> list[str]:
    """Each way a finder can read: the auto choice, and the list APIs forced where auto reads events."""
    finder = SWEEPS[name][0]()
    return ["auto", "list"] if finder.event_types and not finder.list_is_exact and name != "events" else ["auto"]


@pytest.mark.parametrize(("name", "source"), [(n, s) for n in SWEEPS for s in _sources(n)])
def test_a_sweep_reads_one_list_page_per_100_objects_and_no_object_on_its_own(stripe_server, name, source):
    """250 matches: 3 pages, plus at most a look at Stripe's clock (events) and one price listing."""
    make, seed, shift = SWEEPS[name]
    start = now() - 2 * 3600  # recent: an incomplete subscription expires (its invoice voided) after 23 h
    state: dict = {}
    _seed_in_window(stripe_server, start, 250, lambda i: seed(stripe_server, i, state))
    before = len(stripe_server.requests)
    found = make().find(stripe_server.client(), Window(start + shift, start + 250 + shift), source)
    reads = stripe_server.requests[before:]
    assert len(found.matches) == 250
    pages = [r for r in reads if r["path"] not in ("/v1/prices",) and r["params"].get("limit") == "100"]
    assert len(pages) == 3, [r["path"] for r in reads]
    extra = [r for r in reads if r not in pages]
    assert all(
        r["params"].get("limit") == "1" and r["path"] == "/v1/events" or r["path"] == "/v1/prices" for r in extra
    )
    assert len(extra) <= 2 and all(r["method"] == "GET" for r in reads)


def test_matches_stream_page_by_page(stripe_server, stripe_client):
    start = now() - 5 * DAY
    _seed_in_window(stripe_server, start, 250, lambda i: stripe_server.call("POST", "/v1/customers", {}))
    window = Window(start, start + 250)
    before = len(stripe_server.requests)
    streamed = CustomerCreatedFinder().iter_matches(stripe_client, window, "list")
    first = next(streamed)
    assert len(stripe_server.requests) - before == 1  # one page read, not the whole window
    rest = [first, *streamed]
    assert len(stripe_server.requests) - before == 3
    found = CustomerCreatedFinder().find(stripe_client, window).matches
    assert sorted(rest, key=lambda m: (m["created"], m["id"])) == found and len(found) == 250
