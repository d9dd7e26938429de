"""Check recipe files before they ship: ``python -m airflow_stripe_automation.recipes check dags/``.

Reads every recipe (``*.yaml``/``*.yml``) in the folders or files given, checks it against the schema
and builds its DAG (no network), and checks that each has its entry ``.py`` file — without one, Airflow
never sees the recipe. ``--write-entries`` writes the missing entry files. Prints one line per
problem and exits 1 if there is any, so it fits a CI step or a pre-commit hook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow_stripe_automation.recipes import RECIPE_SUFFIXES, RecipeError, build_dag, entry_file_text, load_recipe


def _recipe_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in RECIPE_SUFFIXES)
        else:
            found.append(path)
    return found


def check(paths: list[Path], *, write_entries: bool = False) -> list[str]:
    """
    Return the problems of the recipes under ``paths`` (one line each); empty when all is well.

    :param paths: recipe files or folders of recipes
    :param write_entries: write a missing entry file instead of reporting it
    """
    problems: list[str] = []
    for recipe_file in _recipe_files(paths):
        try:
            build_dag(load_recipe(recipe_file))
        except RecipeError as err:
            problems += str(err).splitlines()
        entry = recipe_file.with_suffix(".py")
        if entry.exists() and "recipe_dag(__file__)" not in entry.read_text():
            problems.append(f"{entry}: does not build its recipe (expected: dag = recipe_dag(__file__))")
        elif not entry.exists() and write_entries:
            entry.write_text(entry_file_text())
        elif not entry.exists():
            problems.append(
                f"{recipe_file}: no entry file {entry.name}, so Airflow does not load this recipe "
                "(--write-entries writes it)"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_stripe_automation.recipes")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="check recipe files (schema, classes, templates, entry files)")
    check_parser.add_argument("paths", nargs="*", type=Path, default=[Path()], help="recipe files or folders")
    check_parser.add_argument("--write-entries", action="store_true", help="write missing entry .py files")
    args = parser.parse_args(argv)

    files = _recipe_files(args.paths)
    problems = check(args.paths, write_entries=args.write_entries)
    for line in problems:
        print(line)
    print(f"{len(files)} recipe(s) checked, {len(problems)} problem(s).", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
