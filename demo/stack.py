"""The demo's stack: the local Stripe server and SMTP sink, and a real Airflow on its embedded default.

Airflow runs as its own components — ``api-server``, ``scheduler`` (LocalExecutor), ``dag-processor``
and ``triggerer`` — each an ``airflow`` subprocess sharing one home (``.airflow_home/``) and its
SQLite metadata DB, with the recipes in ``dags/`` as their DAG bundle. The servers run in this
process (threads), or are ones already running (``stripe_url``/``smtp_port``: a test's, to look at
what they hold afterwards). The Stripe key reaches Airflow only as the connection's password, in
the components' environment; nothing here prints it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_stripe_automation.testing.smtp import airflow_connection as smtp_connection
from airflow_stripe_automation.testing.sqlite import CONNECT_ARGS_PATH
from demo import processes
from demo.airflow_api import AirflowApi

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The UI's user (the simple auth manager's): printed by the demo, it is a local demo's login.
USER = "admin"
# At most POOL_SLOTS tasks call Stripe at once, each within BUDGET requests a second: together they
# stay under test mode's 25 a second (see the README's rate budget).
POOL_SLOTS = 4
BUDGET = 6
# A key the local server accepts (any sk_test_ key does); the demo never prints it.
LOCAL_KEY = "sk_test_demo_local_server"


@dataclass
class StackOptions:
    """
    Where the stack lives and what it reuses.

    :param home: the Airflow home (the metadata DB, logs, the components' output)
    :param api_port: the UI's and API's port (taken when free, else any free one)
    :param stripe_url: a local Stripe server already running (None: start one in this process)
    :param smtp_port: an SMTP sink already running on 127.0.0.1 (None: start one in this process)
    :param parallelism: task processes at once (``[core] parallelism``)
    """

    home: Path = REPO / ".airflow_home"
    api_port: int = 8080
    stripe_url: str | None = None
    smtp_port: int | None = None
    parallelism: int = 4


@dataclass
class Stack:
    """The running stack: servers, Airflow components, and the REST API as the demo's user."""

    options: StackOptions
    stripe_url: str = ""
    smtp_port: int = 0
    api_url: str = ""
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    children: dict[str, processes.Child] = field(default_factory=dict)
    servers: list[Any] = field(default_factory=list)  # what this process started, to stop at the end
    timings: dict[str, float] = field(default_factory=dict)
    _generated: dict[str, Any] = field(default_factory=dict)  # secrets and ports, made once per stack
    _api: AirflowApi | None = None

    @property
    def home(self) -> Path:
        return self.options.home

    @property
    def api(self) -> AirflowApi:
        if self._api is None:
            self._api = AirflowApi(self.api_url, USER, self.password)
        return self._api

    def stripe_client(self) -> Any:
        """A ``stripe.StripeClient`` on the local server (what the demo seeds and checks with)."""
        import stripe

        return stripe.StripeClient(LOCAL_KEY, base_addresses={"api": self.stripe_url}, max_network_retries=0)

    # -- start ----------------------------------------------------------------------------------------
    def start_servers(self) -> None:
        """Start (or reach) the local Stripe server and the SMTP sink."""
        if self.options.stripe_url:
            self.stripe_url = self.options.stripe_url.rstrip("/")
        else:
            from airflow_stripe_automation.testing import LocalStripeServer

            server = LocalStripeServer(api_key=LOCAL_KEY).start()
            self.servers.append(server)
            self.stripe_url = server.url
        if self.options.smtp_port:
            self.smtp_port = self.options.smtp_port
        else:
            from airflow_stripe_automation.testing.smtp import LocalSmtpServer

            sink = LocalSmtpServer("127.0.0.1", 0).start()
            self.servers.append(sink)
            self.smtp_port = sink.port

    def mails(self) -> list[Any] | None:
        """The mails the SMTP sink received, when it runs in this process (None otherwise)."""
        from airflow_stripe_automation.testing.smtp import LocalSmtpServer

        sinks = [s for s in self.servers if isinstance(s, LocalSmtpServer)]
        return sinks[0].messages if sinks else None

    def env(self) -> dict[str, str]:
        """The environment every Airflow component (and ``airflow`` command) of the demo runs with."""
        from cryptography.fernet import Fernet

        bundles = [
            {
                "name": "stripe_recipes",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(DAGS)},
            }
        ]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_"))}
        home = self.home
        env = {
            **base,
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.options.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet_key", lambda: Fernet.generate_key().decode()),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "demo" / "passwords.json"),
            # the DB is in WAL mode (see start_airflow): reads never wait for a write
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            # a writer waits up to a minute for the lock, not 5 s (why: testing/sqlite.py)
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": CONNECT_ARGS_PATH,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": CONNECT_ARGS_PATH,
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": self.api_url.rsplit(":", 1)[1],
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self._secret("api_secret_key", lambda: secrets.token_urlsafe(64)),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret", lambda: secrets.token_urlsafe(64)),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._port("worker_log_port")),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._port("trigger_log_port")),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # the scheduler checks for new runs and the processor for new files often: a demo, not a fleet
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_STRIPE_DEFAULT": json.dumps(
                {
                    "conn_type": "stripe",
                    "password": LOCAL_KEY,
                    "extra": {"api_base": self.stripe_url, "max_requests_per_second": BUDGET},
                }
            ),
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp_connection("127.0.0.1", self.smtp_port)),
        }
        return env

    def _secret(self, name: str, make: Any) -> str:
        return str(self._generated.setdefault(name, make()))

    def _port(self, name: str) -> int:
        return int(self._generated.setdefault(name, processes.free_port()))

    def fresh_home(self) -> None:
        """Start from an empty metadata DB and no logs (the local Stripe server starts empty too)."""
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        for path in home.glob("airflow.db*"):
            path.unlink()
        for folder in ("logs", "demo"):
            shutil.rmtree(home / folder, ignore_errors=True)
        (home / "demo").mkdir()
        (home / "demo" / "passwords.json").write_text(json.dumps({USER: self.password}))

    def airflow(self, *args: str, timeout: float = 300) -> None:
        """Run one ``airflow`` command to its end (its output in ``<home>/demo/<command>.log``)."""
        self.finish_airflow_command(self.start_airflow_command(*args), timeout=timeout)

    def start_airflow_command(self, *args: str) -> processes.Child:
        """Start one ``airflow`` command; :meth:`finish_airflow_command` waits for it."""
        env = self.env()
        name = " ".join(a for a in args[:2] if not a.startswith("-"))
        log_path = self.home / "demo" / f"{name.replace(' ', '-')}.log"
        child = processes.start(f"airflow {name}", ["-m", "airflow", *args], env=env, cwd=self.home, log_path=log_path)
        return child

    def finish_airflow_command(self, child: processes.Child, timeout: float = 300) -> None:
        """Wait for a command :meth:`start_airflow_command` started; ``RuntimeError`` with its output if it fails."""
        processes.finish(child, timeout=timeout)
        self.timings[child.name] = time.monotonic() - child.started

    def start_airflow(self) -> None:
        """Migrate the metadata DB, start the four components and wait until all are healthy."""
        self.api_url = f"http://127.0.0.1:{processes.free_port(self.options.api_port)}"
        self.fresh_home()
        self.airflow("db", "migrate")
        _write_ahead_log(self.home / "airflow.db")
        started = time.monotonic()
        env = self.env()
        for name in COMPONENTS:
            self.children[name] = processes.start(
                name, ["-m", "airflow", name], env=env, cwd=self.home, log_path=self.home / "demo" / f"{name}.log"
            )
        processes.wait_until(
            lambda: self._check_running() and self.api.healthy("scheduler", "triggerer", "dag_processor"),
            timeout=240,
            what="the Airflow components to be healthy",
            ok_errors=(OSError, _http_error()),
        )
        self.timings["components healthy"] = time.monotonic() - started

    def _check_running(self) -> bool:
        """Raise, with its output, if a component has exited; remember the live ones' process trees."""
        for child in self.children.values():
            if not child.running():
                raise RuntimeError(
                    f"airflow {child.name} exited with {child.process.returncode} "
                    f"(its output: {child.log_path}):\n{child.log_tail()}"
                )
            child.remember_descendants()
        return True

    def create_pool(self) -> None:
        """The README's ``stripe_api`` pool, as ``airflow pools set stripe_api 4 "…"`` makes it."""
        from airflow_stripe_automation.rate_budget import STRIPE_POOL

        self.api.call(
            "POST",
            "/pools",
            json={"name": STRIPE_POOL, "slots": POOL_SLOTS, "description": "Tasks that call Stripe (see the README)"},
        )

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        """Wait until the DAG processor has parsed every recipe; raise naming any import error."""

        def parsed() -> bool:
            errors = self.api.import_errors()
            if errors:
                raise RuntimeError(
                    "recipe import errors: " + "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors)
                )
            return set(dag_ids) <= set(self.api.dag_ids())

        started = time.monotonic()
        processes.wait_until(
            parsed, timeout=timeout, what="the recipes to be parsed", ok_errors=(OSError, _http_error())
        )
        self.timings["recipes parsed"] = time.monotonic() - started

    def assert_running(self) -> None:
        self._check_running()

    # -- stop -----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """End the components (SIGTERM, then SIGKILL), then the servers this process started."""
        for child in self.children.values():
            child.remember_descendants()
            child.signal_group(signal.SIGTERM)
        for child in self.children.values():
            child.stop(grace=15)
        self.children.clear()
        if self._api is not None:
            self._api.close()
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()


def _write_ahead_log(db: Path) -> None:
    """Put the SQLite DB in WAL mode (kept in the file): the components' reads no longer wait for a write."""
    import sqlite3

    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def _http_error() -> type[BaseException]:
    import httpx

    return httpx.HTTPError
