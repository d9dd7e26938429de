"""``python -m airflow_stripe_automation.testing --port N``: run the local Stripe server in the foreground.

Prints the URL (and a test key) on start, stops cleanly on SIGINT or SIGTERM. Meant for demos and
for processes that do not share memory with tests; control it over HTTP under ``/_testing/``.
"""

from __future__ import annotations

import argparse

from .foreground import wait_for_stop_signal
from .server import LocalStripeServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_stripe_automation.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="N",
        help="answer 429 beyond N requests a second, as Stripe does (25 in test mode); default: no limit",
    )
    args = parser.parse_args(argv)

    server = LocalStripeServer(host=args.host, port=args.port, rate_limit=args.rate_limit).start()
    limit = f", at most {args.rate_limit:g} requests/s" if args.rate_limit else ""
    print(f"Local Stripe server listening on {server.url}{limit}", flush=True)
    print(f"API key: {server.api_key} (any sk_test_/rk_test_ key works); Ctrl-C to stop", flush=True)
    try:
        wait_for_stop_signal()
    finally:
        server.stop()
        print("Local Stripe server stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
