"""Run DAGs end to end with ``dag.test()`` against the local Stripe server."""

from __future__ import annotations

from typing import Any

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
    """Run a DAG with ``dag.test()`` and return ``(dag_run, {task_id: task instance})``."""

    def _run(dag_id: str, conf: dict[str, Any] | None = None, **kwargs: Any):
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        # A freshly parsed DAG per run: running a task folds the run's conf into the DAG's Param
        # objects in place, which would leak one run's conf into the next in this process.
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=dag_bag[dag_id].fileloc).get_dag(dag_id)
        dag_run = dag.test(run_conf=conf, **kwargs)
        with create_session() as session:
            tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=dag_run.run_id).all()
            by_task = {}
            for ti in tis:
                session.expunge(ti)
                by_task[ti.task_id if ti.map_index < 0 else (ti.task_id, ti.map_index)] = ti
        return dag_run, by_task

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
