"""A distributed Airflow for the tests here: PostgreSQL, Redis, Celery, each component its own process.

Needs PostgreSQL on 127.0.0.1:5432 (user ``postgres``, trust auth) and Redis on 127.0.0.1:6379, as
on CI's machine; the tests are skipped, saying which is missing, only when one is unreachable.
Each test process gets its own database, Celery queue and Redis key prefix (named after its process
id), so two runs on one machine or one server do not meet; all are removed afterwards, and what a
killed run left behind is removed by the next one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.distributed.cluster import AirflowCluster, wait_until

if TYPE_CHECKING:
    from airflow_stripe_automation.testing import LocalStripeServer
    from airflow_stripe_automation.testing.smtp import LocalSmtpServer

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/11"
DB_PREFIX = "airflow_stripe_dist_"  # + the test process's id
QUEUE_PREFIX = "stripe_dist_"  # + the test process's id: the Celery queue and the Redis key prefix
STARTUP_TIMEOUT = 150


def _unreachable() -> str | None:
    """Why PostgreSQL or Redis cannot be used, or None."""
    import psycopg
    import redis

    try:
        psycopg.connect(PG_ADMIN_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"PostgreSQL unreachable at 127.0.0.1:5432 ({str(exc).strip()[:200]})"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis unreachable at 127.0.0.1:6379 ({exc})"
    return None


def _admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _forget_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)


def _forget_dead_runs() -> None:
    """Remove what an earlier run killed before its clean-up (SIGKILL) left: its database and Redis keys.

    A run is dead when its process (named in the database) no longer exists here and nobody is
    connected to its database.
    """
    import psutil
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_stat_activity WHERE pg_stat_activity.datname = pg_database.datname)",
            (f"{DB_PREFIX}%",),
        ).fetchall()
        for (name,) in rows:
            pid = name.removeprefix(DB_PREFIX)
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                _forget_redis_keys(f"{QUEUE_PREFIX}{pid}:")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test here fails, attach every component's log to the report, so CI shows what broke."""
    outcome = yield
    report = outcome.get_result()
    clusters = [node.airflow_cluster for node in item.listchain() if hasattr(node, "airflow_cluster")]
    if report.failed and clusters:
        report.sections.append((f"Airflow components' logs ({report.when})", clusters[-1].logs()))


@pytest.fixture(scope="module")
def _services() -> None:
    reason = _unreachable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def airflow_database(_services) -> Iterator[str]:
    """A fresh PostgreSQL database for this module's Airflow (dropped first and afterwards)."""
    _forget_dead_runs()
    name = f"{DB_PREFIX}{os.getpid()}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    _admin(drop, f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _admin(drop)


@pytest.fixture(scope="module")
def module_stripe_server(_services) -> Iterator[LocalStripeServer]:
    """The local Stripe server, in this (the test) process, for this module's Airflow to call."""
    from airflow_stripe_automation.testing import LocalStripeServer

    with LocalStripeServer() as server:
        yield server


@pytest.fixture(scope="module")
def module_smtp_sink(_services) -> Iterator[LocalSmtpServer]:
    """A real SMTP server, in this (the test) process, for this module's Airflow to mail through."""
    from airflow_stripe_automation.testing.smtp import LocalSmtpServer

    with LocalSmtpServer() as sink:
        yield sink


def start_celery_cluster(
    request: pytest.FixtureRequest,
    database: str,
    stripe_server: LocalStripeServer,
    root: Path,
    *,
    dags_folder: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[AirflowCluster]:
    """Migrate the DB; start API server, scheduler, DAG processor, triggerer and a Celery worker; wait until ready.

    The body of a module fixture (``yield from``): the cluster's ``stripe_default`` reaches
    ``stripe_server``; ``dags_folder`` defaults to ``example_dags/``; ``extra_env`` adds to (or
    overrides) what every component shares, e.g. ``AIRFLOW_CONN_SMTP_DEFAULT``.
    """
    from tests.conftest import REPO

    queue = f"{QUEUE_PREFIX}{os.getpid()}"
    stripe_connection = {
        "conn_type": "stripe",
        "password": stripe_server.api_key,
        "extra": {"api_base": stripe_server.url},
    }
    cluster = AirflowCluster(
        root,
        database=database,
        broker_url=REDIS_URL,
        queue=queue,
        dags_folder=dags_folder or REPO / "example_dags",
        extra_env={"AIRFLOW_CONN_STRIPE_DEFAULT": json.dumps(stripe_connection), **(extra_env or {})},
    )
    request.node.airflow_cluster = cluster  # the report hook prints its logs if anything fails
    try:
        cluster.run("db-migrate", "db", "migrate")
        started = time.monotonic()
        cluster.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(cluster.api_port))
        cluster.start("scheduler", "scheduler")
        cluster.start("dag-processor", "dag-processor")
        cluster.start("triggerer", "triggerer")
        worker_options = ("--queues", queue, "--concurrency", "2", "--without-gossip", "--without-mingle")
        cluster.start("celery-worker", "celery", "worker", *worker_options)
        wait_until(
            lambda: cluster.healthy("scheduler", "dag_processor", "triggerer"),
            timeout=STARTUP_TIMEOUT,
            what="the API server, scheduler, DAG processor and triggerer to be healthy",
        )
        wait_until(
            lambda: cluster.assert_running() or " ready." in cluster.components["celery-worker"].log(),
            timeout=STARTUP_TIMEOUT,
            what="the Celery worker to be ready",
        )
        cluster.timings["components ready"] = time.monotonic() - started
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            _forget_redis_keys(f"{queue}:")


@pytest.fixture(scope="module")
def celery_cluster(request, airflow_database, module_stripe_server, tmp_path_factory) -> Iterator[AirflowCluster]:
    """The example DAGs on a Celery deployment whose ``stripe_default`` reaches the module's Stripe server."""
    yield from start_celery_cluster(
        request, airflow_database, module_stripe_server, tmp_path_factory.mktemp("airflow-celery")
    )
