"""A big charge waits for a person: R1's recipe on the demo's stack, answered through the REST API and seen in the UI.

Three leads of $900.00 with ``approval_above`` $500.00 (conf): their runs park ``approve_charge``
in Airflow's ``awaiting_input`` state. One is approved and one rejected through Airflow's public
REST API (``PATCH …/hitlDetails``), as a person's answer in the UI is sent; the third stays open
for the browser, which opens its form (the subject, the amount formatted, the buttons) and
approves it there. Then Stripe holds exactly one $900.00 charge per approved run, none for the
rejected one, and the rejected run's note says "1 not approved". A $20.00 lead under the
threshold is charged without anyone asked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.conftest import WAIT, DemoUi, demo_with, screenshot, wait_text

pytestmark = pytest.mark.slow  # starts Airflow's four components and a browser

R1 = "recipe_pay_per_lead"
BIG, SMALL, ABOVE = 90000, 2000, 50000


def _conf(demo_ui: DemoUi, amount: int, what: str) -> dict[str, Any]:
    return {
        "customer_id": demo_ui.account.customer("Northwind Dental"),
        "amount": amount,
        "currency": "usd",
        "description": f"Lead fee ({what})",
        "approval_above": ABOVE,
    }


def _hitl_path(run_id: str) -> str:
    return f"/dags/{R1}/dagRuns/{quote(run_id, safe='')}/taskInstances/approve_charge/-1/hitlDetails"


def _wait_for_request(demo_ui: DemoUi, run_id: str) -> dict[str, Any]:
    """The run's approval request once its task waits for an answer (polled: the scheduler's pace)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        tis = {t["task_id"]: t["state"] for t in demo_ui.stack.api.task_instances(R1, run_id)}
        if tis.get("approve_charge") == "awaiting_input":
            return dict(demo_ui.stack.api.call("GET", _hitl_path(run_id)))
        assert tis.get("approve_charge") not in ("failed", "success", "skipped"), tis
        time.sleep(1)
    raise AssertionError(f"{run_id}: approve_charge never waited for input")


def _wait_for_end(demo_ui: DemoUi, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = demo_ui.stack.api.run(R1, run_id)
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(1)
    raise AssertionError(f"{run_id} did not finish")


def _answer_until_done(demo_ui: DemoUi, run_id: str, option: str, *, answered: bool = False) -> dict[str, Any]:
    """Answer the run's request with ``option`` (unless ``answered``), and again if Airflow asks again; the ended run.

    Airflow 3.3 races a quick answer: when it lands before the executor reports that the process
    which parked the task has exited, the scheduler takes that report for a task lost while queued
    and retries it, and the retry asks again (seen on a loaded two-core machine, an answer five
    seconds after the request). A person would find the form open again and answer it again; so
    does this. Nothing is charged before an answer either way.
    """
    api = demo_ui.stack.api
    answered_tries: set[int] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = api.run(R1, run_id)
        if run["state"] in ("success", "failed"):
            return run
        (ti,) = [t for t in api.task_instances(R1, run_id) if t["task_id"] == "approve_charge"]
        if ti["state"] == "awaiting_input" and ti["try_number"] not in answered_tries:
            if not answered and not api.call("GET", _hitl_path(run_id))["response_received"]:
                api.call("PATCH", _hitl_path(run_id), json={"chosen_options": [option], "params_input": {}})
            answered_tries.add(ti["try_number"])
            answered = False  # a later try's request is answered here
        time.sleep(1)
    raise AssertionError(f"{run_id} did not finish")


def _wait_for_note(demo_ui: DemoUi, run_id: str) -> str:
    """The run's note, once the listener wrote it (the scheduler calls it after the run's state is stored)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        note = demo_ui.stack.api.run(R1, run_id).get("note")
        if note:
            return str(note)
        time.sleep(1)
    raise AssertionError(f"{run_id} got no note")


def _charges(demo_ui: DemoUi, run_id: str) -> list[Any]:
    """The PaymentIntents R1 made for the run (its metadata names the lead's run)."""
    stripe = demo_ui.stack.stripe_client()
    lead = demo_ui.account.customer("Northwind Dental")
    intents = stripe.v1.payment_intents.list(params={"customer": lead, "limit": 100}).auto_paging_iter()
    return [pi for pi in intents if pi.metadata and pi.metadata.to_dict().get("lead_run") == run_id]


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoUi]:
    with demo_with(tmp_path_factory.mktemp("approval") / "airflow_home", ()) as ui:
        ui.stack.api.unpause(R1)
        yield ui


@pytest.fixture(scope="module")
def runs(demo_ui: DemoUi) -> dict[str, str]:
    """Four R1 runs: three above the threshold (to approve, to reject, for the browser), one below."""
    ids = {what: f"approval_{what}" for what in ("approved", "rejected", "in_browser", "small")}
    for what, run_id in ids.items():
        demo_ui.stack.api.trigger(R1, run_id, _conf(demo_ui, SMALL if what == "small" else BIG, what))
    return ids


def test_a_charge_above_the_threshold_waits_and_is_made_once_approved_through_the_rest_api(demo_ui, runs):
    request = _wait_for_request(demo_ui, runs["approved"])
    assert request["options"] == ["Approve", "Reject"]
    assert "$900.00" in request["subject"] and "$500.00" in request["body"]
    assert _charges(demo_ui, runs["approved"]) == []  # nothing before a person answers

    assert _answer_until_done(demo_ui, runs["approved"], "Approve")["state"] == "success"
    (charge,) = _charges(demo_ui, runs["approved"])
    assert (charge.amount, charge.currency, charge.status) == (BIG, "usd", "succeeded")
    summary = demo_ui.stack.api.xcom(R1, runs["approved"], "run_summary", "stripe_run_summary")
    assert summary["actions"]["charge"]["done"] == 1


def test_a_rejected_charge_writes_nothing_and_the_run_says_why(demo_ui, runs):
    _wait_for_request(demo_ui, runs["rejected"])

    run = _answer_until_done(demo_ui, runs["rejected"], "Reject")
    assert run["state"] == "success"
    assert _charges(demo_ui, runs["rejected"]) == []
    states = {t["task_id"]: t["state"] for t in demo_ui.stack.api.task_instances(R1, runs["rejected"])}
    assert states["charge_lead"] == "skipped"
    assert "1 not approved" in _wait_for_note(demo_ui, runs["rejected"])


def test_a_charge_under_the_threshold_asks_nobody(demo_ui, runs):
    assert _wait_for_end(demo_ui, runs["small"])["state"] == "success"
    (charge,) = _charges(demo_ui, runs["small"])
    assert charge.amount == SMALL
    request = demo_ui.stack.api.xcom(R1, runs["small"], "approve_charge", "return_value")
    assert request["held"] == 0


def test_the_approval_form_shows_the_charge_and_approves_it(browser, demo_ui, runs, artifacts):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    run_id = runs["in_browser"]
    _wait_for_request(demo_ui, run_id)
    demo_ui.log_in(browser)
    browser.get(
        f"{demo_ui.stack.api_url}/dags/{R1}/runs/{quote(run_id, safe='')}/tasks/approve_charge/required_actions"
    )
    wait_text(browser, r"Approve a charge of \$900\.00 to cus_")
    wait_text(browser, r"\$500\.00")
    screenshot(browser, artifacts, "approval_01_form")

    approve = WebDriverWait(browser, WAIT).until(
        expected_conditions.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Approve']"))
    )
    approve.click()
    assert _answer_until_done(demo_ui, run_id, "Approve", answered=True)["state"] == "success"
    (charge,) = _charges(demo_ui, run_id)
    assert charge.amount == BIG
    detail = demo_ui.stack.api.call("GET", _hitl_path(run_id))
    assert detail["chosen_options"] == ["Approve"] and detail["responded_by_user"]["name"]
    # the run's page once it ended: its note's first line counts the charge the approval let through
    browser.get(f"{demo_ui.stack.api_url}/dags/{R1}/runs/{quote(run_id, safe='')}")
    wait_text(browser, r"Stripe: 1 charged \(\$900\.00\)")
    screenshot(browser, artifacts, "approval_02_run_after_approval")
