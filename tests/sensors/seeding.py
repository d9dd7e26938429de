"""Seed the local Stripe server with objects dated where a test wants them (``set_clock`` before creating)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.testing import billing_helpers

DAY = 86400


def now() -> int:
    return int(time.time())


@contextmanager
def server_time(server: Any, timestamp: int) -> Iterator[int]:
    """Create objects at exactly ``timestamp`` (server time, pinned), then put the clock back to real time."""
    server.set_clock(timestamp, pin=True)
    try:
        yield timestamp
    finally:
        server.set_clock(now())


def customer(client: Any, email: str = "buyer@example.com") -> Any:
    return billing_helpers.customer(client, card=None, email=email, name=email.split("@")[0])


def payment(client: Any, amount: int = 5000, currency: str = "usd", card: str = "pm_card_visa") -> Any:
    """A PaymentIntent confirmed at once with a test card (succeeds with the Visa card, or is declined)."""
    import stripe

    cus = customer(client)
    try:
        return client.v1.payment_intents.create(
            params={"amount": amount, "currency": currency, "customer": cus.id, "payment_method": card, "confirm": True}
        )
    except stripe.CardError as err:
        return err.error.payment_intent


def fraud_warning(server: Any, client: Any, amount: int = 1000) -> dict[str, Any]:
    """A succeeded payment whose issuer reported fraud: an actionable early fraud warning."""
    return server.create_early_fraud_warning(payment(client, amount).latest_charge)


def has_resource(server: Any, path: str) -> bool:
    """Whether the local server serves ``path`` yet (billing resources are being added)."""
    return any(r.path == path for f in server.state.families for r in f.routes)


def paying_customer(client: Any, card: str = "pm_card_visa", email: str = "subscriber@example.com") -> Any:
    """A customer whose default payment method is ``card`` (``pm_card_chargeCustomerFail`` attaches, then declines)."""
    return billing_helpers.customer(client, card=card, email=email, name=email.split("@")[0])


def recurring_price(client: Any, interval: str = "year", amount: int = 120000, currency: str = "usd") -> Any:
    product = client.v1.products.create(params={"name": f"Plan billed every {interval}"})
    return client.v1.prices.create(
        params={"product": product.id, "unit_amount": amount, "currency": currency, "recurring": {"interval": interval}}
    )


def subscription(client: Any, cus: Any, price: Any) -> Any:
    """A subscription; with a declining card its first invoice's payment fails (status ``incomplete``)."""
    return client.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})


def open_invoice(client: Any, due_date: int, amount: int = 60000, currency: str = "usd") -> Any:
    """A finalized ``send_invoice`` invoice of ``amount`` due at ``due_date`` (status ``open``)."""
    cus = customer(client, "billed@example.com")
    invoice = client.v1.invoices.create(
        params={"customer": cus.id, "collection_method": "send_invoice", "due_date": due_date, "currency": currency}
    )
    client.v1.invoice_items.create(
        params={
            "customer": cus.id,
            "invoice": invoice.id,
            "amount": amount,
            "currency": currency,
            "description": "Consulting",
        }
    )
    return client.v1.invoices.finalize_invoice(invoice.id)


def failed_renewal(server: Any, client: Any, renews_at: int, interval: str = "year") -> tuple[Any, Any]:
    """A subscription paid once, whose renewal about ``renews_at`` is declined: ``(subscription, renewal invoice)``.

    The subscription starts one ``interval`` before ``renews_at`` (a calendar year or month: a start
    on the 29th–31st may renew a day or so earlier, as at Stripe, so callers read the renewal's
    ``created``). The renewal invoice is created at the period end and charged (and declined) an
    hour later, as Stripe's automatic collection does; the server clock is back at real time afterwards.
    """
    import pendulum

    renewal = pendulum.from_timestamp(renews_at)
    start = renewal.subtract(years=1) if interval == "year" else renewal.subtract(months=1)
    with server_time(server, int(start.timestamp())):
        cus = paying_customer(client, "pm_card_visa", "renews@example.com")
        sub = subscription(client, cus, recurring_price(client, interval))
        failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
        client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": failing.id}})
    end = sub["items"].data[0].current_period_end
    with server_time(server, end + billing_helpers.RENEWAL_MARGIN):
        pass  # the clock passing the period's end renews, then charges an hour later
    sub = client.v1.subscriptions.retrieve(sub.id)
    return sub, client.v1.invoices.retrieve(sub.latest_invoice)
