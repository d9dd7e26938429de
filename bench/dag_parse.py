"""DAG parse time of every shipped DAG file against an empty DAG and the same DAG made of EmptyOperators; the recipe loader at 1 vs 100 recipes.

    .venv/bin/python bench/dag_parse.py [--repeat 7] [--warm 5] [--copies 100] [--recipe overdue_invoice_alert]
    .venv/bin/python bench/dag_parse.py --one dags/pay_per_lead.py    # one cold parse (for /usr/bin/time -v)

Run by hand (never from tests); the tables go to the README's performance section. Each file is
parsed the way Airflow 3.3's DAG processor parses it (``airflow/dag_processing/manager.py`` and
``processor.py``):

- the manager process has imported Airflow and called ``gc.freeze()`` before its parsing loop;
- before it forks the child for a file it imports, as ``[dag_processor] parsing_pre_import_modules``
  (default on) says, the modules the file's top-level imports name — but only those
  ``iter_airflow_imports`` yields, names starting with ``"airflow."`` *with the dot*. So
  ``airflow.sdk`` and ``airflow.timetables.interval`` are pre-imported, and
  ``airflow_stripe_automation.…`` never is: the provider's top package is already in the manager
  (providers discovery imports it), nothing below it, and every child imports the operators,
  sensors and recipe modules it needs afresh;
- the child runs ``check_dag_file_stability`` (``dag_version_inflation_check_level`` defaults to
  ``warning``), ``BundleDagBag(dag_folder=<file>, load_op_links=False)`` and
  ``DagSerialization.to_dict`` for each DAG, then sends the result (not timed here) and exits.
  Every parse is such a fresh child: the processor never parses a file twice in one process.

Modules load from bytecode caches, as in a deployment (pip compiles them at install). This venv
(uv) and this shell (``PYTHONDONTWRITEBYTECODE``) have none, which would charge every child for
compiling Airflow's and the provider's sources; so the bench keeps its own caches under its
temporary home (``sys.pycache_prefix``) and runs one uncounted round first to fill them.

The parent forks one child per file and repetition (files interleaved, so a drift of the
machine's speed hits all of them alike):

- **cold**: the child's first parse (stability check and DagBag): what the DAG processor pays on
  every parse of the file, the provider's imports included;
- **serialize**: ``DagSerialization.to_dict`` of the parsed DAGs right after, as the processor does;
- **warm**: further parses in the same child (``--warm`` of them), modules cached: the DAG file's
  own code only. The processor never does this; ``DagBag`` in one process (tests, scripts) does.

Two yardsticks. The **empty DAG** is one DAG with one ``EmptyOperator``: the issue's target is
≤ 1.5× its time, out of reach by definition for a DAG of six tasks. So each file also gets its
**same shape**: a generated file with the same DAGs, tasks (ids), task groups, mapped task groups and
mapped tasks (over the same upstream's output), dependencies and DAG params, every task an
``EmptyOperator``. It pays what Airflow charges for that DAG (a mapped task group imports
Airflow's decorators; every task deep-copies the DAG's params; serialization validates them), so
"/ same shape" is the provider's own overhead: its modules, its operators, the recipe's reading
and checks.

The recipe loader part copies one shipped recipe ``--copies`` times (distinct stems, so distinct
DAG ids) into a temporary folder and times one ``DagBag`` over the folder (one process, first parse
and again), then the processor's way: one fork per entry file, summed.
"""

from __future__ import annotations

import argparse
import gc
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

# The same-shape yardstick of a file: SHAPE (written by `shape_of`) rebuilt from EmptyOperators.
SHAPE_DAG = '''"""Same shape as {source}, every task an EmptyOperator (bench/dag_parse.py)."""

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param, TaskGroup

SHAPE = {shape!r}


def link(tasks, edges):
    # As soon as both ends exist: inside a mapped group, before it closes and takes its roots.
    for edge in [e for e in edges if e[0] in tasks and e[1] in tasks]:
        tasks[edge[0]] >> tasks[edge[1]]
        edges.remove(edge)


def add(nodes, tasks, edges):
    for node in nodes:
        # "over": None, not mapped; a task id, mapped over that task's output; "", over a literal list.
        over = tasks[node["over"]].output if node["over"] else [None]
        if "children" not in node:
            if node["over"] is not None:
                tasks[node["id"]] = EmptyOperator.partial(task_id=node["local"]).expand(doc=over)
            else:
                tasks[node["id"]] = EmptyOperator(task_id=node["local"])
            link(tasks, edges)
        elif node["over"] is not None:
            from airflow.sdk import task_group  # only a mapped group needs Airflow's decorators

            def each(item, children=node["children"]):
                add(children, tasks, edges)

            task_group(group_id=node["local"])(each).expand(item=over)
        else:
            with TaskGroup(group_id=node["local"]):
                add(node["children"], tasks, edges)


for spec in SHAPE:
    params = {{
        name: Param(p["value"], description=p["description"], schema=p["schema"])
        if p["has_value"]
        else Param(description=p["description"], schema=p["schema"])
        for name, p in spec["params"].items()
    }}
    with DAG(
        dag_id=spec["dag_id"], schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), params=params
    ):
        add(spec["nodes"], {{}}, [tuple(edge) for edge in spec["edges"]])
'''


def parse(path: Path, bundle: Path, check: bool = True) -> dict[str, Any]:
    """Parse one file (or folder) as the DAG processor's child does; seconds for the parse and the serialisation."""
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.dag_version_inflation_checker import check_dag_file_stability

    start = time.perf_counter()
    if check:  # per file, before the DagBag (processor._parse_file)
        check_dag_file_stability(str(path))
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
        "bag": bag,
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
    again = [parse(file, file.parent)["parse"] for _ in range(warm)]
    return {
        "cold": first["parse"],
        "serialize": first["serialize"],
        "warm": again,
        "dags": first["dags"],
        "tasks": first["tasks"],
    }


def folder_twice(path: str) -> dict[str, Any]:
    """In a fresh child: one DagBag over the whole folder, then the same again."""
    folder = Path(path)
    first, second = parse(folder, folder, check=False), parse(folder, folder, check=False)
    return {"cold": first["parse"], "warm": second["parse"], "dags": first["dags"]}


def file_cold(path: str) -> float:
    file = Path(path)
    result = parse(file, file.parent)
    return float(result["parse"] + result["serialize"])


def shape_of(path: str) -> list[dict[str, Any]]:
    """The shape of a file's DAGs (groups, tasks, what each mapped node maps over, edges, params), as plain data."""
    from airflow.sdk import TaskGroup
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    def over(expand_input: Any) -> str | None:
        sources = [v.operator.task_id for v in expand_input.value.values() if isinstance(v, PlainXComArg)]
        return sources[0] if sources else ""  # "": mapped over something else (a literal list)

    def local(full: str, group: Any) -> str:
        return full[len(group.group_id) + 1 :] if group.group_id else full  # the root group has no id

    def nodes(group: Any) -> list[dict[str, Any]]:
        out = []
        for child in group.children.values():
            if isinstance(child, TaskGroup):
                mapped = getattr(child, "_expand_input", None)
                out.append(
                    {
                        "id": child.group_id,
                        "local": local(str(child.group_id), group),
                        "over": over(mapped) if mapped is not None else None,
                        "children": nodes(child),
                    }
                )
            else:
                mapped = getattr(child, "expand_input", None)
                out.append(
                    {
                        "id": child.task_id,
                        "local": local(child.task_id, group),
                        "over": over(mapped) if mapped is not None else None,
                    }
                )
        return out

    file = Path(path)
    bag = parse(file, file.parent)["bag"]
    shapes = []
    for dag in bag.dags.values():
        params = {
            name: {
                "value": param.value if param.has_value else None,
                "has_value": param.has_value,
                "description": param.description,
                "schema": param.schema,
            }
            for name, param in dag.params.items()
        }
        edges = sorted((task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids)
        shapes.append(
            {"dag_id": f"shape_{dag.dag_id}", "params": params, "nodes": nodes(dag.task_group), "edges": edges}
        )
    return shapes


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


def use_bytecode_caches(home: Path) -> None:
    """Read and write bytecode under ``home`` whatever the environment says (see the module docstring)."""
    sys.pycache_prefix = str(home / "pycache")
    sys.dont_write_bytecode = False


def ratios(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}x, {sum(v <= 1.5 for v in values)} of {len(values)} files <= 1.5x"


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
        use_bytecode_caches(home)
        empty = home / "empty" / "bench_empty.py"
        empty.parent.mkdir()
        empty.write_text(EMPTY_DAG)
        if args.one:
            file = empty if args.one == "empty" else Path(args.one).resolve()
            print(f"{file.name}: cold parse {parse(file, file.parent)['parse'] * 1000:.1f} ms")
            return

        start = time.perf_counter()
        import airflow.dag_processing.manager  # noqa: F401 - what the dag-processor process has loaded

        gc.freeze()  # DagFileProcessorManager.before_run, before its parsing loop
        files = [empty, *sorted((REPO / "dags").glob("*.py")), *sorted((REPO / "example_dags").glob("*.py"))]
        pre_import(files)
        airflow_import = time.perf_counter() - start
        # Airflow imports the provider's top package itself (providers discovery); nothing below it.
        loaded = [m for m in sys.modules if m.startswith(("airflow_stripe_automation.", "stripe"))]
        if loaded:
            raise SystemExit(f"the parent imported {loaded[:3]}...: cold parses would not be cold")

        shapes: dict[Path, Path] = {empty: empty}
        (home / "shapes").mkdir()
        for file in files[1:]:
            shape = home / "shapes" / f"{file.parent.name}_{file.stem}.py"
            source = file.relative_to(REPO)
            shape.write_text(SHAPE_DAG.format(source=source, shape=in_fork(shape_of, str(file))))
            shapes[file] = shape
        pre_import(list(shapes.values()))
        timed = [*files, *(shapes[f] for f in files[1:])]

        for file in timed:  # uncounted: fills the bytecode caches
            in_fork(cold_then_warm, str(file), 1)
        runs: dict[Path, list[dict[str, Any]]] = {f: [] for f in timed}
        for _ in range(args.repeat):
            for file in timed:
                runs[file].append(in_fork(cold_then_warm, str(file), args.warm))

        one, many = home / "one", home / "many"
        copy_recipe(args.recipe, one, 1)
        copy_recipe(args.recipe, many, args.copies)
        in_fork(folder_twice, str(many))  # uncounted, as above
        loader: dict[str, list[dict[str, Any]]] = {"one": [], "many": []}
        per_file: list[float] = []
        for _ in range(args.repeat):
            loader["one"].append(in_fork(folder_twice, str(one)))
            loader["many"].append(in_fork(folder_twice, str(many)))
        for _ in range(max(1, args.repeat // 3)):
            per_file.append(sum(in_fork(file_cold, str(f)) for f in sorted(many.glob("*.py"))))

    def figures(file: Path) -> tuple[float, float, float]:
        """Median cold parse, serialisation and warm parse of a file, in seconds."""
        rs = runs[file]
        return (
            median([r["cold"] for r in rs]),
            median([r["serialize"] for r in rs]),
            median([w for r in rs for w in r["warm"]]),
        )

    def per_parse(file: Path) -> float:
        cold, serialize, _ = figures(file)
        return cold + serialize

    empty_cold, empty_serialize, empty_warm = figures(empty)
    rows = []
    vs_empty, vs_shape, warm_vs_empty, warm_vs_shape = [], [], [], []
    for file in files:
        rs = runs[file]
        cold, serialize, warm = figures(file)
        shape_warm = figures(shapes[file])[2]
        if file != empty:
            vs_empty.append(per_parse(file) / per_parse(empty))
            vs_shape.append(per_parse(file) / per_parse(shapes[file]))
            warm_vs_empty.append(warm / empty_warm)
            warm_vs_shape.append(warm / shape_warm)
        rows.append(
            [
                "(empty DAG)" if file == empty else str(file.relative_to(REPO)),
                f"{rs[0]['dags']}/{rs[0]['tasks']}",
                spread([r["cold"] for r in rs], 1000),
                f"{serialize * 1000:.0f}",
                f"{per_parse(file) * 1000:.0f}",
                f"{per_parse(file) / per_parse(empty):.1f}x",
                f"{per_parse(shapes[file]) * 1000:.0f}",
                f"{per_parse(file) / per_parse(shapes[file]):.2f}x",
                spread([w for r in rs for w in r["warm"]], 1000),
                f"{warm / empty_warm:.1f}x",
                f"{warm / shape_warm:.2f}x",
            ]
        )

    print("\n".join(benchutil.machine_lines()))
    print(
        f"parse     Airflow + gc.freeze + pre-imports in the parent {airflow_import:.1f} s; bytecode cached;"
        f" {args.repeat} forked children per file, {args.warm} warm parses each; ms: median (min-max)"
    )
    print()
    print(
        table(
            [
                "file",
                "DAGs/tasks",
                "cold parse ms",
                "serialize ms",
                "cold+serialize ms",
                "/ empty",
                "same shape ms",
                "/ same shape",
                "warm parse ms",
                "warm / empty",
                "warm / same shape",
            ],
            rows,
        )
    )
    print(
        f"\nper parse (cold + serialize, what the DAG processor pays): {ratios(vs_empty)} the empty DAG;"
        f" {ratios(vs_shape)} the same shape of EmptyOperators"
    )
    print(f"warm parse: {ratios(warm_vs_empty)} the empty DAG; {ratios(warm_vs_shape)} the same shape")
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
