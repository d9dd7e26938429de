"""Benchmark the rate budget: a sweep against the local server rate-limited as Stripe is, hook vs naive loop.

    .venv/bin/python bench/rate_budget.py [--objects 500] [--limit 25]

The local Stripe server answers ``429 rate_limit`` beyond ``--limit`` requests a second (a bucket
of one second's worth, as Stripe's). Each run seeds ``--objects`` customers without a limit, then
sweeps them as R8 does: list them (auto-paging, 100 a page) and credit each customer's balance
once, with an idempotency key per customer. Side by side, in one run:

- the hook with the budget at the limit (``max_requests_per_second`` = ``--limit``);
- the hook with a budget four times the limit: 429s happen and are resent;
- a naive stripe-python loop (a plain ``StripeClient``, no budget, the SDK's default retries): list,
  then retrieve and credit one customer at a time, skipping a customer whose request failed.

For each: requests answered 200 a second ("ops/s"), 429s and how many of them were resent,
customers credited once, twice or more ("duplicates", 0 expected) and not at all, and the wall time. Run by hand; not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import stripe

from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.testing import LocalStripeServer

CREDIT = -500  # minor units: a 5.00 USD credit on the customer's balance


@dataclass
class Result:
    name: str
    seconds: float
    ok_requests: int
    rate_limited: int
    resent: int
    credited_once: int
    duplicates: int
    not_done: int

    def row(self) -> str:
        ops = self.ok_requests / self.seconds if self.seconds else 0.0
        return (
            f"| {self.name} | {ops:.1f} | {self.rate_limited} | {self.resent} | {self.credited_once} | {self.duplicates} | "
            f"{self.not_done} | {self.seconds:.1f} |"
        )


def _seed(server: LocalStripeServer, objects: int) -> None:
    server.reset()
    server.set_rate_limit(None)
    client = server.client()
    for i in range(objects):
        client.v1.customers.create(params={"email": f"signup{i}@example.com"})


def _outcome(server: LocalStripeServer, name: str, seconds: float, seeded: int, resent: int) -> Result:
    """Count what the sweep sent and what the server holds, with its limit off (the counting is no part of the sweep)."""
    ok = sum(1 for r in server.requests[seeded:] if r["status"] == 200)
    refused = server.rate_limited
    server.set_rate_limit(None)
    balances = [c.balance or 0 for c in server.client().v1.customers.list(params={"limit": 100}).auto_paging_iter()]
    return Result(
        name=name,
        seconds=seconds,
        ok_requests=ok,
        rate_limited=refused,
        resent=resent,
        credited_once=sum(1 for b in balances if b == CREDIT),
        duplicates=sum(1 for b in balances if b < CREDIT),
        not_done=sum(1 for b in balances if b == 0),
    )


def _credit(client: stripe.StripeClient, customer_id: str) -> None:
    client.v1.customers.balance_transactions.create(
        customer_id,
        params={"amount": CREDIT, "currency": "usd", "description": "Signup credit"},
        options={"idempotency_key": f"bench-signup-credit/{customer_id}"},
    )


Sweep = tuple[Callable[[], None], Callable[[], int]]  # the sweep, and how many 429s it resent


def _hook_sweep(server: LocalStripeServer, budget: float) -> Sweep:
    conn_id = f"stripe_bench_{int(budget)}"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {
            "conn_type": "stripe",
            "password": server.api_key,
            "extra": {"api_base": server.url, "max_requests_per_second": budget},
        }
    )
    hook = StripeHook(stripe_conn_id=conn_id)
    hook.get_conn()  # read the connection before the clock starts

    def sweep() -> None:
        client = hook.get_conn()
        for customer in client.v1.customers.list(params={"limit": 100}).auto_paging_iter():
            _credit(client, customer.id)

    return sweep, lambda: hook.http_client.retried


def _naive_sweep(server: LocalStripeServer) -> Sweep:
    client = stripe.StripeClient(server.api_key, base_addresses={"api": server.url})

    def sweep() -> None:
        ids: list[str] = []
        try:
            ids = [c.id for c in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()]
        except stripe.RateLimitError:
            pass  # what a page listed so far is all this loop will act on
        for customer_id in ids:
            try:
                client.v1.customers.retrieve(customer_id)
                _credit(client, customer_id)
            except stripe.RateLimitError:
                continue  # the naive loop moves on; this customer stays without its credit

    return sweep, lambda: 0


def _run(server: LocalStripeServer, name: str, objects: int, limit: float, make: Callable[[], Sweep]) -> Result:
    _seed(server, objects)
    sweep, resent = make()
    seeded = len(server.requests)
    server.set_rate_limit(limit)  # a fresh, full bucket
    start = time.perf_counter()
    sweep()
    seconds = time.perf_counter() - start
    return _outcome(server, name, seconds, seeded, resent())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--limit", type=float, default=25.0, help="the server's rate limit, requests a second")
    args = parser.parse_args()
    # One WARNING per 429 is right in a task log; here it would bury the table.
    logging.getLogger("airflow_stripe_automation.hooks.http_client").setLevel(logging.ERROR)
    logging.getLogger("stripe").setLevel(logging.WARNING)

    with LocalStripeServer() as server:
        results = [
            _run(
                server,
                f"hook, budget {args.limit:g}/s",
                args.objects,
                args.limit,
                lambda: _hook_sweep(server, args.limit),
            ),
            _run(
                server,
                f"hook, budget {4 * args.limit:g}/s (429s resent)",
                args.objects,
                args.limit,
                lambda: _hook_sweep(server, 4 * args.limit),
            ),
            _run(server, "naive stripe-python loop", args.objects, args.limit, lambda: _naive_sweep(server)),
        ]

    print(
        f"Sweep of {args.objects} customers (list, then one balance credit each) against the local Stripe "
        f"server limited to {args.limit:g} requests/s\n"
    )
    print("| client | ops/s (200s) | 429s | 429s resent | credited once | duplicates | not done | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
