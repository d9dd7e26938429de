"""Benchmark R6 and R8 end to end through ``dag.test()`` at 1k, 10k and 100k objects: run by hand.

    .venv/bin/python bench/sweep_end_to_end.py [--sizes 1000,10000,100000] [--recipes r6,r8]
                                               [--rate-limit 25] [--replay]

For each recipe and size, three processes, so each one's memory is its own:

* a *server* process seeds the local Stripe server in-process (``LocalStripeServer.call``: no HTTP)
  — R6: overdue invoices of 600.00 USD, one customer per ten invoices; R8: new customers — and
  runs it with an SMTP sink beside it, optionally rate-limited like Stripe's test mode;
* a *runner* process, on a fresh SQLite metadata DB, runs the example DAG over the seeded window
  with ``dag.test()`` and reports its wall time, peak RSS and the run's XCom bytes;
* this process prints one table row: objects, wall time, ms per object, peak RSS, XCom bytes (in
  all, per object, the largest single XCom), requests per object, achieved requests per second,
  and the duplicates found (mails per invoice, credits per customer beyond one).

The runner's connection has ``max_network_retries`` 0 and the budget ``max_requests_per_second``
set to ``--budget`` (default: the server's ``--rate-limit`` when given, else 10,000: the sweep's own
speed, not Stripe's limit).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DAY, HOUR = 86400, 3600
DAG_IDS = {"r6": "stripe_overdue_invoice_alert", "r8": "stripe_signup_credit"}
FILES = {"r6": "stripe_overdue_invoice_alert.py", "r8": "stripe_signup_credit.py"}


def _iso(ts: int) -> str:
    import pendulum

    return pendulum.from_timestamp(ts).isoformat()


# -- the server process -------------------------------------------------------------------------


def _seed(server: Any, recipe: str, count: int) -> dict[str, str]:
    """Seed ``count`` objects for ``recipe``; return the run conf whose window holds them all."""
    start = server.now() - 2 * DAY
    server.set_clock(start, pin=True)
    if recipe == "r6":
        customers = [
            server.call("POST", "/v1/customers", {"email": f"late{i}@example.com", "name": f"Late {i}"})["id"]
            for i in range(max(1, count // 10))
        ]
        for i in range(count):
            cus = customers[i % len(customers)]
            invoice = server.call(
                "POST", "/v1/invoices", {"customer": cus, "collection_method": "send_invoice", "days_until_due": 1}
            )
            server.call(
                "POST",
                "/v1/invoiceitems",
                {"customer": cus, "invoice": invoice["id"], "amount": 60000, "currency": "usd"},
            )
            server.call("POST", f"/v1/invoices/{invoice['id']}/finalize", {})
        due = start + DAY
        server.set_clock(due + HOUR, pin=True)
        return {"since": _iso(due - HOUR), "until": _iso(due + HOUR)}
    for i in range(count):
        server.call("POST", "/v1/customers", {"email": f"new{i}@example.com"})
    server.set_clock(start + HOUR, pin=True)
    return {"since": _iso(start - 60), "until": _iso(start + 60)}


def _stats(server: Any, smtp: Any, recipe: str) -> dict[str, Any]:
    requests = list(server.requests)
    out: dict[str, Any] = {
        "requests": len(requests),
        "writes": len([r for r in requests if r["method"] != "GET"]),
        "rate_limited": server.rate_limited,
    }
    if recipe == "r6":
        numbers = [m[1] for m in (re.search(r"<td>(\S+-\d+)</td>", mail.body) for mail in smtp.messages) if m]
        out.update(acted=len(set(numbers)), duplicates=len(numbers) - len(set(numbers)))
    else:
        credited: dict[str, int] = {}
        for _, obj in server.state.store.scan("customer_balance_transaction"):
            credited[obj["customer"]] = credited.get(obj["customer"], 0) + 1
        out.update(acted=len(credited), duplicates=sum(n - 1 for n in credited.values()))
    return out


def serve(recipe: str, count: int, rate_limit: float | None) -> None:
    """The server process: seed, say where it listens, serve until told to report, report, stop."""
    from airflow_stripe_automation.testing import LocalStripeServer
    from airflow_stripe_automation.testing.smtp import LocalSmtpServer

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    server = LocalStripeServer().start()
    smtp = LocalSmtpServer().start()
    began = time.perf_counter()
    conf = _seed(server, recipe, count)
    seeded = time.perf_counter() - began
    server.set_rate_limit(rate_limit)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "url": server.url,
                "smtp": smtp.airflow_connection(),
                "conf": conf,
                "seed_s": seeded,
                "server_kb_per_object": (after - before) / count,
            }
        ),
        flush=True,
    )
    sys.stdin.readline()  # the runner is done
    print(json.dumps(_stats(server, smtp, recipe)), flush=True)
    smtp.stop()
    server.stop()


# -- the runner process -------------------------------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def run(recipe: str, result_file: str) -> None:
    """The runner process (environment set by the caller): ``dag.test()`` once, then its figures."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    conf = json.loads(os.environ["BENCH_RUN_CONF"])
    trace = os.environ.get("BENCH_TRACEMALLOC")
    dag = DagBag(dag_folder=str(REPO / "example_dags" / FILES[recipe])).dags[DAG_IDS[recipe]]
    if trace:
        import gc
        import tracemalloc

        gc.collect()
        frames = int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1"))
        if frames:
            tracemalloc.start(frames)
    series: list[tuple[float, int]] = []  # (seconds, RSS KB) every half second: where memory grows
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            series.append((round(time.perf_counter() - began, 1), _rss_kb()))

    began = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    dag_run = dag.test(run_conf=conf)
    wall = time.perf_counter() - began
    # The run's own high-water mark, read before anything below loads what the run stored.
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    done.set()
    sampler.join()
    if trace:
        gc.collect()
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(f"{trace}.after")
            tracemalloc.stop()
        # What the process still holds, by type (gc's view: containers and objects, not strings):
        # cheap, so it can be compared between sizes without tracing's slowdown.
        held: dict[str, list[int]] = {}
        for obj in gc.get_objects():
            name = f"{type(obj).__module__}.{type(obj).__qualname__}"
            count_size = held.setdefault(name, [0, 0])
            count_size[0] += 1
            count_size[1] += sys.getsizeof(obj)
        Path(f"{trace}.types.json").write_text(json.dumps(held))
    # Streamed, a few rows at a time: at 100,000 objects the run's XComs are 48 MB of JSON, and reading
    # them all at once (as this bench did until 2026-12-04) raised the process's peak by 165 MB.
    with create_session() as session:
        values = session.execute(
            select(XComModel.value)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id)
            .execution_options(yield_per=200)
        ).scalars()
        sizes = [len(json.dumps(value)) for value in values]
    Path(result_file).write_text(
        json.dumps(
            {
                "state": str(dag_run.state),
                "wall_s": wall,
                "peak_rss_mb": peak_kb / 1024,
                "peak_rss_with_accounting_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "xcom_bytes": sum(sizes),
                "xcom_largest": max(sizes, default=0),
                "xcoms": len(sizes),
                "rss_end_mb": _rss_kb() / 1024,
                "rss_series": series,
            }
        )
    )


# -- the orchestrator ---------------------------------------------------------------------------


def measure(
    recipe: str, count: int, rate_limit: float | None, budget: float, batch_size: int | None = None, trace: str = ""
) -> dict[str, Any]:
    """One row: seed a server, run the DAG against it in a fresh process, collect both sides' figures."""
    me = [sys.executable, __file__]
    limit = ["--rate-limit", str(rate_limit)] if rate_limit else []
    server = subprocess.Popen(
        [*me, "--serve", recipe, str(count), *limit], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None and server.stdout is not None
    ready = json.loads(server.stdout.readline())
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as home:
        extra = {"api_base": ready["url"], "max_network_retries": 0, "max_requests_per_second": budget}
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_STRIPE_DEFAULT": json.dumps(
                {"conn_type": "stripe", "password": "sk_test_bench", "extra": extra}
            ),
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(ready["smtp"]),
            "BENCH_RUN_CONF": json.dumps({**ready["conf"], **({"batch_size": batch_size} if batch_size else {})}),
            **({"BENCH_TRACEMALLOC": f"{trace}-{recipe}-{count}"} if trace else {}),
        }
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        result_file = f"{home}/result.json"
        subprocess.run(
            [*me, "--run", recipe, result_file],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = json.loads(Path(result_file).read_text())
    server.stdin.write("done\n")
    server.stdin.flush()
    stats = json.loads(server.stdout.readline())
    server.wait(timeout=60)
    # The server's clock is pinned to the seeded moment: the rate is over the runner's wall time.
    return {
        "recipe": recipe,
        "objects": count,
        **ready,
        **result,
        **stats,
        "ops_per_s": stats["requests"] / result["wall_s"],
    }


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "?",
    )
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--recipes", default="r6,r8")
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--budget", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="the run's batch_size (default: the DAG's)")
    parser.add_argument(
        "--tracemalloc",
        metavar="PREFIX",
        default="",
        help="trace the runner's heap: snapshots before and after dag.test() to PREFIX-<recipe>-<count>.before/.after",
    )
    parser.add_argument(
        "--save", metavar="PATH", default="", help="append each row's figures (with the RSS series) as a JSON line"
    )
    parser.add_argument("--serve", nargs=2, metavar=("RECIPE", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--run", nargs=2, metavar=("RECIPE", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve[0], int(args.serve[1]), args.rate_limit)
    if args.run:
        return run(*args.run)
    budget = args.budget or args.rate_limit or 10_000
    limit = f"server limited to {args.rate_limit:g} requests/s" if args.rate_limit else "server not limited"
    print(f"# {_machine()}; {limit}; budget {budget:g} requests/s")
    print(
        "| recipe | objects | state | wall s | ms/object | peak RSS MB | then, reading XComs | XCom bytes"
        " | bytes/object | largest XCom | requests/object | requests/s | 429s | acted on | duplicates | seed s"
        " | server KB/object |"
    )
    print("|---" * 17 + "|")
    for recipe in args.recipes.split(","):
        for count in (int(n) for n in args.sizes.split(",")):
            budget = args.budget or args.rate_limit or 10_000
            r = measure(recipe, count, args.rate_limit, budget, args.batch_size, args.tracemalloc)
            if args.save:
                with open(args.save, "a") as saved:
                    saved.write(json.dumps(r) + "\n")
            print(
                f"| {recipe.upper()} | {count:,} | {r['state']} | {r['wall_s']:.1f} | {1000 * r['wall_s'] / count:.2f}"
                f" | {r['peak_rss_mb']:.0f} | {r['peak_rss_with_accounting_mb']:.0f} | {r['xcom_bytes']:,}"
                f" | {r['xcom_bytes'] / count:.0f}"
                f" | {r['xcom_largest']:,} | {r['requests'] / count:.2f} | {r['ops_per_s']:.1f} | {r['rate_limited']}"
                f" | {r['acted']:,} | {r['duplicates']} | {r['seed_s']:.0f} | {r['server_kb_per_object']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
