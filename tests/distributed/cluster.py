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
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

# Runs ``python -m airflow <args>`` after asking the kernel to SIGTERM it when the test process dies
# (prctl PR_SET_PDEATHSIG = 1 survives exec); exits at once if the test process is already gone.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'airflow', *sys.argv[2:]])\n"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy, and return that; raise ``TimeoutError`` naming ``what``.

    Connection errors count as "not yet"; any other exception (e.g. a component died) ends the wait.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
        except (httpx.HTTPError, OSError) as exc:
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})")
        time.sleep(interval)


@dataclass
class Component:
    """One ``airflow`` process, its home and its combined stdout/stderr log."""

    name: str
    home: Path
    log_path: Path
    process: subprocess.Popen | None = None
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    one_shot: bool = False  # a command run to completion (``db migrate``, ``backfill create``), not a service

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def remember_descendants(self) -> None:
        """Note the component's process tree, to end stragglers that leave its process group."""
        if not self.running():
            return
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                self.seen.setdefault(proc.pid, proc)
        except psutil.Error:
            pass


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
    def _component(self, name: str) -> Component:
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        component = Component(name=name, home=home, log_path=self.root / f"{name}.log")
        self.components[name] = component
        return component

    @staticmethod
    def _command(args: tuple[str, ...]) -> list[str]:
        if sys.platform == "linux":
            return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args]
        return [sys.executable, "-m", "airflow", *args]

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
        component = self._component(name)
        with component.log_path.open("wb") as out:
            component.process = subprocess.Popen(
                self._command(args),
                env=self.env(component.home),
                cwd=component.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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
        live = [c for c in self.components.values() if c.process is not None]
        for component in live:
            component.remember_descendants()
            _signal_group(component.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component in live:
            self.stop_component(component, wait=max(0.1, deadline - time.monotonic()))
        self.timings["stop"] = time.monotonic() - started

    @staticmethod
    def stop_component(component: Component, wait: float = 10.0) -> None:
        """Wait up to ``wait`` for the component to end, then kill its group and any descendant it had."""
        component.remember_descendants()
        try:
            component.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(component.process.pid, signal.SIGKILL)
        try:
            component.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        stragglers = [proc for proc in component.seen.values() if _alive(proc)]
        for proc in stragglers:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(stragglers, timeout=5)

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


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
