"""Thousands of invoices and their events: every list and filtered list gives exactly the right pages.

The store answers a filtered page from its indexes (``status``, ``customer``, event ``type``), from a
range index (``due_date``) or by scanning, switching from one to the other part-way when a scan runs
long; whichever it picks, walking the pages forwards or backwards must give what filtering every
object by hand gives. How fast is measured by ``bench/server_scale.py``, not asserted here.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from airflow_stripe_automation.testing import LocalStripeServer

N = 3000
CUSTOMERS = 1000
STEP = 10  # seconds between two invoices' creation
DUE = 30 * 86400


@pytest.fixture(scope="module")
def seeded():
    """``N`` invoices of ``CUSTOMERS`` customers: open, paid, void, draft and deleted drafts; due dates in creation order.

    A server of its own: the module's tests share what it seeds once.
    """
    with LocalStripeServer() as server:
        yield _seed(server)


def _seed(server: LocalStripeServer) -> dict[str, Any]:
    start = server.now() - N * STEP
    customers = []
    for i in range(CUSTOMERS):
        server.set_clock(start + i, pin=True)
        customers.append(server.call("POST", "/v1/customers", {"email": f"c{i}@example.com"})["id"])
    for i in range(N):
        server.set_clock(start + CUSTOMERS + i * STEP, pin=True)
        invoice = server.call(
            "POST",
            "/v1/invoices",
            {
                "customer": customers[i % CUSTOMERS],
                "collection_method": "send_invoice",
                "due_date": start + DUE + i * 60,
                "currency": "usd",
            },
        )
        path = f"/v1/invoices/{invoice['id']}"
        server.call(
            "POST", "/v1/invoiceitems", {"customer": invoice["customer"], "invoice": invoice["id"], "amount": 100 + i}
        )
        if i % 50 == 2:
            server.call("DELETE", path)
            continue
        if i % 10 == 2:
            continue  # stays a draft
        server.call("POST", f"{path}/finalize")
        if i % 10 == 0:
            server.call("POST", f"{path}/pay", {"paid_out_of_band": True})
        elif i % 10 == 1:
            server.call("POST", f"{path}/void")
    server.set_clock(start + CUSTOMERS + N * STEP)
    with server.state.lock:
        stored = [
            (oid, kind, obj) for oid, kind, obj in server.state.store.items() if oid not in server.state.store.deleted
        ]
    return {
        "server": server,
        "start": start,
        "customers": customers,
        "invoices": [obj for _, kind, obj in reversed(stored) if kind == "invoice"],  # newest first
        "events": [obj for _, kind, obj in reversed(stored) if kind == "event"],
    }


def _walk(server, path: str, params: dict[str, Any], limit: int) -> list[str]:
    """Every id of a list, page by page with ``starting_after``, newest first."""
    ids: list[str] = []
    while True:
        page = server.call("GET", path, {**params, "limit": limit, **({"starting_after": ids[-1]} if ids else {})})
        ids += [obj["id"] for obj in page["data"]]
        assert len(page["data"]) == limit or not page["has_more"]
        if not page["has_more"]:
            return ids


def _walk_back(server, path: str, params: dict[str, Any], limit: int, oldest: str) -> list[str]:
    """Every id newer than ``oldest``, page by page with ``ending_before``, newest first."""
    ids: list[str] = []
    cursor = oldest
    while True:
        page = server.call("GET", path, {**params, "limit": limit, "ending_before": cursor})
        ids = [obj["id"] for obj in page["data"]] + ids
        if not page["has_more"]:
            return ids
        cursor = page["data"][0]["id"]


def _expect(objects: list[dict[str, Any]], **tests: Any) -> list[str]:
    return [obj["id"] for obj in objects if all(test(obj) for test in tests.values())]


def _due(lo: int | None, hi: int | None):
    return lambda inv: (
        inv["due_date"] is not None and (lo is None or inv["due_date"] >= lo) and (hi is None or inv["due_date"] <= hi)
    )


@pytest.mark.parametrize("limit", [1, 10, 100])
def test_invoice_lists_and_filters_page_exactly(seeded, limit):
    server, start, invoices = seeded["server"], seeded["start"], seeded["invoices"]
    narrow = (start + DUE + 1400 * 60, start + DUE + 1450 * 60)  # ~50 candidates: gathered from the range
    old_half = (None, start + DUE + 1800 * 60)  # most invoices, all older ones: a scan that switches
    cases = [
        ({}, {}),
        ({"status": "open"}, {"status": lambda inv: inv["status"] == "open"}),
        ({"status": "draft"}, {"status": lambda inv: inv["status"] == "draft"}),
        (
            {"status": "open", "due_date": {"gte": narrow[0], "lte": narrow[1]}},
            {"status": lambda inv: inv["status"] == "open", "due": _due(*narrow)},
        ),
        ({"due_date": {"lt": old_half[1] + 1}}, {"due": _due(*old_half)}),
        (
            {"status": "paid", "due_date": {"lte": old_half[1]}},
            {"status": lambda inv: inv["status"] == "paid", "due": _due(*old_half)},
        ),
        ({"due_date": {"gt": start + DUE + 2990 * 60}}, {"due": _due(start + DUE + 2990 * 60 + 1, None)}),
        ({"due_date": {"gte": start}}, {"due": _due(start, None)}),
        (
            {"created": {"gte": start + CUSTOMERS + 500 * STEP, "lt": start + CUSTOMERS + 700 * STEP}},
            {"created": lambda inv: start + CUSTOMERS + 500 * STEP <= inv["created"] < start + CUSTOMERS + 700 * STEP},
        ),
    ]
    for query, tests in cases:
        expected = _expect(invoices, **tests)
        if len(expected) > 40 * limit:
            continue  # a walk of hundreds of pages adds nothing to one of tens
        assert _walk(server, "/v1/invoices", query, limit) == expected, query
        if len(expected) > 1:
            assert _walk_back(server, "/v1/invoices", query, limit, expected[-1]) == expected[:-1], query


def test_invoice_filters_by_customer_and_deep_cursors(seeded):
    server, invoices, customers = seeded["server"], seeded["invoices"], seeded["customers"]
    for customer in (customers[0], customers[3], customers[-1]):
        mine = _expect(invoices, customer=lambda inv, c=customer: inv["customer"] == c)
        assert _walk(server, "/v1/invoices", {"customer": customer}, 2) == mine and mine
        open_ = _expect(invoices, c=lambda inv, c=customer: inv["customer"] == c and inv["status"] == "open")
        assert _walk(server, "/v1/invoices", {"customer": customer, "status": "open"}, 10) == open_
    middle = invoices[len(invoices) // 2]["id"]
    after = server.call("GET", "/v1/invoices", {"status": "open", "limit": 5, "starting_after": middle})
    position = [inv["id"] for inv in invoices].index(middle)
    older_open = [inv["id"] for inv in invoices[position + 1 :] if inv["status"] == "open"]
    assert [inv["id"] for inv in after["data"]] == older_open[:5] and after["has_more"] is True


def test_event_lists_by_type_wildcard_types_and_window(seeded):
    server, events, start = seeded["server"], seeded["events"], seeded["start"]
    types = sorted({e["type"] for e in events})
    assert {"invoice.finalized", "invoice.paid", "invoice.voided", "invoice.deleted"} <= set(types)
    window = (start + CUSTOMERS + 1000 * STEP, start + CUSTOMERS + 1100 * STEP)
    cases = [
        ({"type": "invoice.voided"}, {"t": lambda e: e["type"] == "invoice.voided"}),
        ({"type": "invoice.*"}, {"t": lambda e: fnmatch.fnmatchcase(e["type"], "invoice.*")}),
        ({"type": "customer.*"}, {"t": lambda e: e["type"].startswith("customer.")}),
        ({"type": "nothing.*"}, {"t": lambda e: False}),
        (
            {"types": ["invoice.paid", "invoiceitem.deleted", "customer.created"]},
            {"t": lambda e: e["type"] in ("invoice.paid", "invoiceitem.deleted", "customer.created")},
        ),
        (
            {"type": "invoice.finalized", "created": {"gte": window[0], "lte": window[1]}},
            {"t": lambda e: e["type"] == "invoice.finalized", "w": lambda e: window[0] <= e["created"] <= window[1]},
        ),
    ]
    for query, tests in cases:
        expected = _expect(events, **tests)
        assert _walk(server, "/v1/events", query, 100) == expected, query
        if 1 < len(expected) < 3000:
            assert _walk_back(server, "/v1/events", query, 100, expected[-1]) == expected[:-1], query


def test_the_sdk_walks_a_filtered_list_over_http(seeded):
    server, invoices = seeded["server"], seeded["invoices"]
    client = server.client()
    walked = [inv.id for inv in client.v1.invoices.list(params={"status": "void", "limit": 100}).auto_paging_iter()]
    assert walked == _expect(invoices, s=lambda inv: inv["status"] == "void") and len(walked) > 250
