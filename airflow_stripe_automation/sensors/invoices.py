"""Sensors on invoices: overdue (recipe R6) and paid (recipe R10)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_stripe_automation.finders import Finder, InvoiceOverdueFinder, InvoicePaidFinder
from airflow_stripe_automation.sensors.base import StripeWindowSensor


class StripeInvoiceOverdueSensor(StripeWindowSensor):
    """
    Wait for open invoices that became ``days_overdue`` days overdue in the window; return their summaries.

    Overdue is read from invoice state (``status=open`` and the ``due_date`` range), not from
    ``invoice.overdue`` events, which Stripe only sends when a Billing automation is set up. An
    invoice matches when ``due_date + days_overdue`` falls in the window and it is still open, so each
    invoice is seen by exactly one run of a schedule with data intervals. Each summary adds
    ``days_overdue``: whole days from its due date to the window's end.

    :param days_overdue: days past the due date (0: as soon as it is due) (templated)
    :param min_amount_due: only invoices whose ``amount_due`` is at least this many minor units of
        ``currency`` (templated)
    :param currency: only invoices in this currency; required with ``min_amount_due`` (templated)
    """

    template_fields: Sequence[str] = (*StripeWindowSensor.template_fields, "days_overdue", "min_amount_due", "currency")

    def __init__(
        self,
        *,
        days_overdue: int | str = 0,
        min_amount_due: int | str | None = None,
        currency: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.days_overdue = days_overdue
        self.min_amount_due = min_amount_due
        self.currency = currency

    def make_finder(self) -> Finder:
        return InvoiceOverdueFinder(
            days_overdue=self.days_overdue,
            min_amount_due=self.min_amount_due,
            currency=self.currency,
            condition=self.condition,
        )


class StripeInvoicePaidSensor(StripeWindowSensor):
    """
    Wait for invoices paid in the window; return their summaries.

    Inside Stripe's 30-day event retention, ``invoice.paid`` events; older windows list paid invoices
    by ``status_transitions.paid_at``.
    """

    def make_finder(self) -> Finder:
        return InvoicePaidFinder(condition=self.condition)
