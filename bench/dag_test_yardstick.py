"""What ``dag.test()`` itself costs a batched sweep, with no Stripe at all: run by hand.

    .venv/bin/python bench/dag_test_yardstick.py [--maps 100,1000]

``bench/sweep_end_to_end.py`` reports the peak RSS of a process running a whole sweep through
``dag.test()``, which runs every task instance in that one process. This yardstick has the sweep's
shape and nothing of the provider: a first task returns one ~140-byte ticket per batch, a mapped
task runs once per ticket and returns 100 small result dicts (as a batch task of 100 objects does),
and a last task reads every mapped task's XCom (as ``run_summary`` does). Each size runs in a new
process on a fresh SQLite metadata DB; the row gives its wall time and peak RSS. The difference
between two sizes is what ``dag.test()`` keeps per task instance; the sweep's own figures are
fairly compared with it (100 and 1,000 mapped tasks are a 10k and a 100k sweep at ``batch_size`` 100).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchutil


def _yardstick_dag(maps: int) -> Any:
    import pendulum
    from airflow.sdk import DAG, task

    with DAG("yardstick", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

        @task
        def find() -> list[dict[str, Any]]:
            return [{"stripe_batch": f"batch_{n:05d}", "task_id": "find", "count": 100} for n in range(maps)]

        @task
        def act(ticket: dict[str, Any]) -> list[dict[str, Any]]:
            return [{"id": f"cbtxn_{ticket['stripe_batch']}_{i}", "amount": 500, "currency": "usd"} for i in range(100)]

        @task
        def summary(results: Any) -> int:
            return sum(len(r) for r in results)

        summary(act.expand(ticket=find()))
    return dag


# dag.test() runs a DAG the DAG processor's way, from its file: the child reads this one.
if os.environ.get("YARDSTICK_MAPS"):
    dag = _yardstick_dag(int(os.environ["YARDSTICK_MAPS"]))


def run() -> dict[str, Any]:
    """In a fresh process: parse this file's DAG, run it with ``dag.test()``, report wall time and peak RSS."""
    from airflow.dag_processing.dagbag import DagBag

    yardstick = DagBag(dag_folder=__file__).dags["yardstick"]
    began = time.perf_counter()
    dag_run = yardstick.test()
    return {
        "state": str(dag_run.state),
        "wall_s": time.perf_counter() - began,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", default="100,1000", help="mapped task instances per run, comma-separated")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run()))
        return
    print("\n".join(benchutil.machine_lines()))
    rows = []
    for maps in (int(m) for m in args.maps.split(",")):
        with benchutil.airflow_home("yardstick-") as _:
            # the DAG folder holds this file: dag.test() runs DAGs parsed from their folder
            env = {**os.environ, "YARDSTICK_MAPS": str(maps), "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).parent)}
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
            out = subprocess.run(
                [sys.executable, __file__, "--child"], env=env, check=True, capture_output=True, text=True
            )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append([f"{maps:,}", r["state"], f"{r['wall_s']:.1f}", f"{r['peak_rss_mb']:.0f}"])
    print(benchutil.table(["mapped tasks", "state", "wall s", "peak RSS MB"], rows))


if __name__ == "__main__":
    main()
