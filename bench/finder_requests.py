"""Requests per 100 objects read, for every finder: a sweep costs one list page per 100 objects, no retrieves.

    .venv/bin/python bench/finder_requests.py [--objects 10000]

For each finder (and, for those that can read either, each source) it seeds ``--objects`` matching
objects on a fresh local Stripe server through ``LocalStripeServer.call`` (in-process, so the
seeding stays out of the request log), one a second of server time inside a window two days ago
(inside Stripe's 30-day event retention), runs ``finder.find`` through the real SDK over HTTP, and
reads the server's request log: every request the sweep made, how many were retrieves (a GET of one
object) and how many objects it found. Target: at most 1.02 requests per 100 objects, 0 retrieves.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from airflow_stripe_automation.finders import (
    CustomerCreatedFinder,
    EarlyFraudWarningFinder,
    EventFinder,
    Finder,
    InvoiceOverdueFinder,
    InvoicePaidFinder,
    PaymentSucceededFinder,
    SubscriptionCanceledFinder,
    SubscriptionPaymentFailedFinder,
)
from airflow_stripe_automation.testing import LocalStripeServer
from airflow_stripe_automation.windows import Window

DAY = 86400
DUE_IN = 7 * DAY  # seeded invoices fall due a week after they are created


def _payment(server: LocalStripeServer, i: int) -> dict[str, Any]:
    return server.call(
        "POST",
        "/v1/payment_intents",
        {"amount": 1000 + i, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
    )


def _customer(server: LocalStripeServer, i: int, card: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"email": f"c{i}@example.com"}
    if card:
        params.update(payment_method=card, invoice_settings={"default_payment_method": card})
    return server.call("POST", "/v1/customers", params)


def _price(server: LocalStripeServer) -> str:
    price = server.call(
        "POST",
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 120000,
            "product_data": {"name": "Annual"},
            "recurring": {"interval": "year"},
        },
    )
    return price["id"]


def _invoice(server: LocalStripeServer, i: int, at: int) -> dict[str, Any]:
    cus = _customer(server, i)
    invoice = server.call(
        "POST",
        "/v1/invoices",
        {"customer": cus["id"], "collection_method": "send_invoice", "due_date": at + DUE_IN, "currency": "usd"},
    )
    server.call("POST", "/v1/invoiceitems", {"customer": cus["id"], "invoice": invoice["id"], "amount": 60000 + i})
    return server.call("POST", f"/v1/invoices/{invoice['id']}/finalize")


def seed_refunds(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    server.call("POST", "/v1/refunds", {"payment_intent": _payment(server, i)["id"]})


def seed_payments(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    _payment(server, i)


def seed_customers(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    _customer(server, i)


def seed_fraud_warnings(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    server.create_early_fraud_warning(_payment(server, i)["latest_charge"])


def seed_canceled_subscriptions(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    if "price" not in state:
        state["price"] = _price(server)
    cus = _customer(server, i, "pm_card_visa")
    sub = server.call("POST", "/v1/subscriptions", {"customer": cus["id"], "items": [{"price": state["price"]}]})
    server.call("DELETE", f"/v1/subscriptions/{sub['id']}")


def seed_paid_invoices(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    invoice = _invoice(server, i, at)
    server.call("POST", f"/v1/invoices/{invoice['id']}/pay", {"paid_out_of_band": True})


def seed_open_invoices(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    _invoice(server, i, at)


def seed_failed_subscription_payments(server: LocalStripeServer, i: int, at: int, state: dict[str, Any]) -> None:
    """A yearly subscription whose first payment is declined: ``invoice.payment_failed``, attempt 1."""
    if "price" not in state:
        state["price"] = _price(server)
    cus = _customer(server, i, "pm_card_chargeCustomerFail")
    server.call("POST", "/v1/subscriptions", {"customer": cus["id"], "items": [{"price": state["price"]}]})


Seeder = Callable[[LocalStripeServer, int, int, dict[str, Any]], None]
CASES: list[tuple[str, Callable[[], Finder], Seeder, tuple[str, ...], int]] = [
    # (label, finder, seeder, sources, shift of the window: the overdue finder looks past due dates)
    ("events (charge.refunded)", lambda: EventFinder(event_types=["charge.refunded"]), seed_refunds, ("auto",), 0),
    ("payment_succeeded", PaymentSucceededFinder, seed_payments, ("auto", "list"), 0),
    ("customer_created", CustomerCreatedFinder, seed_customers, ("auto",), 0),
    ("early_fraud_warning", EarlyFraudWarningFinder, seed_fraud_warnings, ("auto",), 0),
    ("subscription_canceled", SubscriptionCanceledFinder, seed_canceled_subscriptions, ("auto", "list"), 0),
    ("invoice_paid", InvoicePaidFinder, seed_paid_invoices, ("auto", "list"), 0),
    ("invoice_overdue (3 days)", lambda: InvoiceOverdueFinder(days_overdue=3), seed_open_invoices, ("auto",), 3),
    (
        "subscription_payment_failed",
        SubscriptionPaymentFailedFinder,
        seed_failed_subscription_payments,
        ("auto", "list"),
        0,
    ),
]


def _kind(server: LocalStripeServer, request: dict[str, Any]) -> str:
    """``list`` or ``retrieve`` (a GET of one object, by the route's ``{id}``), else the method."""
    if request["method"] != "GET":
        return request["method"]
    route, _ = server.state.resolve("GET", request["path"])
    return "retrieve" if route.path.endswith("}") else "list"


def run(server: LocalStripeServer, objects: int, label: str, make: Callable[[], Finder], seed: Seeder,
        sources: tuple[str, ...], shift_days: int) -> list[dict[str, Any]]:  # fmt: skip
    server.reset()
    start = server.now() - 2 * DAY
    state: dict[str, Any] = {}
    began = time.perf_counter()
    for i in range(objects):
        server.set_clock(start + i, pin=True)
        seed(server, i, start + i, state)
    seeded_s = time.perf_counter() - began
    end = start + objects
    # the overdue finder matches invoices ``days_overdue`` past their due date: look where they fall
    window = (
        Window(start + DUE_IN + shift_days * DAY, end + DUE_IN + shift_days * DAY) if shift_days else Window(start, end)
    )
    server.set_clock(max(end, window.end) + 3600)
    client = server.client()
    rows = []
    for source in sources:
        before = len(server.requests)
        began = time.perf_counter()
        found = make().find(client, window, source)
        took = time.perf_counter() - began
        made = server.requests[before:]
        kinds = Counter(_kind(server, r) for r in made)
        paths = Counter(r["path"] for r in made if _kind(server, r) == "list")
        rows.append(
            {
                "finder": label,
                "source": f"{source} -> {found.source}",
                "found": len(found.matches),
                "requests": len(made),
                "per_100": 100 * len(made) / max(1, len(found.matches)),
                "retrieves": kinds["retrieve"],
                "lists": dict(paths),
                "seconds": took,
                "seeded_s": seeded_s,
            }
        )
        print(f"  {label} [{source}]: {len(found.matches)} found, {len(made)} requests", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000, help="matching objects seeded per finder")
    parser.add_argument("--only", help="run only finders whose label contains this")
    args = parser.parse_args()
    rows = []
    with LocalStripeServer() as server:
        for label, make, seed, sources, shift in CASES:
            if args.only and args.only not in label:
                continue
            rows += run(server, args.objects, label, make, seed, sources, shift)
    print()
    print(
        f"{'finder':30} {'source':18} {'found':>7} {'requests':>9} {'per 100':>8} {'retrieves':>9} {'time s':>7}  lists"
    )
    for r in rows:
        lists = ", ".join(f"{path} ×{n}" for path, n in r["lists"].items())
        print(
            f"{r['finder']:30} {r['source']:18} {r['found']:>7} {r['requests']:>9} {r['per_100']:>8.2f} "
            f"{r['retrieves']:>9} {r['seconds']:>7.1f}  {lists}"
        )


if __name__ == "__main__":
    main()
