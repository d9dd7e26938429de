"""A write Stripe applied whose answer was lost, then the task retried: exactly one effect on Stripe.

(a) retried at once, within Stripe's 24 h idempotency window (the key replays the write);
(b) retried after the server's clock moved two days on, past the window: the key is forgotten, so
only the action's own mark (or the object's state) can tell it was done.
"""

from __future__ import annotations

import pytest
import stripe

from tests.reliability.conftest import DAY, known_hole


def crash_then_retry(world, action, *, days_later: float = 0):
    """Drop the answer of the action's write, retry the task (after ``days_later``); return the task and its result."""
    task = world(action)
    world.inject(task, "drop")
    if days_later:
        moved = []

        def move_once() -> None:  # a deferring operator: between the lost answer and its next wake-up
            if world.server.faults_met and not moved:
                moved.append(world.server.set_clock(world.server.now() + int(days_later * DAY)))

        task.between_wakes = move_once
    if action.handles_transient:
        out = task.run()  # the lost answer is retried inside the task, with the same key
    else:
        with pytest.raises(stripe.APIConnectionError):
            task.run()
        assert world.applied() == [200], "Stripe applied the write whose answer was lost"
        if days_later:
            world.server.set_clock(world.server.now() + int(days_later * DAY))
        out = task.run()
    assert [m["kind"] for m in world.server.faults_met] == ["drop"]
    return task, out


def test_a_lost_answer_then_a_retry_acts_once(world, action):
    task, out = crash_then_retry(world, action)
    assert world.effects(task) == action.once
    assert out is not None


def test_a_lost_answer_then_a_retry_past_the_24_hour_key_window_acts_once(world, action, request):
    known_hole(request, "past window", action)
    task, out = crash_then_retry(world, action, days_later=2)
    assert world.effects(task) == action.once
    assert out is not None
