"""A skewed clock between Airflow and Stripe: a retry after a lost answer still acts once.

Airflow's clock (the run's ``run_after``) and Stripe's (``created`` of what the action made) are
different hosts' clocks. A mark lookup bounded by the run's start must read that start on Stripe's
clock, or a retry on a host whose clock runs ahead misses what the first try made once Stripe
has forgotten the idempotency key (24 h; here the server's keys are dropped at once).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import stripe

from tests.reliability.conftest import PRIMARY, known_hole

HOUR = 3600


@pytest.mark.parametrize("hours", [-2, 2], ids=["stripe behind", "stripe ahead"])
@pytest.mark.parametrize("action", PRIMARY, ids=str)
def test_a_lost_answer_retried_with_the_clocks_hours_apart_acts_once(world, action, hours, request):
    known_hole(request, f"skew {hours:+d} h", action)
    task = world(action)
    airflow_now = time.time()  # this process is Airflow's worker (and, here, its scheduler)
    task.run_after = datetime.fromtimestamp(airflow_now, UTC)
    world.server.set_clock(int(airflow_now) + hours * HOUR)  # Stripe's clock `hours` ahead of Airflow's
    world.inject(task, "drop")
    if action.handles_transient:
        task.run()
    else:
        with pytest.raises(stripe.APIConnectionError):
            task.run()
        # Past the key window, so only the mark can tell. The clocks are not moved for it: this
        # process's clock (Airflow's) cannot move with the server's, and a late retry moves both.
        with world.server.state.lock:
            world.server.state.idempotency.clear()
        task.run()
    assert world.effects(task) == action.once
