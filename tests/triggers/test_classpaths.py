"""Each trigger serialises with its import path written out, as Airflow's providers do, and it imports to the class."""

from __future__ import annotations

import pytest
from airflow.sdk._shared.module_loading import import_string

from airflow_stripe_automation.finders import CustomerCreatedFinder, EarlyFraudWarningFinder
from airflow_stripe_automation.triggers.events import StripeEventsTrigger
from airflow_stripe_automation.triggers.objects import StripeObjectsTrigger
from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

TRIGGERS = [
    StripeObjectsTrigger(finder=CustomerCreatedFinder().to_dict(), window_start=100, window_end=200),
    WaitUntilTrigger(moment=1234.5, state={"attempts": 1}),
    StripeEventsTrigger(finder=EarlyFraudWarningFinder().to_dict(), poll_interval=5, since=100),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda trigger: type(trigger).__name__)
def test_the_serialised_classpath_imports_to_the_same_class(trigger):
    classpath, kwargs = trigger.serialize()

    assert classpath == f"{type(trigger).__module__}.{type(trigger).__qualname__}"
    rebuilt = import_string(classpath)(**kwargs)
    assert type(rebuilt) is type(trigger) and rebuilt.serialize() == (classpath, kwargs)
