"""Benchmark the local Stripe server through the real SDK: run by hand, numbers go to the issue note.

    .venv/bin/python bench/local_stripe_server.py [--objects 5000]

Measures creates per second, list-page latency at the first page, deep in the list and filtered, a full
auto-paging walk, retrieve latency, idempotent replay latency, and the resident memory of the
process holding the server, so the "quadratic slowdown" we saw in localstripe stays away.
"""

from __future__ import annotations

import argparse
import resource
import time

from benchutil import timed_ms

from airflow_stripe_automation.testing import LocalStripeServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=5000)
    args = parser.parse_args()

    with LocalStripeServer() as server:
        client = server.client()
        start = time.perf_counter()
        ids = [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(args.objects)]
        create_rate = args.objects / (time.perf_counter() - start)

        first_page = timed_ms(lambda: client.v1.customers.list(params={"limit": 100}))
        deep = ids[len(ids) // 10]
        deep_page = timed_ms(lambda: client.v1.customers.list(params={"limit": 100, "starting_after": deep}))
        retrieve = timed_ms(lambda: client.v1.customers.retrieve(ids[len(ids) // 2]))
        by_email = timed_ms(lambda: client.v1.customers.list(params={"email": f"c{len(ids) // 3}@example.com"}))

        start = time.perf_counter()
        walked = sum(1 for _ in client.v1.customers.list(params={"limit": 100}).auto_paging_iter())
        walk = time.perf_counter() - start

        client.v1.customers.create(params={"email": "same@example.com"}, options={"idempotency_key": "bench"})
        replay = timed_ms(
            lambda: client.v1.customers.create(
                params={"email": "same@example.com"}, options={"idempotency_key": "bench"}
            )
        )
        # Charges: the path every payment recipe takes (create + confirm, charge, events).
        customer = ids[0]
        start = time.perf_counter()
        for _ in range(500):
            client.v1.payment_intents.create(
                params={
                    "amount": 1000,
                    "currency": "usd",
                    "customer": customer,
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                    "off_session": True,
                }
            )
        charge_rate = 500 / (time.perf_counter() - start)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"objects                     {args.objects}")
    print(f"customer creates / s (SDK)  {create_rate:,.0f}")
    print(f"charges / s (SDK)           {charge_rate:,.0f}")
    print(f"list 100, first page        {first_page:.2f} ms (median)")
    print(f"list 100, deep cursor       {deep_page:.2f} ms (median)")
    print(f"list filtered by email      {by_email:.2f} ms (median)")
    print(f"retrieve                    {retrieve:.2f} ms (median)")
    print(f"auto-paging walk            {walk:.2f} s for {walked} objects")
    print(f"idempotent replay           {replay:.2f} ms (median)")
    print(f"peak RSS (client + server)  {rss_mb:,.0f} MB")


if __name__ == "__main__":
    main()
