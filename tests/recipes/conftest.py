"""Recipes under test: the shipped ``dags/`` folder parsed as Airflow does, and runs with ``dag.test()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run

RECIPES_DIR = REPO / "dags"
EXAMPLES_DIR = REPO / "example_dags"


def shipped_recipes() -> list[Path]:
    """The recipe files in ``dags/``."""
    return sorted(RECIPES_DIR.glob("*.yaml"))


@pytest.fixture(scope="session")
def recipe_bag(airflow_db, stripe_connection):
    """``dags/`` parsed once by a DagBag, as the DAG processor parses it."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(RECIPES_DIR), bundle_path=RECIPES_DIR, bundle_name="stripe_recipes")


@pytest.fixture(scope="session")
def example_bag(airflow_db, stripe_connection):
    """``example_dags/`` parsed once, to compare each recipe with its Python example."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(EXAMPLES_DIR), bundle_path=EXAMPLES_DIR, bundle_name="stripe_examples")


@pytest.fixture
def run_recipe(recipe_bag, stripe_server):
    """``run_recipe(dag_id, conf)`` runs a shipped recipe's DAG against a fresh local Stripe server."""

    def _run(dag_id: str, conf: dict[str, Any] | None = None, **kwargs: Any):
        assert dag_id in recipe_bag.dags, recipe_bag.import_errors
        return run(recipe_bag.dags[dag_id], conf, **kwargs)

    return _run
