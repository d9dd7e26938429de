"""How the local Stripe server scales: memory per object and list latency at 1k, 10k and 100k invoices.

    .venv/bin/python bench/server_scale.py [--sizes 1000 10000 100000] [--repeat 20]

Each size runs in a fresh process (so one size's memory does not hide the next's). It seeds N
finalized ``send_invoice`` invoices, each with its own customer, invoice item, PaymentIntent and
invoice payment and the 7 events Stripe emits for them, through ``LocalStripeServer.call`` (the
server's in-process path: the same handlers as HTTP, without the sockets), one set every 10 seconds
of server time; the 10 oldest are paid out of band. It reports the resident memory the seeding added
(RSS after minus before, after a garbage collection) per invoice set and per stored object, then the
median latency of first pages, pages deep in (a cursor in the
middle) and filtered pages, over raw HTTP (what the server costs: routing, the page, JSON) and
once through the SDK (which spends most of its time building StripeObjects): ``status=open`` with a ``due_date`` window of 500 invoices in the
middle, ``status=paid`` (10 matches, all at the far end), ``events.list(type=...)`` and a
``created`` window. Flat latency across N means a page costs O(log N + page), not O(N).
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from benchutil import timed_ms

STEP = 10  # seconds of server time between two invoice sets
WINDOW = 500  # invoices in the filtered due_date window
PAID = 10  # the oldest invoices, paid out of band
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def rss_mb() -> float:
    """The resident set size of this process now (not the peak), in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(n: int, repeat: int, via: str, renewals: int = 0) -> dict[str, Any]:
    """Seed ``n`` invoice sets in this process and measure; the result as a JSON-ready dict.

    :param n: how many invoice sets
    :param repeat: samples per latency
    :param via: ``call`` (in-process) or ``http`` (POSTs with an idempotency key each, as the SDK sends)
    :param renewals: monthly subscriptions, paid once, whose renewal during the seeding is declined
    """
    from airflow_stripe_automation.testing import LocalStripeServer
    from airflow_stripe_automation.testing.forms import encode

    server = LocalStripeServer().start()
    client = server.client()
    client.v1.customers.list(params={"limit": 1})  # the SDK's lazy imports belong to the baseline
    headers = {"Authorization": f"Bearer {server.api_key}"}
    gc.collect()
    before = rss_mb()

    seeding = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def post(path: str, params: dict[str, Any] | None = None) -> Any:
        if via == "call":
            return server.call("POST", path, params)
        body = encode(params or {})
        seeding.request("POST", path, body, {**headers, "Idempotency-Key": str(uuid.uuid4()), **FORM})
        response = seeding.getresponse()
        data = json.loads(response.read())
        assert response.status == 200, data
        return data

    start_ts = server.now() - n * STEP  # the newest set is created about now
    invoice_ids: list[str] = []
    started = time.perf_counter()
    renewed_by = start_ts
    if renewals:
        server.set_clock(start_ts - 28 * 86400, pin=True)
        price = post(
            "/v1/prices",
            {
                "currency": "usd",
                "unit_amount": 2000,
                "product_data": {"name": "Monthly"},
                "recurring": {"interval": "month"},
            },
        )
    for j in range(renewals):
        # paid once with a good card, then a declining one: the renewal fails when the clock passes it
        server.set_clock(start_ts - 28 * 86400 + j * STEP, pin=True)
        card = {"payment_method": "pm_card_visa", "invoice_settings": {"default_payment_method": "pm_card_visa"}}
        cus = post("/v1/customers", {"email": f"r{j}@example.com", **card})
        sub = post("/v1/subscriptions", {"customer": cus["id"], "items": [{"price": price["id"]}]})
        failing = post("/v1/payment_methods/pm_card_chargeCustomerFail/attach", {"customer": cus["id"]})
        post(f"/v1/customers/{cus['id']}", {"invoice_settings": {"default_payment_method": failing["id"]}})
        renewed_by = max(renewed_by, sub["items"]["data"][0]["current_period_end"] + 2 * 3600)
    for i in range(n):
        server.set_clock(start_ts + i * STEP, pin=True)
        cus = post("/v1/customers", {"email": f"c{i}@example.com", "name": f"Customer {i}"})
        due = start_ts + i * STEP + 30 * 86400
        inv = post(
            "/v1/invoices",
            {"customer": cus["id"], "collection_method": "send_invoice", "due_date": due, "currency": "usd"},
        )
        post(
            "/v1/invoiceitems",
            {"customer": cus["id"], "invoice": inv["id"], "amount": 1000 + i % 5000, "currency": "usd"},
        )
        post(f"/v1/invoices/{inv['id']}/finalize")
        if i < PAID:
            post(f"/v1/invoices/{inv['id']}/pay", {"paid_out_of_band": True})
        invoice_ids.append(inv["id"])
    server.set_clock(max(start_ts + n * STEP, renewed_by))  # every renewal has been attempted
    seed_s = time.perf_counter() - started
    gc.collect()
    after = rss_mb()

    with server.state.lock:
        store = server.state.store
        counts = {t: store.count(t) for t in store.types if store.count(t)}
    objects = sum(counts.values())

    mid = n // 2
    lo, hi = max(0, mid - WINDOW // 2), min(n, mid + WINDOW // 2)
    due_window = {"gte": start_ts + lo * STEP + 30 * 86400, "lt": start_ts + hi * STEP + 30 * 86400}
    deep_invoice = invoice_ids[mid]
    created_window = {"gte": start_ts + lo * STEP, "lt": start_ts + hi * STEP}
    mid_event = client.v1.events.list(
        params={"type": "invoice.finalized", "limit": 1, "created": {"lte": start_ts + mid * STEP}}
    ).data
    deep_event = mid_event[0].id

    seeding.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def get(path: str, params: dict[str, Any], expect: int | None = None) -> Any:
        def run() -> None:
            conn.request("GET", f"{path}?{encode(params)}", headers=headers)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body[:500]
            if expect is not None:
                assert len(json.loads(body)["data"]) == expect, (path, params)

        return run

    cases = {
        "invoices first page": get("/v1/invoices", {"limit": 100}, min(100, n)),
        "invoices deep page": get("/v1/invoices", {"limit": 100, "starting_after": deep_invoice}),
        "open + due_date window, first page": get(
            "/v1/invoices", {"status": "open", "due_date": due_window, "limit": 100}, min(100, hi - lo)
        ),
        "open + due_date window, deep page": get(
            "/v1/invoices", {"status": "open", "due_date": due_window, "limit": 100, "starting_after": deep_invoice}
        ),
        "status=paid (10 oldest, + renewals' first)": get(
            "/v1/invoices", {"status": "paid", "limit": 100}, min(100, min(PAID, n) + renewals)
        ),
        "events type=invoice.finalized, first page": get("/v1/events", {"type": "invoice.finalized", "limit": 100}),
        "events type=invoice.finalized, deep page": get(
            "/v1/events", {"type": "invoice.finalized", "limit": 100, "starting_after": deep_event}
        ),
        "events type=customer.created + created window": get(
            "/v1/events", {"type": "customer.created", "created": created_window, "limit": 100}
        ),
        "retrieve invoice": get(f"/v1/invoices/{deep_invoice}", {}),
        "SDK: invoices first page (StripeObjects)": lambda: client.v1.invoices.list(params={"limit": 100}),
    }
    latency = {name: timed_ms(fn, repeat) for name, fn in cases.items()}
    conn.close()
    server.stop()
    delta = after - before
    return {
        "n": n,
        "via": via,
        "renewals": renewals,
        "seed_s": seed_s,
        "sets_per_s": n / seed_s,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rss_delta_mb": delta,
        "objects": counts,
        "objects_total": objects,
        "kb_per_invoice_set": delta * 1024 / n,
        "kb_per_object": delta * 1024 / objects,
        "latency_ms": latency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=20, help="samples per latency (the median is shown)")
    parser.add_argument(
        "--via",
        choices=("call", "http"),
        default="call",
        help="seed in-process (call) or over HTTP with an idempotency key per POST, as the SDK does (slower)",
    )
    parser.add_argument("--renewals", type=int, default=0, help="also this many failing monthly renewals")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat, args.via, args.renewals)))
        return

    results = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--repeat", str(args.repeat), "--via", args.via]
            + ["--renewals", str(args.renewals)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"N={n:,}: seeded in {results[-1]['seed_s']:.0f} s", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)

    width = 46
    print(f"{'invoice sets (N)':{width}}" + "".join(f"{r['n']:>14,}" for r in results))
    rows = [
        ("stored objects", lambda r: f"{r['objects_total']:,}"),
        ("  of which events", lambda r: f"{r['objects']['event']:,}"),
        (f"seeding ({args.via}), sets/s", lambda r: f"{r['sets_per_s']:,.0f}"),
        ("RSS added by seeding, MB", lambda r: f"{r['rss_delta_mb']:,.0f}"),
        (
            "KB per invoice set" + (f" (+ {args.renewals:,} renewals)" if args.renewals else ""),
            lambda r: f"{r['kb_per_invoice_set']:.1f}",
        ),
        ("KB per stored object", lambda r: f"{r['kb_per_object']:.2f}"),
    ]
    for label, cell in rows:
        print(f"{label:{width}}" + "".join(f"{cell(r):>14}" for r in results))
    print("median latency over HTTP (a keep-alive connection; the last row through the SDK), ms")
    for name in results[0]["latency_ms"]:
        print(f"  {name:{width - 2}}" + "".join(f"{r['latency_ms'][name]:>14.2f}" for r in results))


if __name__ == "__main__":
    main()
