"""Benchmark parsing the shipped recipes as the DAG processor does: run by hand, numbers go to the README.

    .venv/bin/python bench/recipe_parsing.py [dags/]

Prints the Airflow import time, then for each pass over the recipe entry files (the first also
imports the operator classes a recipe names; the second is what the DAG processor repeats all day)
the total and the slowest file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "dags")
    with tempfile.TemporaryDirectory(prefix="recipe-bench-") as home:
        import os

        os.environ.setdefault("AIRFLOW_HOME", home)
        start = time.perf_counter()
        from airflow.dag_processing.dagbag import DagBag

        airflow_import = time.perf_counter() - start
        files = sorted(folder.glob("*.py"))

        def parse_each() -> dict[str, float]:
            took = {}
            for path in files:
                begin = time.perf_counter()
                bag = DagBag(dag_folder=str(path), bundle_path=folder, bundle_name="bench")
                if bag.import_errors:
                    raise SystemExit(f"{path.name}: {bag.import_errors}")
                took[path.name] = time.perf_counter() - begin
            return took

        passes = {"first pass": parse_each(), "again": parse_each()}
    print(f"airflow import              {airflow_import:.2f} s")
    for name, took in passes.items():
        slowest = max(took, key=took.__getitem__)
        print(
            f"{name:<12} {len(took)} recipes  {sum(took.values()):.3f} s in all, slowest {slowest} {took[slowest]:.3f} s"
        )


if __name__ == "__main__":
    main()
