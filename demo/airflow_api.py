"""The Airflow REST API (``/api/v2``) as the demo's user: a JWT from ``/auth/token``, then plain calls.

On SQLite every writer waits for the one before it (5 s at most), and the API server, writing its
audit log while task processes report their states to it, sometimes loses that wait and answers
500 (``database is locked``) or not in time. Each call is therefore resent a few times: a trigger
that did go through the first time answers 409 when resent, which :meth:`AirflowApi.trigger` takes
as done.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

#: What a DAG run's state is once it will not change by itself.
FINISHED = ("success", "failed")
ATTEMPTS = 6
PAUSE = 2.0  # seconds between attempts


class AirflowApi:
    """Call the public REST API as ``user`` (the simple auth manager's), logging in on first use."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        self.user = user
        self._password = password
        self._client = httpx.Client(base_url=url, timeout=30)
        self._token: str | None = None

    def close(self) -> None:
        self._client.close()

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = self._client.post("/auth/token", json={"username": self.user, "password": self._password})
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, *, attempts: int = ATTEMPTS, **kwargs: Any) -> Any:
        """``method`` on ``/api/v2<path>``; the JSON answer (None when empty); raise on an HTTP error.

        A 5xx answer or a timeout is resent, up to ``attempts`` in all (see the module's doc).
        """
        headers = {**kwargs.pop("headers", {}), **self._headers()}
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.request(method, f"/api/v2{path}", headers=headers, **kwargs)
                if response.status_code < 500 or attempt == attempts:
                    break
            except httpx.TimeoutException:
                if attempt == attempts:
                    raise
            time.sleep(PAUSE)
        response.raise_for_status()
        return response.json() if response.content else None

    def healthy(self, *parts: str) -> bool:
        """Whether the API answers, each of ``parts`` (scheduler, triggerer, dag_processor) heartbeats,
        and the Execution API (what task processes call) answers."""
        response = self._client.get("/api/v2/monitor/health", timeout=5)
        if response.status_code != 200:
            return False
        health = response.json()
        if not all((health.get(part) or {}).get("status") == "healthy" for part in parts):
            return False
        return self._client.get("/execution/health", timeout=60).status_code == 200

    # -- DAGs and runs ------------------------------------------------------------------------------
    def dag_ids(self, tag: str | None = None) -> list[str]:
        params: dict[str, Any] = {"limit": 100, **({"tags": tag} if tag else {})}
        return [d["dag_id"] for d in self.call("GET", "/dags", params=params)["dags"]]

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/importErrors", params={"limit": 100})["import_errors"])

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False}, params={"update_mask": "is_paused"})

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        """Trigger a run of ``dag_id`` named ``run_id`` (a 409 to a resent request: it exists already)."""
        body = {"dag_run_id": run_id, "conf": conf, "logical_date": None}
        try:
            self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:
                raise
            self.run(dag_id, run_id)  # it exists: the first attempt went through

    def backfill(self, dag_id: str, start: str, end: str, conf: dict[str, Any], *, max_active_runs: int) -> None:
        """Backfill ``dag_id`` over the logical dates ``start`` … ``end`` (ISO dates, both included).

        A 409 to a resent request: the first attempt went through.
        """
        body = {
            "dag_id": dag_id,
            "from_date": f"{start}T00:00:00Z",
            "to_date": f"{end}T00:00:00Z",
            "run_backwards": False,
            "dag_run_conf": conf,
            "reprocess_behavior": "none",
            "max_active_runs": max_active_runs,
        }
        try:
            self.call("POST", "/backfills", json=body, attempts=15)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:
                raise

    def all_runs(self) -> list[dict[str, Any]]:
        """Every DAG's runs (``~`` stands for all DAGs), in one request."""
        return list(self.call("GET", "/dags/~/dagRuns", params={"limit": 500})["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return list(self.call("GET", path, params={"limit": 1000})["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """The XCom's value (deserialized), or None when the task pushed none under ``key``."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self.call("GET", path, params={"deserialize": True})["value"]
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return None
            raise
