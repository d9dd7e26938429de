"""Recipe ``type`` names -> the operator and sensor classes they stand for, imported only when a recipe uses them.

A recipe says ``type: refund``; its DAG gets a ``StripeRefundOperator`` with the step's ``with:``
fields as keyword arguments — the same class a Python DAG would use, so a recipe and its example
DAG build the same tasks.
"""

from __future__ import annotations

import importlib
from typing import Any

_OPERATORS = "airflow_stripe_automation.operators"
_SENSORS = "airflow_stripe_automation.sensors"

#: The sensors a recipe's ``trigger.type`` names; ``external`` (no sensor: a run triggered with conf) is not here.
TRIGGER_TYPES: dict[str, str] = {
    "payment_succeeded": f"{_SENSORS}.payments.StripePaymentSucceededSensor",
    "invoice_overdue": f"{_SENSORS}.invoices.StripeInvoiceOverdueSensor",
    "invoice_paid": f"{_SENSORS}.invoices.StripeInvoicePaidSensor",
    "subscription_payment_failed": f"{_SENSORS}.subscriptions.StripeSubscriptionPaymentFailedSensor",
    "subscription_canceled": f"{_SENSORS}.subscriptions.StripeSubscriptionCanceledSensor",
    "customer_created": f"{_SENSORS}.customers.StripeCustomerCreatedSensor",
    "early_fraud_warning": f"{_SENSORS}.radar.StripeEarlyFraudWarningSensor",
    "event": f"{_SENSORS}.events.StripeEventSensor",
}
EXTERNAL_TRIGGER = "external"

#: The operators a step's ``type`` names.
STEP_TYPES: dict[str, str] = {
    "charge": f"{_OPERATORS}.charges.StripeOneTimeChargeOperator",
    "refund": f"{_OPERATORS}.refunds.StripeRefundOperator",
    # A person approves a money-moving step's objects above its approval_above (Airflow's HITL form).
    "approval": f"{_OPERATORS}.approval.StripeApprovalOperator",
    "update_customer_metadata": f"{_OPERATORS}.customers.StripeUpdateCustomerMetadataOperator",
    "update_customer": f"{_OPERATORS}.customers.StripeUpdateCustomerOperator",
    "credit_customer": f"{_OPERATORS}.credits.StripeCustomerCreditOperator",
    "send_email": f"{_OPERATORS}.email.StripeSendEmailOperator",
    "retrieve": f"{_OPERATORS}.retrieve.StripeRetrieveOperator",
    "create_subscription": f"{_OPERATORS}.subscriptions.StripeCreateSubscriptionOperator",
    "cancel_subscription": f"{_OPERATORS}.subscriptions.StripeCancelSubscriptionOperator",
    "mark_invoice_uncollectible": f"{_OPERATORS}.invoices.StripeMarkInvoiceUncollectibleOperator",
    "create_invoice": f"{_OPERATORS}.invoices.StripeCreateInvoiceOperator",
    "create_payment_link": f"{_OPERATORS}.payment_links.StripeCreatePaymentLinkOperator",
    "retry_invoice_payment": f"{_OPERATORS}.dunning.StripeInvoiceRetryOperator",
    "delay": f"{_OPERATORS}.delay.StripeDelayOperator",
    # Not Stripe's own: call the user's system (R10).
    "http_request": f"{_OPERATORS}.http.StripeObjectHttpOperator",
}
#: ``type: continue_if``: the steps after it run only if its condition holds.
GATE_TYPE = "continue_if"
GATE_CLASS = f"{_OPERATORS}.branch.StripeContinueIfOperator"


class UnknownTypeError(LookupError):
    """A type whose class cannot be imported (not written yet, or a wrong path)."""


def resolve_class(path: str) -> type[Any]:
    """
    Import ``package.module.ClassName``; raise :class:`UnknownTypeError` saying what is missing.

    :param path: the class's full import path
    """
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise UnknownTypeError(f"{path} cannot be imported: no module {err.name!r}") from None
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise UnknownTypeError(f"{path} cannot be imported: {module_name} has no {class_name}") from None


def trigger_class(type_name: str) -> type[Any]:
    """The sensor class of a ``trigger.type``."""
    return resolve_class(TRIGGER_TYPES[type_name])


def step_class(type_name: str) -> type[Any]:
    """The operator class of a step ``type`` (``continue_if`` included)."""
    return resolve_class(GATE_CLASS if type_name == GATE_TYPE else STEP_TYPES[type_name])
