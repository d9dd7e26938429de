"""Recipes under test: the shipped ``dags/`` folder parsed as Airflow does, and runs with ``dag.test()``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

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
def smtp_connection(smtp_sink):
    """Point ``smtp_default`` at the local SMTP sink for the test."""
    previous = os.environ.get("AIRFLOW_CONN_SMTP_DEFAULT")
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(smtp_sink.airflow_connection())
    yield smtp_sink
    if previous is None:
        os.environ.pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
    else:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = previous


def run(dag: Any, conf: dict[str, Any] | None = None, **kwargs: Any):
    """Run ``dag`` with ``dag.test()``; return ``(dag_run, {task_id or (task_id, map_index): ti})``."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    # dag.test() writes a run's conf into the tasks' Param objects (a worker would parse the file
    # afresh for each task): run a freshly parsed copy, so the next run starts from the defaults.
    fresh = DagBag(dag_folder=dag.fileloc)
    dag = fresh.dags[dag.dag_id]
    dag_run = dag.test(run_conf=conf, **kwargs)
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id).all()
        by_task = {}
        for ti in tis:
            session.expunge(ti)
            by_task[ti.task_id if ti.map_index < 0 else (ti.task_id, ti.map_index)] = ti
    return dag_run, by_task


@pytest.fixture
def run_recipe(recipe_bag, stripe_server):
    """``run_recipe(dag_id, conf)`` runs a shipped recipe's DAG against a fresh local Stripe server."""

    def _run(dag_id: str, conf: dict[str, Any] | None = None, **kwargs: Any):
        assert dag_id in recipe_bag.dags, recipe_bag.import_errors
        return run(recipe_bag.dags[dag_id], conf, **kwargs)

    return _run


@pytest.fixture
def xcoms(airflow_db):
    """``xcoms(dag_run)`` -> {(task_id, key): value} of everything the run pushed."""

    def _read(dag_run) -> dict[tuple[str, str], Any]:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
            return {(row.task_id, row.key): row.value for row in rows}

    return _read
