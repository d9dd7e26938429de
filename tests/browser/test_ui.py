"""What an ops user sees in the Airflow UI after recipes ran: headless Chromium against the demo's stack.

The stack (the local Stripe server, the SMTP sink, a seeded account and Airflow's four components)
starts once for the module; R1 (three leads, one declined) and R6 (a three-day backfill) run to
their end, then each test opens a page as a user would, by its address in Airflow 3's React UI,
waits for what it checks to render, compares it with what Stripe, the mailbox and the REST API
hold, and saves a screenshot under ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from demo.plan import recipes
from demo.stack import DAGS
from tests.browser.conftest import WAIT, DemoUi, demo_with, screenshot, wait_text

pytestmark = pytest.mark.slow  # starts Airflow's four components and a browser

R1 = "recipe_pay_per_lead"
R6 = "recipe_overdue_invoice_alert"


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoUi]:
    with demo_with(tmp_path_factory.mktemp("ui") / "airflow_home", ("R1", "R6")) as ui:
        yield ui


@pytest.fixture(scope="module")
def page(browser: Any, demo_ui: DemoUi) -> Any:
    """The browser, logged in to this module's stack."""
    demo_ui.log_in(browser)
    return browser


def _lead_payment(demo_ui: DemoUi, amount: int) -> Any:
    """The lead's PaymentIntent of ``amount`` cents, as the local Stripe server holds it."""
    stripe = demo_ui.stack.stripe_client()
    lead = demo_ui.account.customer("Northwind Dental")
    intents = stripe.v1.payment_intents.list(params={"customer": lead, "limit": 100}).data
    found = [pi for pi in intents if pi.amount == amount]
    assert len(found) == 1, [(pi.id, pi.amount) for pi in intents]
    return found[0]


def test_the_dag_list_shows_every_recipe(page, demo_ui, artifacts):
    page.get(f"{demo_ui.stack.api_url}/dags")
    dag_ids = sorted(r.dag_id for r in recipes(demo_ui.account))
    # the twelve sweeps, and beside some their event-driven forms: one DAG per recipe file
    wait_text(page, rf"{len(list(DAGS.glob('*.yaml')))} Dags")
    for dag_id in dag_ids:
        wait_text(page, re.escape(dag_id))
    screenshot(page, artifacts, "ui_01_dag_list")


def test_a_finished_run_shows_its_summary_note(page, demo_ui, artifacts):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    payment = _lead_payment(demo_ui, 4000)
    assert payment.status == "succeeded"
    page.get(f"{demo_ui.stack.api_url}/dags/{R1}/runs/demo_lead_2")
    # the run's header shows the note's first line, the counts (the rest folded away)
    wait_text(page, r"demo_lead_2\s+Success")
    wait_text(page, re.escape("Stripe: 1 charged ($40.00) …"))
    screenshot(page, artifacts, "ui_02_run_with_summary_note")

    # the note itself, as the header's note button opens it: counts, heading, one line per action
    WebDriverWait(page, WAIT).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='Edit note']")))
    page.find_element(By.CSS_SELECTOR, "button[aria-label='Edit note']").click()
    # (the React app may replace an element while it renders: a stale one is looked up again)
    text = WebDriverWait(page, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: next((e.text for e in d.find_elements(By.CSS_SELECTOR, "[role=dialog]") if "charge:" in e.text), None)
    )
    screenshot(page, artifacts, "ui_03_run_summary_note_opened")
    shown = [line.strip() for line in text.splitlines()]
    assert shown[shown.index("Stripe: 1 charged ($40.00)") :][:3] == [
        "Stripe: 1 charged ($40.00)",
        "What this run did in Stripe",
        "charge: 1 done ($40.00)",
    ], shown
    # what the header and the dialog show is the note Airflow stores for the run
    note = demo_ui.stack.api.run(R1, "demo_lead_2")["note"]
    assert note.splitlines()[0] == "Stripe: 1 charged ($40.00)" and "- charge: 1 done ($40.00)" in note


def test_the_mapped_mail_tasks_are_named_by_invoice_and_customer(page, demo_ui, artifacts):
    backfill = [o for o in demo_ui.outcomes if o.recipe.code == "R6"]
    assert [o.state for o in backfill] == ["success"] * 3
    run = backfill[0]
    page.get(f"{demo_ui.stack.api_url}/dags/{R6}/runs/{quote(run.run_id, safe='')}/tasks/mail_team/mapped")
    label = wait_text(page, r"[A-Z0-9]+-\d{4} · [^\n]+")
    screenshot(page, artifacts, "ui_04_mapped_tasks_named_by_invoice")

    # the label names the invoice mailed in that run and its customer, as Stripe holds them; the demo
    # maps R6 one invoice a task (batch_size 1), so a batch of one: "(1)"
    named = re.fullmatch(r"(\S+) · (.+) \(1\)", label)
    assert named, label
    number, customer = named.groups()
    stripe = demo_ui.stack.stripe_client()
    invoices = [i for i in stripe.v1.invoices.list(params={"limit": 100}).auto_paging_iter() if i.number == number]
    assert [i.customer_name for i in invoices] == [customer]
    mails = [m.subject for m in demo_ui.stack.mails() or [] if number in m.subject]
    assert len(mails) == 1 and " is overdue: " in mails[0], mails
    tis = [ti for ti in demo_ui.stack.api.task_instances(R6, run.run_id) if ti["task_id"] == "mail_team"]
    assert [ti["rendered_map_index"] for ti in tis] == [label]

    # the task's page lists its instances of every run, each backfilled day's by its invoice
    labels = [
        ti["rendered_map_index"]
        for o in backfill
        for ti in demo_ui.stack.api.task_instances(R6, o.run_id)
        if ti["task_id"] == "mail_team"
    ]
    assert len(set(labels)) == 3 and all(re.fullmatch(r"\S+-\d{4} · .+ \(1\)", x) for x in labels), labels
    page.get(f"{demo_ui.stack.api_url}/dags/{R6}/tasks/mail_team/task_instances")
    for shown in labels:
        # the column is narrow: a label may wrap between its words
        wait_text(page, r"\s+".join(re.escape(word) for word in shown.split()))
    screenshot(page, artifacts, "ui_05_mail_task_of_each_run_named_by_invoice")


def test_the_charge_task_links_to_its_payment_on_the_local_stripe_server(page, demo_ui, artifacts):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    stack = demo_ui.stack
    payment = _lead_payment(demo_ui, 2500)
    expected = f"{stack.stripe_url}/_testing/dashboard/payments/{payment.id}"
    # what the UI asks for: the task instance's extra links
    links = stack.api.call("GET", f"/dags/{R1}/dagRuns/demo_lead_1/taskInstances/charge_lead/links")
    assert links["extra_links"] == {"Stripe dashboard": expected}

    # the task instance's Details tab lists its extra links, each a button-styled <a>
    page.get(f"{stack.api_url}/dags/{R1}/runs/demo_lead_1/tasks/charge_lead/details")
    wait_text(page, r"Extra Links\s+Stripe dashboard")
    anchor = "//a[normalize-space(.)='Stripe dashboard']"
    href = WebDriverWait(page, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: next((a.get_attribute("href") for a in d.find_elements(By.XPATH, anchor)), None)
    )
    screenshot(page, artifacts, "ui_06_charge_task_stripe_dashboard_link")
    assert href == expected
    link = page.find_element(By.XPATH, anchor)

    # followed, it opens (in a new tab: another site) the payment as the local server holds it
    tabs = set(page.window_handles)
    link.click()
    WebDriverWait(page, WAIT).until(lambda d: len(d.window_handles) > len(tabs))
    ui_tab = page.current_window_handle
    page.switch_to.window(next(h for h in page.window_handles if h not in tabs))
    try:
        wait_text(page, re.escape(payment.id))
        assert page.current_url == expected
        shown = json.loads(page.find_element(By.TAG_NAME, "body").text)
        screenshot(page, artifacts, "ui_07_local_dashboard_payment")
    finally:
        page.close()
        page.switch_to.window(ui_tab)
    assert (shown["object"], shown["id"], shown["amount"], shown["status"]) == (
        "payment_intent",
        payment.id,
        2500,
        "succeeded",
    )
