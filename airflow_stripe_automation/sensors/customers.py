"""Sensors on customers: customers created (recipe R8)."""

from __future__ import annotations

from airflow_stripe_automation.finders import CustomerCreatedFinder, Finder
from airflow_stripe_automation.sensors.base import StripeWindowSensor


class StripeCustomerCreatedSensor(StripeWindowSensor):
    """
    Wait for customers created in the window; return their summaries.

    The customers list filters by ``created``, so any window, however old, is exact; customers
    deleted since are not returned.
    """

    def make_finder(self) -> Finder:
        return CustomerCreatedFinder(condition=self.condition)
