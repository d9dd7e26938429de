"""A local, stateful Stripe API for tests, demos and benchmarks, driven by the real ``stripe`` SDK.

    from airflow_stripe_automation.testing import LocalStripeServer

    with LocalStripeServer() as server:
        client = server.client()
        customer = client.v1.customers.create(params={"email": "jenny@example.com"})

Also: ``python -m airflow_stripe_automation.testing --port 12111`` and the pytest fixtures
``local_stripe_server`` / ``stripe_server`` / ``stripe_client`` (the opt-in plugin
``airflow_stripe_automation.testing.pytest_plugin``; the ``testing`` extra brings aiohttp). The
import is lazy so that loading the pytest plugin does not load aiohttp or stripe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import LocalStripeServer

__all__ = ["LocalStripeServer"]


def __getattr__(name: str) -> Any:
    if name == "LocalStripeServer":
        from .server import LocalStripeServer

        return LocalStripeServer
    raise AttributeError(name)
