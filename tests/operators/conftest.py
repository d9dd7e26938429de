"""Operators run directly against the local Stripe server with a minimal task context.

Only the context is synthetic (what ``action_key`` reads: dag, task, run, map index); every Stripe
call goes through the real SDK to the real local server.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture
def make_context(stripe_connection):
    def _make(dag_id: str = "test_dag", task_id: str = "task", run_id: str = "manual__2026-01-01", map_index: int = -1):
        ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=1)
        return {"ti": ti, "dag_run": SimpleNamespace(run_after=None, queued_at=None, conf={}), "run_id": run_id}

    return _make


@pytest.fixture
def paid_charge(stripe_client):
    """A customer with a succeeded 50.00 USD payment; returns (customer, payment intent, charge)."""

    def _make(amount: int = 5000, currency: str = "usd"):
        customer = stripe_client.v1.customers.create(params={"email": "buyer@example.com", "name": "Buyer"})
        intent = stripe_client.v1.payment_intents.create(
            params={"amount": amount, "currency": currency, "customer": customer.id, "payment_method": "pm_card_visa",
                    "confirm": True, "off_session": True}
        )
        return customer, intent, stripe_client.v1.charges.retrieve(intent.latest_charge)

    return _make


def writes(server, path_prefix: str) -> list[dict]:
    """The write requests the server received under ``path_prefix``."""
    return [r for r in server.write_requests() if r["path"].startswith(path_prefix)]
