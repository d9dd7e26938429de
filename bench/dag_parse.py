"""DAG parse time of every shipped DAG file against an empty DAG, and the recipe loader at 1 vs 100 recipes.

    .venv/bin/python bench/dag_parse.py [--repeat 7] [--warm 5] [--copies 100] [--recipe overdue_invoice_alert]
    .venv/bin/python bench/dag_parse.py --one dags/pay_per_lead.py    # one cold parse (for /usr/bin/time -v)

Run by hand (never from tests); the tables go to the README's performance section. Each file is
parsed the way Airflow 3's DAG processor parses it: the manager process has imported Airflow and,
as ``[dag_processor] parsing_pre_import_modules`` does, the ``airflow.*`` modules the DAG files
name; for every parse it forks a child that runs ``BundleDagBag(dag_folder=<file>,
load_op_links=False)`` and serialises the DAGs. Here the same parent forks one child per file and
repetition (files interleaved, so a drift of the machine's speed hits all of them alike):

- **cold**: the child's first parse. The provider's modules are not in the parent (Airflow's
  providers discovery imports only its top package), so each child imports them: this is what
  the DAG processor pays on every parse of the file;
- **serialize**: ``DagSerialization.to_dict`` of the parsed DAGs right after, as the processor
  does (mostly Airflow's own first-call cost: see the empty DAG);
- **warm**: further parses in the same child (``--warm`` of them), modules cached: the DAG file's
  own code only.

The ratios divide by the same figure of an empty DAG file (one DAG, one ``EmptyOperator``). The
recipe loader part copies one shipped recipe ``--copies`` times (distinct stems, so distinct DAG
ids) into a temporary folder and times one ``DagBag`` over the folder (one process, first parse
and again), then the processor's way: one fork per entry file, summed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchutil
from benchutil import REPO, median, spread, table

EMPTY_DAG = '''"""The yardstick: one DAG with one EmptyOperator."""

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="bench_empty", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    EmptyOperator(task_id="nothing")
'''


def parse(path: Path, bundle: Path) -> dict[str, Any]:
    """Parse one file or folder as the DAG processor's child does; seconds for the parse and the serialisation."""
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.serialization.serialized_objects import DagSerialization

    start = time.perf_counter()
    bag = BundleDagBag(dag_folder=str(path), bundle_path=bundle, bundle_name="bench", load_op_links=False)
    parsed = time.perf_counter()
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    serialized = time.perf_counter()
    if bag.import_errors:
        raise RuntimeError(f"{path}: {bag.import_errors}")
    return {
        "parse": parsed - start,
        "serialize": serialized - parsed,
        "dags": len(bag.dags),
        "tasks": sum(len(dag.tasks) for dag in bag.dags.values()),
    }


def in_fork(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a forked child (as the DAG processor runs a parse) and return its JSON result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return from here
        os.close(read)
        try:
            payload = {"result": fn(*args)}
        except BaseException as err:  # noqa: B036 - reported to the parent, which raises it
            payload = {"error": f"{type(err).__name__}: {err}"}
        with os.fdopen(write, "w") as out:
            json.dump(payload, out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    payload = json.loads(data) if data else {"error": "the child died without an answer"}
    if "error" in payload:
        raise SystemExit(f"{fn.__name__}{args}: {payload['error']}")
    return payload["result"]


def cold_then_warm(path: str, warm: int) -> dict[str, Any]:
    """In a fresh child: one cold parse, then ``warm`` more in the same process."""
    file = Path(path)
    first = parse(file, file.parent)
    again = [parse(file, file.parent) for _ in range(warm)]
    return {
        "cold": first["parse"],
        "serialize": first["serialize"],
        "warm": [r["parse"] for r in again],
        "dags": first["dags"],
        "tasks": first["tasks"],
    }


def folder_twice(path: str) -> dict[str, Any]:
    """In a fresh child: one DagBag over the whole folder, then the same again."""
    folder = Path(path)
    first, second = parse(folder, folder), parse(folder, folder)
    return {"cold": first["parse"], "warm": second["parse"], "dags": first["dags"]}


def file_cold(path: str) -> float:
    file = Path(path)
    result = parse(file, file.parent)
    return float(result["parse"] + result["serialize"])


def pre_import(files: list[Path]) -> None:
    """What the DAG processor's manager does before forking (``parsing_pre_import_modules``)."""
    from airflow.utils.file import iter_airflow_imports

    for file in files:
        for module in iter_airflow_imports(str(file)):
            importlib.import_module(module)


def copy_recipe(recipe: str, folder: Path, copies: int) -> None:
    folder.mkdir()
    source = REPO / "dags" / f"{recipe}.yaml"
    entry = REPO / "dags" / f"{recipe}.py"
    for i in range(copies):
        shutil.copyfile(source, folder / f"{recipe}_{i:03d}.yaml")
        shutil.copyfile(entry, folder / f"{recipe}_{i:03d}.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="fresh children per file (the median is printed)")
    parser.add_argument("--warm", type=int, default=5, help="warm parses in each child")
    parser.add_argument("--copies", type=int, default=100, help="recipe files for the loader figure")
    parser.add_argument(
        "--recipe", default="overdue_invoice_alert", help="the shipped recipe to copy (dags/<name>.yaml)"
    )
    parser.add_argument("--one", metavar="FILE", help="parse FILE ('empty': the empty DAG) once, cold, and exit")
    args = parser.parse_args()

    with benchutil.airflow_home("dag-parse-bench-") as home:
        empty = home / "empty" / "bench_empty.py"
        empty.parent.mkdir()
        empty.write_text(EMPTY_DAG)
        if args.one:
            file = empty if args.one == "empty" else Path(args.one).resolve()
            print(f"{file.name}: cold parse {parse(file, file.parent)['parse'] * 1000:.1f} ms")
            return

        start = time.perf_counter()
        import airflow.dag_processing.processor  # noqa: F401 - what the manager has loaded before it forks
        from airflow.serialization.serialized_objects import DagSerialization  # noqa: F401

        files = [empty, *sorted((REPO / "dags").glob("*.py")), *sorted((REPO / "example_dags").glob("*.py"))]
        pre_import(files)
        airflow_import = time.perf_counter() - start
        # Airflow imports the provider's top package itself (providers discovery); nothing below it.
        loaded = [m for m in sys.modules if m.startswith(("airflow_stripe_automation.", "stripe"))]
        if loaded:
            raise SystemExit(f"the parent imported {loaded[:3]}...: cold parses would not be cold")

        runs: dict[Path, list[dict[str, Any]]] = {f: [] for f in files}
        for _ in range(args.repeat):
            for file in files:
                runs[file].append(in_fork(cold_then_warm, str(file), args.warm))

        one, many = home / "one", home / "many"
        copy_recipe(args.recipe, one, 1)
        copy_recipe(args.recipe, many, args.copies)
        loader: dict[str, list[dict[str, Any]]] = {"one": [], "many": []}
        per_file: list[float] = []
        for _ in range(args.repeat):
            loader["one"].append(in_fork(folder_twice, str(one)))
            loader["many"].append(in_fork(folder_twice, str(many)))
        for _ in range(max(1, args.repeat // 3)):
            per_file.append(sum(in_fork(file_cold, str(f)) for f in sorted(many.glob("*.py"))))

    def figures(file: Path) -> tuple[float, float, float]:
        rs = runs[file]
        return (
            median([r["cold"] for r in rs]),
            median([r["serialize"] for r in rs]),
            median([w for r in rs for w in r["warm"]]),
        )

    empty_cold, empty_serialize, empty_warm = figures(empty)
    rows = []
    for file in files:
        rs = runs[file]
        cold, serialize, warm = figures(file)
        rows.append(
            [
                "(empty DAG)" if file == empty else str(file.relative_to(REPO)),
                f"{rs[0]['dags']}/{rs[0]['tasks']}",
                spread([r["cold"] for r in rs], 1000),
                f"{cold / empty_cold:.1f}x",
                f"{serialize * 1000:.0f}",
                f"{(cold + serialize) / (empty_cold + empty_serialize):.1f}x",
                spread([w for r in rs for w in r["warm"]], 1000),
                f"{warm / empty_warm:.1f}x",
            ]
        )

    print("\n".join(benchutil.machine_lines()))
    print(
        f"parse     Airflow + pre-imports in the parent {airflow_import:.1f} s; {args.repeat} forked children per file,"
        f" {args.warm} warm parses each; ms: median (min-max)"
    )
    print()
    print(
        table(
            [
                "file",
                "DAGs/tasks",
                "cold parse ms",
                "/ empty",
                "serialize ms",
                "cold+serialize / empty",
                "warm parse ms",
                "warm / empty",
            ],
            rows,
        )
    )
    worst = max(files, key=lambda f: figures(f)[2])
    print(
        f"\nwarm: slowest {worst.name} at {figures(worst)[2] / empty_warm:.2f}x the empty DAG (target <= 1.5x);"
        f" files over 1.5x: {sum(figures(f)[2] / empty_warm > 1.5 for f in files)} of {len(files) - 1}"
    )
    print()
    print(
        table(
            [f"recipe loader ({args.recipe}.yaml)", "DAGs", "cold s (one process)", "warm s (again)", "warm ms/recipe"],
            [
                [
                    f"{n} recipe file{'s' if n > 1 else ''}",
                    loader[key][0]["dags"],
                    spread([r["cold"] for r in loader[key]], 1, "{:.3f}"),
                    spread([r["warm"] for r in loader[key]], 1, "{:.3f}"),
                    f"{median([r['warm'] for r in loader[key]]) / n * 1000:.1f}",
                ]
                for key, n in (("one", 1), ("many", args.copies))
            ],
        )
    )
    print(
        f"\nthe DAG processor's way, one forked child per entry file: {args.copies} recipes take"
        f" {spread(per_file, 1, '{:.2f}')} s per loop (cold parse + serialize, summed;"
        f" {len(per_file)} runs)"
    )


if __name__ == "__main__":
    main()
