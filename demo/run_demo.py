"""The demo: the twelve recipes on a real, local Airflow against the local Stripe server and SMTP sink.

Run it with ``make demo`` (or ``.venv/bin/python demo/run_demo.py``). It starts the local Stripe
server and an SMTP sink, seeds a small account (customers, payments, a declined card, early fraud
warnings, a cancellation, paid, failed and overdue invoices), starts Airflow — api-server,
scheduler, dag-processor, triggerer, on SQLite with the LocalExecutor, home ``.airflow_home/`` —
creates the ``stripe_api`` pool, runs every recipe in ``dags/`` through the scheduler (triggered
with conf, sweeps over the seeded window, a backfill of R6), prints what each did, and stays up
with the UI until Ctrl-C. ``--once`` exits after the summary.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python demo/run_demo.py` finds `demo`

from demo import plan, report  # noqa: E402
from demo.seed import seed_account  # noqa: E402
from demo.stack import POOL_SLOTS, REPO, Stack, StackOptions  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="demo/run_demo.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="exit after the summary (tests, CI)")
    parser.add_argument("--home", type=Path, default=REPO / ".airflow_home", help="the Airflow home (emptied first)")
    parser.add_argument("--port", type=int, default=8080, help="the UI's port, if free (else any free one)")
    parser.add_argument("--stripe-url", help="use this local Stripe server instead of starting one")
    parser.add_argument("--smtp-port", type=int, help="use the SMTP sink on 127.0.0.1:PORT instead of starting one")
    return parser.parse_args(argv)


def say(text: str = "") -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Importing the provider configures Airflow's logging, under which the SDK logs every request: not here.
    # (the same for the SMTP sink's protocol log)
    for name in ("stripe", "mail.log"):
        logging.getLogger(name).setLevel(logging.WARNING)
    began = time.monotonic()
    stack = Stack(
        StackOptions(home=args.home, api_port=args.port, stripe_url=args.stripe_url, smtp_port=args.smtp_port)
    )

    def elapsed() -> str:
        return f"[{time.monotonic() - began:5.0f}s]"

    try:
        stack.start_servers()
        say(f"{elapsed()} Local Stripe server on {stack.stripe_url}, SMTP sink on 127.0.0.1:{stack.smtp_port}")
        account = seed_account(stack.stripe_client(), stack.stripe_url)
        say(
            f"{elapsed()} Seeded {len(account.customers)} customers, payments, a declined card, 2 early fraud "
            f"warnings, a cancellation, paid / failed / overdue invoices "
            f"(the sweeps' window: {account.window['since']} … {account.window['until']})"
        )
        say(
            f"{elapsed()} Starting Airflow in {stack.home} (SQLite, LocalExecutor): db migrate, then api-server, scheduler, dag-processor, triggerer …"
        )
        stack.start_airflow()
        stack.create_pool()
        say(f"{elapsed()} Airflow is up at {stack.api_url}; pool stripe_api: {POOL_SLOTS} slots")
        recipes = plan.recipes(account)
        stack.wait_for_dags([r.dag_id for r in recipes])
        say(
            f"{elapsed()} The DAG processor parsed the {len(recipes)} recipes in dags/; unpausing and starting their runs:"
        )
        for recipe in recipes:
            kind = "" if recipe.backfill else f"{len(recipe.runs)} run{'s' if len(recipe.runs) > 1 else ''}"
            say(f"    {recipe.code:<4}{recipe.dag_id:<34}{kind:<9}{recipe.what}")
        plan.start_runs(stack, recipes)

        def finished(outcome: plan.RunOutcome) -> None:
            say(f"{elapsed()}{report.run_line(outcome)}")
            for line in report.failure_lines(stack, outcome):
                say(line + ("   (planned)" if outcome.as_planned else ""))

        def progress(done: int, total: int) -> None:
            say(f"{elapsed()}   … {done} of {total} runs finished")

        outcomes = plan.wait_for_runs(stack, recipes, finished, progress)
        say(f"\n{elapsed()} What each recipe did (from the runs' summaries, the stripe_run_summary XComs):")
        for recipe in recipes:
            say("  " + report.recipe_line(recipe, [o for o in outcomes if o.recipe is recipe]))
        unplanned = [o for o in outcomes if not o.as_planned]
        say()
        for line in report.login_lines(stack):
            say(line)
        say(
            f"\nDemo finished in {time.monotonic() - began:.0f}s: "
            + (
                "as expected"
                if not unplanned
                else "UNEXPECTED: " + ", ".join(f"{o.recipe.code} {o.run_id} {o.state}" for o in unplanned)
            )
        )
        say("Timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in stack.timings.items()))
        if not args.once:
            from airflow_stripe_automation.testing.foreground import wait_for_stop_signal

            say("Airflow keeps running (the hourly and daily recipes on schedule); Ctrl-C to stop.")
            wait_for_stop_signal()
        return 0 if not unplanned else 1
    except KeyboardInterrupt:
        say("\nInterrupted.")
        return 130
    finally:
        say("Stopping Airflow and the local servers …")
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
