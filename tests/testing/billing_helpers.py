"""Shared set-up for the billing tests: customers with test cards, products and prices."""

from __future__ import annotations

from typing import Any


def customer(client, card: str | None = "pm_card_visa", email: str | None = "billing@example.com", **extra: Any):
    """A customer; with ``card``, that test card attached and set as the invoice default payment method."""
    params: dict[str, Any] = {"email": email, **extra} if email else dict(extra)
    if card:
        params.update(payment_method=card, invoice_settings={"default_payment_method": card})
    return client.v1.customers.create(params=params)


def price(client, amount: int = 2000, interval: str | None = "month", name: str = "Pro plan", **extra: Any):
    """A price with its product (``product_data``); recurring unless ``interval`` is None."""
    params: dict[str, Any] = {"currency": "usd", "unit_amount": amount, "product_data": {"name": name}, **extra}
    if interval:
        params["recurring"] = {"interval": interval}
    return client.v1.prices.create(params=params)


def subscribe(client, customer_id: str, price_id: str, **extra: Any):
    return client.v1.subscriptions.create(params={"customer": customer_id, "items": [{"price": price_id}], **extra})


def event_types(server, prefix: str = "") -> list[str]:
    return [e["type"] for e in server.events() if e["type"].startswith(prefix)]


def draft_invoice(client, customer_id: str, amounts=(1500,), **extra: Any):
    """A draft invoice with one invoice item per amount."""
    invoice = client.v1.invoices.create(params={"customer": customer_id, **extra})
    for amount in amounts:
        client.v1.invoice_items.create(
            params={
                "customer": customer_id,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "usd",
                "description": f"Work {amount}",
            }
        )
    return client.v1.invoices.retrieve(invoice.id)
