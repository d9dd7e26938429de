"""A sensor for any Stripe event type: the objects named by the events in the window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_stripe_automation.finders import EventFinder, Finder
from airflow_stripe_automation.sensors.base import StripeWindowSensor


class StripeEventSensor(StripeWindowSensor):
    """
    Wait for Stripe events of the given types in the window; return the objects they name.

    Each match is the summary of an event's ``data.object`` (its latest snapshot in the window), one
    per object. Only the Events API knows these, and Stripe keeps events for 30 days: an older window
    fails the task. The specific sensors (payments, invoices, subscriptions…) also reach older windows.

    :param event_types: exact Stripe event types, e.g. ``["charge.refunded", "charge.dispute.created"]``
        (templated)
    """

    template_fields: Sequence[str] = (*StripeWindowSensor.template_fields, "event_types")

    def __init__(self, *, event_types: Sequence[str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.event_types = event_types

    def make_finder(self) -> Finder:
        return EventFinder(event_types=self.event_types, condition=self.condition)
