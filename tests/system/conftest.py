"""Run DAGs end to end with ``dag.test()`` against the local Stripe server."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dag_bag(airflow_db, stripe_connection):
    """Parse the example and test DAG folders once; a broken file fails here, naming the file."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    bags = {}
    for folder in (REPO / "example_dags", REPO / "tests" / "dags"):
        bag = DagBag(dag_folder=str(folder))
        assert not bag.import_errors, bag.import_errors
        bags.update(bag.dags)
    return bags


@pytest.fixture
def run_dag(dag_bag, stripe_server):
    """Run a DAG with ``dag.test()`` and return ``(dag_run, {task_id or (task_id, map_index): ti})``."""
    from tests.conftest import run

    return lambda dag_id, conf=None, **kwargs: run(dag_bag[dag_id], conf, **kwargs)
