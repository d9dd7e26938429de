"""Two runs over overlapping windows at the same time: each object is acted on once.

A sweep's windows overlap (a backfill beside the daily run, a late run beside the next one), so
two task instances may act on the same object at the same moment. The first one's write is held
at the server (a stall within the client's timeout) while the second one reads, finds nothing
done, and writes: it must not make a second effect. A try that meets Stripe's 409 for a key in use
fails as a transient error; its retry finds the work done. For a charge, the run is the object:
the overlap is two tries of one run (a try Airflow thinks is lost, still running beside its retry).
"""

from __future__ import annotations

import stripe

from tests.reliability.conftest import OTHER_RUN, RUN, in_thread, known_hole, wait_for


def test_two_runs_at_once_act_on_each_object_once(world, action, request):
    known_hole(request, "overlap", action)
    first = world(action, run_id=RUN)
    second = world(action, run_id=RUN if action.keyed_by_run else OTHER_RUN, seed=first.seed)
    if action.keyed_by_run:
        second.tries = 1  # the retry of the try still running
    world.inject(first, "stall", seconds=1.0)

    thread, out = in_thread(first.run)
    wait_for(lambda: bool(world.server.faults_met))  # the first run's write is in flight
    try:
        second.run()
    except stripe.APIError as err:  # Stripe's 409: the first run holds the key; transient
        assert err.http_status == 409, err
        thread.join(10)
        second.run()  # its retry
    thread.join(10)
    assert not thread.is_alive()
    if "error" in out:
        assert isinstance(out["error"], stripe.APIError), out["error"]
        first.run()

    assert world.effects(first) == action.once
