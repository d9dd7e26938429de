"""Test set-up shared by every test: an isolated Airflow home on SQLite, with the repo's DAG folders as bundles.

Airflow reads its configuration when first imported, so the environment is set here, at import
time, before any test module imports Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The local Stripe server's fixtures (stripe_server, stripe_client, smtp_sink, ...) are opt-in: an
# installed provider registers no pytest plugin, so this project loads it as its users would.
pytest_plugins = ["airflow_stripe_automation.testing.pytest_plugin"]

REPO = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="airflow-stripe-tests-"))

_BUNDLES = [
    {"name": name, "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": str(path)}}
    for name, path in (
        ("stripe_examples", REPO / "example_dags"),
        ("stripe_test_dags", REPO / "tests" / "dags"),
        ("stripe_recipes", REPO / "dags"),
    )
]
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(_BUNDLES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AIRFLOW_STRIPE_TEST_DB", f"sqlite:///{_HOME / 'airflow.db'}"
        ),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's Airflow home (its SQLite DB and logs) once the run is over."""
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata DB once per session (``airflow db migrate``, as a user would)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return _HOME


# The local server has no rate limit unless a test sets one, so the connections tests share lift the
# rate budget far above Stripe's 25/s: a sweep over 1,500 objects would otherwise spend minutes being
# paced. The budget's own tests (tests/hooks/test_rate_budget.py) build connections of their own.
TEST_BUDGET = 10_000


@pytest.fixture(scope="session")
def stripe_connection(local_stripe_server) -> str:
    """Point the ``stripe_default`` connection at the local Stripe server, as users' CI would."""
    os.environ["AIRFLOW_CONN_STRIPE_DEFAULT"] = json.dumps(
        {
            "conn_type": "stripe",
            "password": local_stripe_server.api_key,
            "extra": {
                "api_base": local_stripe_server.url,
                "max_network_retries": 0,
                "max_requests_per_second": TEST_BUDGET,
            },
        }
    )
    return "stripe_default"


@pytest.fixture
def other_stripe_connection(stripe_connection, local_stripe_server, monkeypatch) -> str:
    """A second Stripe connection, ``stripe_other``, to the same local server, and no ``stripe_default``.

    Its requests carry the Connect account ``acct_other`` (the server logs each request's
    ``stripe_account``), so a test sees which connection a task used.
    """
    extra = {
        "api_base": local_stripe_server.url,
        "max_network_retries": 0,
        "stripe_account": "acct_other",
        "max_requests_per_second": TEST_BUDGET,
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_STRIPE_OTHER",
        json.dumps({"conn_type": "stripe", "password": local_stripe_server.api_key, "extra": extra}),
    )
    monkeypatch.delenv("AIRFLOW_CONN_STRIPE_DEFAULT", raising=False)
    return "stripe_other"


@pytest.fixture
def make_context(stripe_connection):
    """A minimal task context for running an operator directly: ``op.execute(make_context(run_id=...))``.

    Only the context is synthetic (what ``action_key`` reads: dag, task, run, map index); every Stripe
    call goes through the real SDK to the real local server.
    """
    from types import SimpleNamespace

    def _make(dag_id: str = "test_dag", task_id: str = "task", run_id: str = "manual__2026-01-01", map_index: int = -1):
        ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=1)
        ti.pushed = {}  # what the task pushed to XCom (its tally…), by key
        ti.xcom_push = lambda key, value: ti.pushed.__setitem__(key, value)
        return {"ti": ti, "dag_run": SimpleNamespace(run_after=None, queued_at=None, conf={}), "run_id": run_id}

    return _make


def run(dag, conf=None, **kwargs):
    """Run ``dag`` with ``dag.test()``; return ``(dag_run, {task_id or (task_id, map_index): ti})``.

    A freshly parsed copy runs: running a task folds the run's conf into the DAG's Param objects in
    place (a worker parses the file afresh for each task), which would leak into the next run here.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    dag = DagBag(dag_folder=dag.fileloc).dags[dag.dag_id]
    dag_run = dag.test(run_conf=conf, **kwargs)
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id).all()
        by_task = {}
        for ti in tis:
            session.expunge(ti)
            by_task[ti.task_id if ti.map_index < 0 else (ti.task_id, ti.map_index)] = ti
    return dag_run, by_task


@pytest.fixture
def xcoms(airflow_db):
    """``xcoms(dag_run)`` -> {(task_id, key): value} of everything the run pushed."""

    def _read(dag_run):
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
            return {(row.task_id, row.key): row.value for row in rows}

    return _read


@pytest.fixture
def smtp_connection(smtp_sink, monkeypatch):
    """Point Airflow's ``smtp_default`` connection at the local SMTP sink; returns the sink."""
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp_sink.airflow_connection()))
    return smtp_sink


@pytest.fixture
def customer_with_card(stripe_client):
    """A saved customer whose default payment method is a Visa test card."""
    from tests.testing.billing_helpers import customer

    return customer(stripe_client, card="pm_card_visa", email="lead-buyer@example.com", name="Lead Buyer")
