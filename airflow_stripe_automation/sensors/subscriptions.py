"""Sensors on subscriptions: failed renewal payments (recipe R5) and cancellations (recipe R7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_stripe_automation.finders import Finder, SubscriptionCanceledFinder, SubscriptionPaymentFailedFinder
from airflow_stripe_automation.sensors.base import StripeWindowSensor


class StripeSubscriptionPaymentFailedSensor(StripeWindowSensor):
    """
    Wait for subscription invoices whose payment failed in the window; return the invoices' summaries.

    Inside Stripe's 30-day event retention, ``invoice.payment_failed`` events: by default an invoice's
    first failed attempt, so Stripe's retries of it do not match again in later runs. Older windows
    list subscription invoices created in the window that were attempted and are still unpaid. Each
    summary adds the subscription's billing ``interval``.

    :param interval: only subscriptions billed at this interval, e.g. ``"year"`` (templated)
    :param first_failure_only: only each invoice's first failed attempt; False: every failure in the
        window
    """

    template_fields: Sequence[str] = (*StripeWindowSensor.template_fields, "interval")

    def __init__(self, *, interval: str | None = None, first_failure_only: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.interval = interval
        self.first_failure_only = first_failure_only

    def make_finder(self) -> Finder:
        return SubscriptionPaymentFailedFinder(
            interval=self.interval, first_failure_only=self.first_failure_only, condition=self.condition
        )


class StripeSubscriptionCanceledSensor(StripeWindowSensor):
    """
    Wait for subscriptions that ended (canceled) in the window; return their summaries.

    Inside Stripe's 30-day event retention, ``customer.subscription.deleted`` events; older windows
    list canceled subscriptions by ``ended_at``. Summaries carry ``canceled_at``, ``ended_at``,
    ``cancellation_reason``, the price, product and interval.
    """

    def make_finder(self) -> Finder:
        return SubscriptionCanceledFinder(condition=self.condition)
