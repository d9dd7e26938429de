"""Low-code Stripe automations: a YAML recipe file per automation, turned into an Airflow DAG.

A recipe lives in the DAGs folder as two files with the same stem: ``pay_per_lead.yaml`` (the
recipe) and ``pay_per_lead.py``, its entry file, the same few lines for every recipe::

    from airflow_stripe_automation.recipes import recipe_dag

    dag = recipe_dag(__file__)

The entry file gives the recipe its own place in Airflow's DAG processor: it is parsed in its own
process, and a broken recipe becomes the import error of *that* file (``airflow dags
list-import-errors`` lists ``pay_per_lead.py`` with the message ``…/pay_per_lead.yaml, line 12:
steps[0].with.amount: …``) while every other recipe still loads. The DAG id is ``recipe_<stem>``.

Recipes follow the JSON Schema in ``recipe.schema.json`` (:data:`SCHEMA_PATH`); ``python -m
airflow_stripe_automation.recipes check <folder>`` checks a folder of recipes before they ship.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from airflow_stripe_automation.recipes.builder import build_dag, dag_id_for
from airflow_stripe_automation.recipes.errors import Problem, RecipeError
from airflow_stripe_automation.recipes.loader import SCHEMA_PATH, Recipe, load_recipe, parse_recipe, recipe_schema

__all__ = [
    "RECIPE_SUFFIXES",
    "SCHEMA_PATH",
    "Recipe",
    "RecipeError",
    "build_dag",
    "dag_id_for",
    "entry_file_text",
    "find_recipe_file",
    "load_recipe",
    "parse_recipe",
    "recipe_dag",
    "recipe_schema",
]

log = logging.getLogger(__name__)

RECIPE_SUFFIXES = (".yaml", ".yml")


def entry_file_text() -> str:
    """The content of every recipe's entry ``.py`` file."""
    return (
        '"""Entry file of the Stripe recipe with the same name (.yaml): builds its DAG, recipe_<name>."""\n\n'
        "from airflow_stripe_automation.recipes import recipe_dag\n\n"
        "dag = recipe_dag(__file__)\n"
    )


def find_recipe_file(entry_file: str | Path) -> Path:
    """
    Return the recipe next to an entry file (same stem, ``.yaml`` or ``.yml``), or raise :class:`RecipeError`.

    :param entry_file: the entry ``.py`` file (``__file__``)
    """
    entry = Path(entry_file)
    found = [entry.with_suffix(s) for s in RECIPE_SUFFIXES if entry.with_suffix(s).is_file()]
    if len(found) == 1:
        return found[0]
    expected = entry.with_suffix(RECIPE_SUFFIXES[0])
    if not found:
        raise RecipeError(
            expected, [Problem((), f"no recipe file next to the entry file {entry.name} (expected {expected.name})")]
        )
    raise RecipeError(expected, [Problem((), f"both {found[0].name} and {found[1].name} exist; keep one")])


def recipe_dag(entry_file: str | Path) -> Any:
    """
    Build the DAG of the recipe next to ``entry_file``; a broken recipe raises :class:`RecipeError`.

    :param entry_file: the entry ``.py`` file (pass ``__file__``)
    """
    path = find_recipe_file(entry_file)
    _warn_orphans(path.parent)
    return build_dag(load_recipe(path))


def _warn_orphans(folder: Path) -> None:
    # A recipe without its entry file is silently ignored by Airflow: say so in the parse log.
    # Every entry file's parse runs this: one listing of the folder, names compared as text.
    names = set(os.listdir(folder))
    for suffix in RECIPE_SUFFIXES:
        for name in sorted(n for n in names if n.endswith(suffix)):
            entry = os.path.splitext(name)[0] + ".py"  # Path.with_suffix(".py"), without a Path per file
            if entry not in names:
                log.warning("Recipe %s has no entry file %s, so Airflow does not load it.", folder / name, entry)
