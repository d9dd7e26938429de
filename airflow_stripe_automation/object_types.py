"""The Stripe object types the provider knows: id prefix, API name, SDK service and dashboard section.

One row per id prefix. The hook reads it to pick the ``StripeClient`` service for an id, operators
read it for the dashboard link. This module imports nothing of the provider's, so any layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StripeObjectType:
    """
    One kind of Stripe object, as its id, the API, the SDK and the dashboard name it.

    :param prefix: what its ids start with (``pi_``)
    :param object: the ``object`` field of its API representation (``payment_intent``)
    :param service: the dotted path, under ``StripeClient.v1``, of the service that retrieves it (and
        updates it, for all but early fraud warnings) by id alone (``radar.early_fraud_warnings``);
        None when the provider does not read it by id
    :param dashboard_section: where the dashboard shows it (``payments`` in
        ``https://dashboard.stripe.com/test/payments/pi_123``)
    """

    prefix: str
    object: str
    service: str | None
    dashboard_section: str

    def dashboard_path(self, object_id: str) -> str:
        """Return the dashboard path of one of its ids (``payments/pi_123``)."""
        return f"{self.dashboard_section}/{object_id}"


OBJECT_TYPES: tuple[StripeObjectType, ...] = (
    StripeObjectType("cus_", "customer", "customers", "customers"),
    StripeObjectType("pi_", "payment_intent", "payment_intents", "payments"),
    StripeObjectType("ch_", "charge", "charges", "payments"),
    # bank debits (ACH and the like) are charges with their own prefix
    StripeObjectType("py_", "charge", "charges", "payments"),
    StripeObjectType("in_", "invoice", "invoices", "invoices"),
    StripeObjectType("sub_", "subscription", "subscriptions", "subscriptions"),
    StripeObjectType("re_", "refund", "refunds", "refunds"),
    StripeObjectType("plink_", "payment_link", "payment_links", "payment-links"),
    StripeObjectType("price_", "price", "prices", "prices"),
    StripeObjectType("prod_", "product", "products", "products"),
    StripeObjectType("issfr_", "radar.early_fraud_warning", "radar.early_fraud_warnings", "radar/early-fraud-warnings"),
    # A balance transaction is read through its customer (customers.balance_transactions needs both
    # ids), so not by id alone; the dashboard shows it on the customer's page.
    StripeObjectType("cbtxn_", "customer_balance_transaction", None, "customers"),
    StripeObjectType("credgr_", "billing.credit_grant", None, "billing/credit-grants"),
    StripeObjectType("evt_", "event", None, "events"),
)


def by_id(object_id: str) -> StripeObjectType | None:
    """
    Return the type of a Stripe id, told by its prefix, or None if the provider does not know it.

    :param object_id: a Stripe id such as ``in_123``
    """
    for kind in OBJECT_TYPES:
        if object_id.startswith(kind.prefix):
            return kind
    return None


def by_object(name: str) -> StripeObjectType | None:
    """
    Return the type whose API ``object`` field is ``name``, or None if the provider does not know it.

    :param name: an ``object`` value such as ``invoice`` or ``radar.early_fraud_warning``
    """
    # the first row wins: "charge" is ch_, the usual prefix of the two
    return next((kind for kind in OBJECT_TYPES if kind.object == name), None)


def dashboard_path(object_id: str) -> str | None:
    """
    Return the dashboard path of a Stripe id (``pi_123`` -> ``payments/pi_123``), or None if unknown.

    :param object_id: a Stripe id
    """
    kind = by_id(object_id)
    return kind.dashboard_path(object_id) if kind else None


def readable_prefixes() -> list[str]:
    """The prefixes of the ids the hook can read by id alone, sorted."""
    return sorted(kind.prefix for kind in OBJECT_TYPES if kind.service)
