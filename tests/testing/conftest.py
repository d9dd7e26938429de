"""Raw HTTP access to the local Stripe server, for what the SDK hides (headers, exact bodies)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
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
