"""Sensors on Radar: early fraud warnings (recipe R4)."""

from __future__ import annotations

from typing import Any

from airflow_stripe_automation.finders import EarlyFraudWarningFinder, Finder
from airflow_stripe_automation.sensors.base import StripeWindowSensor


class StripeEarlyFraudWarningSensor(StripeWindowSensor):
    """
    Wait for Radar early fraud warnings created in the window; return their summaries.

    Warnings are listed by ``created`` (exact at any age) in their current state. Each summary holds
    the ``charge`` and ``payment_intent`` it refers to, ``fraud_type`` and ``actionable``.

    :param actionable_only: only warnings still actionable (their charge neither fully refunded nor
        disputed): the ones worth a refund
    """

    def __init__(self, *, actionable_only: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.actionable_only = actionable_only

    def make_finder(self) -> Finder:
        return EarlyFraudWarningFinder(actionable_only=self.actionable_only, condition=self.condition)
