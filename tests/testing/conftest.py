"""Raw HTTP access to the local Stripe server, for what the SDK hides (headers, exact bodies)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Response:
    status: int
    headers: Any
    body: Any


def _call(server, method: str, path: str, params: Any = None, headers: dict | None = None, key: Any = True) -> Response:
    data = None
    if isinstance(params, dict):
        params = urllib.parse.urlencode(params)
    url = server.url + path
    if params and method in ("GET", "DELETE"):
        url += ("&" if "?" in url else "?") + params
    elif params:
        data = params.encode()
    request = urllib.request.Request(url, data=data, method=method)
    if key is True:
        key = server.api_key
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Response(response.status, response.headers, json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return Response(exc.code, exc.headers, json.loads(exc.read()))


@pytest.fixture
def http(stripe_server) -> Callable[..., Response]:
    """``http("POST", "/v1/customers", {"email": ...}, headers={...}, key=...)`` -> Response."""
    return lambda *args, **kwargs: _call(stripe_server, *args, **kwargs)


@contextmanager
def cli_server(*args: str) -> Iterator[tuple[subprocess.Popen, int, str]]:
    """Run ``python -m airflow_stripe_automation.testing`` on a free port: ``(process, port, its first line)``.

    The process is killed on the way out if the test did not stop it.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_stripe_automation.testing", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process, port, process.stdout.readline()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
