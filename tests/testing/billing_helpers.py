"""Shared set-up for the billing tests: customers with test cards, products and prices."""

from __future__ import annotations

from typing import Any

HOUR = 3600
DAY = 86400
# A renewal invoice is a draft for an hour after the period end, then finalized and charged (as at
# Stripe): two hours past the end, the renewal has been attempted.
RENEWAL_MARGIN = 2 * HOUR


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


def period_end(client, subscription_id: str) -> int:
    """The end of a subscription's current period (on its item since API 2025-03-31.basil)."""
    return client.v1.subscriptions.retrieve(subscription_id)["items"].data[0].current_period_end


def past_renewal(server, client, subscription_id: str, margin: int = RENEWAL_MARGIN) -> int:
    """Move the server clock to ``margin`` past the subscription's period end; return that period end.

    Periods follow the calendar (a month is 28–31 days, a year 365 or 366), so tests go to the end
    Stripe computed rather than a fixed number of days ahead.
    """
    end = period_end(client, subscription_id)
    server.set_clock(end + margin)
    return end
