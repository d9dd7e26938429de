"""A small, realistic Stripe account on the local server, dated where the recipes will look for it.

Everything the sweeps act on happens inside one four-hour window three days ago (:attr:`Account.window`),
on the server's clock, which the seeding moves (``POST /_testing/clock/set``) and puts back to now at
the end: customers signing up, payments large and small, a declined payment, two early fraud
warnings, a cancellation, a paid invoice and a yearly renewal whose card declines. Three weeks ago
invoices were sent that fell due a week ago, day after day: R6's backfill finds them day by day.
Only the local server's HTTP API is used, so the account can be seeded into a server in another
process (a test's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pendulum

HOUR = 3600
DAY = 86400
# The renewal invoice is charged an hour after the period ends, as Stripe's automatic collection does.
RENEWAL_CHARGED_AFTER = HOUR


@dataclass
class Account:
    """
    What was seeded: the ids the triggered runs need and the moments the sweeps look at.

    :param window: the sweeps' window, as run conf (``since``/``until``, ISO 8601)
    :param customers: customer name -> id
    :param overdue_days: the days R6's backfill covers (each has invoices falling due)
    """

    window: dict[str, str]
    customers: dict[str, str] = field(default_factory=dict)
    overdue_days: list[date] = field(default_factory=list)

    def customer(self, name: str) -> str:
        return self.customers[name]


class Seeder:
    """Create objects on the local server at moments of our choosing (its test clock)."""

    def __init__(self, client: Any, server_url: str) -> None:
        self.client = client
        self.server_url = server_url
        self.customers: dict[str, str] = {}

    def at(self, timestamp: float) -> None:
        """Move the server's clock to ``timestamp`` (it runs on from there)."""
        response = httpx.post(f"{self.server_url}/_testing/clock/set", data={"timestamp": int(timestamp)}, timeout=30)
        response.raise_for_status()

    def customer(self, name: str, card: str | None = "pm_card_visa", **extra: Any) -> str:
        email = name.lower().replace(" ", ".") + "@example.com"
        params: dict[str, Any] = {"name": name, "email": email, **extra}
        if card:
            params.update(payment_method=card, invoice_settings={"default_payment_method": card})
        cus = self.client.v1.customers.create(params=params)
        self.customers[name] = cus.id
        return str(cus.id)

    def payment(self, customer: str, amount: int, description: str, currency: str = "usd") -> Any:
        """A confirmed PaymentIntent with the customer's default card (declined cards are left declined)."""
        import stripe

        try:
            return self.client.v1.payment_intents.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "customer": self.customers[customer],
                    "payment_method": self._card(customer),
                    "confirm": True,
                    "off_session": True,
                    "description": description,
                }
            )
        except stripe.CardError as err:
            return err.error.payment_intent if err.error else None

    def _card(self, customer: str) -> str:
        cus = self.client.v1.customers.retrieve(self.customers[customer])
        return str(cus.invoice_settings.default_payment_method)

    def fraud_warning(self, charge_id: str) -> None:
        response = httpx.post(
            f"{self.server_url}/_testing/early_fraud_warnings",
            data={"charge": charge_id, "fraud_type": "made_with_stolen_card"},
            timeout=30,
        )
        response.raise_for_status()

    def price(self, amount: int, interval: str, name: str) -> str:
        params: dict[str, Any] = {
            "currency": "usd",
            "unit_amount": amount,
            "product_data": {"name": name},
            "recurring": {"interval": interval},
        }
        return str(self.client.v1.prices.create(params=params).id)

    def subscribe(self, customer: str, price_id: str) -> Any:
        return self.client.v1.subscriptions.create(
            params={"customer": self.customers[customer], "items": [{"price": price_id}]}
        )

    def invoice(self, customer: str, amount: int, description: str, **extra: Any) -> Any:
        """A finalized invoice of one item (``send_invoice`` with ``due_date``, or charged automatically)."""
        cus = self.customers[customer]
        invoice = self.client.v1.invoices.create(params={"customer": cus, "currency": "usd", **extra})
        self.client.v1.invoice_items.create(
            params={
                "customer": cus,
                "invoice": invoice.id,
                "amount": amount,
                "currency": "usd",
                "description": description,
            }
        )
        return self.client.v1.invoices.finalize_invoice(invoice.id)


def seed_account(client: Any, server_url: str, now: float | None = None) -> Account:
    """
    Seed the account; the server's clock ends at ``now`` (default: the real time).

    :param client: a ``stripe.StripeClient`` on the local server
    :param server_url: the local server's URL (for its ``/_testing/`` API)
    :param now: the moment the demo runs at
    """
    now = pendulum.now("UTC").timestamp() if now is None else now
    start = pendulum.from_timestamp(now).subtract(days=3).start_of("hour")
    t0 = start.timestamp()
    seed = Seeder(client, server_url)

    # A year before the window: an annual subscriber, whose card is replaced by one that declines.
    renews_at = t0 + 30 * 60
    seed.at(pendulum.from_timestamp(renews_at).subtract(years=1).timestamp())
    seed.customer("Massive Dynamic")
    yearly = seed.subscribe("Massive Dynamic", seed.price(120000, "year", "Enterprise plan, yearly"))
    failing = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": seed.customers["Massive Dynamic"]}
    )
    client.v1.customers.update(
        seed.customers["Massive Dynamic"], params={"invoice_settings": {"default_payment_method": failing.id}}
    )

    # Three weeks ago: invoices sent, falling due on three days a week ago (R6's backfill).
    today = pendulum.from_timestamp(now).date()
    days = [date(d.year, d.month, d.day) for d in (today - timedelta(days=n) for n in (7, 6, 5))]
    seed.at(pendulum.from_timestamp(now).subtract(days=21).timestamp())
    for name in ("Acme Corp", "Soylent Foods", "Vandelay Industries"):
        seed.customer(name, card=None)
    noon = [pendulum.datetime(d.year, d.month, d.day, 12).timestamp() for d in days]
    overdue = [
        ("Acme Corp", 120000, noon[0]),
        ("Soylent Foods", 20000, noon[0]),  # under R6's 500 USD: no mail
        ("Vandelay Industries", 75000, noon[1]),
        ("Acme Corp", 64000, noon[2]),
    ]
    for name, amount, due in overdue:
        seed.invoice(name, amount, "Consulting, October", collection_method="send_invoice", due_date=int(due))
    paid_early = seed.invoice(
        "Soylent Foods", 90000, "Consulting, October", collection_method="send_invoice", due_date=int(noon[2])
    )
    client.v1.invoices.pay(paid_early.id, params={"paid_out_of_band": True})  # paid before it fell due

    # The window: sign-ups, payments, fraud warnings, a cancellation, a paid invoice.
    seed.at(t0 + 60)
    seed.customer("Northwind Dental")  # R1's lead customer
    seed.customer("Expired Card Ltd", card="pm_card_chargeCustomerFail")  # R1's declined lead
    for name in ("Cyberdyne Systems", "Globex", "Initech", "Umbrella Shop", "Stark Gadgets", "Wayne Books", "Hooli"):
        seed.customer(name)
    seed.customer("Pied Piper", card=None, phone="+1 555 0100")  # R11's and R12's customer
    seed.payment("Cyberdyne Systems", 250000, "Annual hardware order")  # R2 mail, R3 mail and VIP
    seed.payment("Globex", 150000, "Bulk order")  # R2 and R3 mail
    seed.payment("Initech", 30000, "Printer toner")  # under 1,000 USD: nothing
    seed.payment("Expired Card Ltd", 5000, "Renewal of the support plan")  # declined at the bank
    small = seed.payment("Umbrella Shop", 1000, "Gift card")  # R4: under the dispute fee, refunded
    large = seed.payment("Stark Gadgets", 5000, "Gadget")  # R4: over it, the team reviews
    seed.at(t0 + 20 * 60)
    seed.fraud_warning(small.latest_charge)
    seed.fraud_warning(large.latest_charge)
    monthly = seed.subscribe("Wayne Books", seed.price(2000, "month", "Reading club"))
    seed.at(t0 + 25 * 60)
    client.v1.subscriptions.cancel(monthly.id)  # R7: confirm the cancellation
    seed.invoice("Hooli", 42000, "Order SO-7", collection_method="charge_automatically", auto_advance=False)
    for invoice in client.v1.invoices.list(params={"customer": seed.customers["Hooli"]}).auto_paging_iter():
        if invoice.status == "open":
            client.v1.invoices.pay(invoice.id)  # R10: paid
    # The yearly renewal: invoiced at the period's end, charged (and declined) an hour later.
    end = yearly["items"].data[0].current_period_end
    seed.at(end + RENEWAL_CHARGED_AFTER + 30 * 60)

    seed.at(now)
    window = {
        "since": start.subtract(minutes=1).isoformat(),
        "until": pendulum.from_timestamp(end + RENEWAL_CHARGED_AFTER + 45 * 60).isoformat(),
    }
    return Account(window=window, customers=dict(seed.customers), overdue_days=days)
