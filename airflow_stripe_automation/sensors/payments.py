"""Sensors on payments: PaymentIntents that succeeded (recipes R2, R3)."""

from __future__ import annotations

from airflow_stripe_automation.finders import Finder, PaymentSucceededFinder
from airflow_stripe_automation.sensors.base import StripeWindowSensor


class StripePaymentSucceededSensor(StripeWindowSensor):
    """
    Wait for PaymentIntents that succeeded in the window; return their summaries.

    Inside Stripe's 30-day event retention the moment of success counts (``payment_intent.succeeded``
    events); older windows list PaymentIntents created in the window that have succeeded. Narrow the
    matches with ``condition``, e.g. ``field("amount").gt(100000, currency="usd")``.
    """

    def make_finder(self) -> Finder:
        return PaymentSucceededFinder(condition=self.condition)
