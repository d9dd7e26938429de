"""``AirflowCluster``: a real, multi-process Airflow deployment on PostgreSQL, Redis and Celery.

Each component (API server, scheduler, DAG processor, triggerer, Celery worker) is a separate
``airflow …`` process with its **own** ``AIRFLOW_HOME``: they share only what a distributed
deployment shares — the metadata database, the Celery broker, the DAG files, the API and JWT
secrets, and the environment that configures them. Nothing of the test process's environment
(the root conftest's SQLite home, the connection it sets) leaks in.

Every component runs in its own session (process group). ``stop()`` ends each group, then any
descendant that left it (task processes get their own group); on Linux each component also gets
SIGTERM if the test process dies without cleaning up (killed by a CI timeout), so nothing is orphaned.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from demo import processes

free_port = processes.free_port


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.5) -> Any:
    """:func:`demo.processes.wait_until`, with the REST API's connection errors also counting as "not yet"."""
    return processes.wait_until(
        check, timeout=timeout, what=what, interval=interval, ok_errors=(httpx.HTTPError, OSError)
    )


@dataclass
class Component(processes.Child):
    """One ``airflow`` process in its own home (a :class:`demo.processes.Child`: it dies with the tests)."""

    home: Path = Path()
    one_shot: bool = False  # a command run to completion (``db migrate``, ``backfill create``), not a service

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class AirflowCluster:
    """Configure, start, query and stop Airflow components sharing PostgreSQL and Redis."""

    def __init__(
        self,
        root: Path,
        *,
        database: str,
        broker_url: str,
        queue: str,
        dags_folder: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.database = database
        self.queue = queue
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.components: dict[str, Component] = {}
        self.timings: dict[str, float] = {}
        # an API user of the simple auth manager, with a password we choose
        self.user, self._password, self._token = "stripe_ops", secrets.token_urlsafe(16), None
        root.mkdir(parents=True, exist_ok=True)
        (root / "api-passwords.json").write_text(json.dumps({self.user: self._password}))
        self._env = self._shared_env(broker_url, dags_folder, extra_env or {})

    # -- configuration ------------------------------------------------------------------------------
    def _shared_env(self, broker_url: str, dags_folder: Path, extra_env: dict[str, str]) -> dict[str, str]:
        """The environment every component shares (its ``AIRFLOW_HOME`` is added per component)."""
        from cryptography.fernet import Fernet

        # the test process's environment minus everything Airflow or pytest put there
        base = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTEST_"))}
        db = f"postgres@127.0.0.1:5432/{self.database}"
        return {
            **base,
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),  # the default "dags-folder" bundle
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "api-passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{db}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg_async://{db}",
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg://{db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            # every key this cluster writes to Redis starts with its queue's name: runs never mix
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{self.queue}:",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **extra_env,
        }

    def env(self, home: Path) -> dict[str, str]:
        return {**self._env, "AIRFLOW_HOME": str(home)}

    # -- processes ----------------------------------------------------------------------------------
    def _home(self, name: str) -> Path:
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        return home

    def run(self, name: str, *args: str, timeout: float = 300) -> None:
        """Run a one-shot ``airflow`` command (e.g. ``db migrate``) to completion; raise on failure."""
        started = time.monotonic()
        component = self.start(name, *args)
        component.one_shot = True
        try:
            returncode = component.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"`airflow {' '.join(args)}` did not finish in {timeout}s") from None
        finally:
            self.stop_component(component)
        self.timings[name] = time.monotonic() - started
        if returncode != 0:
            raise RuntimeError(f"`airflow {' '.join(args)}` exited with {returncode}:\n{component.log()[-4000:]}")

    def start(self, name: str, *args: str) -> Component:
        """Start a long-running ``airflow`` component in its own session and home."""
        home, log_path = self._home(name), self.root / f"{name}.log"
        process = processes.spawn(["-m", "airflow", *args], env=self.env(home), cwd=home, log_path=log_path)
        component = Component(name=name, log_path=log_path, process=process, home=home)
        self.components[name] = component
        return component

    def assert_running(self) -> None:
        """Raise, with its log, if a started component has exited; note the live ones' process trees."""
        for component in self.components.values():
            if component.process is None or component.one_shot:
                continue
            if not component.running():
                raise RuntimeError(
                    f"{component.name} exited with {component.process.returncode}:\n{component.log()[-4000:]}"
                )
            component.remember_descendants()

    def stop(self, grace: float = 20.0) -> None:
        """End every component: SIGTERM to all process groups, SIGKILL after ``grace``, then stragglers."""
        started = time.monotonic()
        live = list(self.components.values())
        for component in live:
            component.remember_descendants()
            component.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component in live:
            self.stop_component(component, wait=max(0.1, deadline - time.monotonic()))
        self.timings["stop"] = time.monotonic() - started

    @staticmethod
    def stop_component(component: Component, wait: float = 10.0) -> None:
        """End the component (a SIGTERM, ``wait`` seconds, then SIGKILL), and any descendant it had."""
        component.stop(grace=wait)

    def logs(self, tail: int = 12_000) -> str:
        """Every component's log, then every task log they wrote (the last ``tail`` characters of each)."""
        files = [(c.name, c.log_path) for c in self.components.values()]
        for component in self.components.values():
            files += [
                (f"task log in {component.name}'s home", path)
                for path in sorted((component.home / "logs").glob("dag_id=*/**/*.log"))
            ]
        parts = []
        for title, path in files:
            text = path.read_text(errors="replace") if path.exists() else ""
            cut = f"[… {len(text) - tail} earlier characters …]\n" if len(text) > tail else ""
            parts.append(f"===== {title} ({path}) =====\n{cut}{text[-tail:]}")
        return "\n".join(parts)

    # -- the REST API -------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the public REST API (``/api/v2/…``) as our admin user, logging in on first use."""
        if self._token is None:
            response = httpx.post(
                f"{self.api_url}/auth/token", json={"username": self.user, "password": self._password}, timeout=30
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        kwargs.setdefault("timeout", 30)
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.api_url}/api/v2{path}", headers=headers, **kwargs)

    def healthy(self, *parts: str) -> bool:
        """True once the API answers, each of ``parts`` (scheduler, dag_processor, …) heartbeats, and
        the Execution API (what workers call) answers; its first request builds its versioned app."""
        self.assert_running()
        response = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        if response.status_code != 200:
            return False
        health = response.json()
        if not all((health.get(part) or {}).get("status") == "healthy" for part in parts):
            return False
        return httpx.get(f"{self.api_url}/execution/health", timeout=60).status_code == 200

    def unpause(self, dag_id: str, timeout: float = 120) -> None:
        """Wait for the DAG processor to serialize ``dag_id``, then unpause it (a paused DAG's runs wait)."""
        wait_until(
            lambda: self.api("GET", f"/dags/{dag_id}").status_code == 200,
            timeout=timeout,
            what=f"the DAG processor to serialize {dag_id}",
        )
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
