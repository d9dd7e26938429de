"""Pytest fixtures for the local Stripe server, opt-in: ``pytest -p airflow_stripe_automation.testing.pytest_plugin``,
or ``pytest_plugins = ["airflow_stripe_automation.testing.pytest_plugin"]`` in the top ``conftest.py``.
Needs the ``testing`` extra (``pip install "airflow-stripe-automation[testing]"``: aiohttp).

- ``local_stripe_server`` (session): one server on a free port for the whole run.
- ``stripe_server``: that server, reset (no objects, events, keys, log; real time) before the test.
- ``stripe_client``: a ``stripe.StripeClient`` pointed at it (no network retries).

Imports of aiohttp and stripe happen inside the fixtures, so merely loading the plugin stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .server import LocalStripeServer


@pytest.fixture(scope="session")
def local_stripe_server() -> Iterator[LocalStripeServer]:
    from .server import LocalStripeServer

    server = LocalStripeServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stripe_server(local_stripe_server: LocalStripeServer) -> LocalStripeServer:
    local_stripe_server.reset()
    return local_stripe_server


@pytest.fixture
def stripe_client(stripe_server: LocalStripeServer) -> Any:
    return stripe_server.client()


@pytest.fixture(scope="session")
def local_smtp_server() -> Iterator[Any]:
    """A real SMTP server on loopback for the whole run (needs aiosmtpd: the ``test`` extra)."""
    from .smtp import LocalSmtpServer

    with LocalSmtpServer() as server:
        yield server


@pytest.fixture
def smtp_sink(local_smtp_server: Any) -> Any:
    """The SMTP server, emptied before the test; ``smtp_sink.messages`` holds what arrived."""
    local_smtp_server.reset()
    return local_smtp_server
