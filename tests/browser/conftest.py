"""A headless Chromium for the browser tests, and where their screenshots go.

The browser is Debian's ``chromium`` driven by Debian's ``chromium-driver`` through Selenium: no
browser is downloaded (Selenium's own manager is never reached, as the driver's path is given).
Screenshots land in ``tests/browser/artifacts/`` (ignored by git; CI keeps the folder), one file
per check, named for what it shows.

What the UI shows comes from the demo's stack (:func:`demo_with`): the local Stripe server and SMTP
sink, a seeded account and a real Airflow, with some of the demo's recipes run to their end.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from demo import plan
from demo.seed import Account, seed_account
from demo.stack import Stack, StackOptions

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: Seconds a check waits for what it looks for: the UI is a React app that renders after it loads,
#: and a busy two-core machine may take a while.
WAIT = 90


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Selenium, one per test module.

    Not one per session: a browser left on the Airflow UI keeps polling its API (a renderer at 15 %
    of a core, seen on CI), through every test after it.
    """
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The screenshots' folder, emptied once per session."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def wait_text(driver: Any, pattern: str, timeout: float = WAIT) -> str:
    """Wait until the page's visible text matches ``pattern``; return the match."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    found = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: re.search(pattern, d.find_element("tag name", "body").text) or False
    )
    return str(found.group(0))


def screenshot(driver: Any, artifacts: Path, name: str) -> Path:
    """Save what the browser shows as ``<artifacts>/<name>.png`` and print where."""
    path = artifacts / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def log_in(driver: Any, api_url: str, user: str, password: str) -> None:
    """Log in through the simple auth manager's form, as a user would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{api_url}/")
    wait = WebDriverWait(driver, WAIT)
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "input[name='username']"))).send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input[type='password']").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)


@dataclass
class DemoUi:
    """
    The demo's stack after some of its recipes ran: what a browser test looks at.

    :param stack: the running stack (``stack.api_url`` is the UI, ``stack.api`` its REST API)
    :param account: what was seeded on the local Stripe server
    :param outcomes: every finished run of the recipes run (state, note, summary)
    """

    stack: Stack
    account: Account
    outcomes: list[plan.RunOutcome]

    def log_in(self, driver: Any) -> None:
        """Log ``driver`` in as the demo's user."""
        log_in(driver, self.stack.api_url, self.stack.api.user, self.stack.password)


@contextmanager
def demo_with(home: Path, codes: Collection[str]) -> Iterator[DemoUi]:
    """The demo's stack in ``home`` with the recipes ``codes`` (R1 …) run as the demo runs them.

    Every recipe in ``dags/`` is parsed and listed, but only ``codes`` are run, to keep a test
    module short. The stack is stopped on the way out, also when starting it failed.
    """
    stack = Stack(StackOptions(home=home, api_port=0))
    try:
        stack.start_servers()
        account = seed_account(stack.stripe_client(), stack.stripe_url)
        stack.start_airflow()
        stack.create_pool()
        recipes = plan.recipes(account)
        stack.wait_for_dags([r.dag_id for r in recipes])
        chosen = [r for r in recipes if r.code in codes]
        plan.start_runs(stack, chosen)
        outcomes = plan.wait_for_runs(stack, chosen, lambda outcome: None, lambda done, total: None)
        yield DemoUi(stack, account, outcomes)
    finally:
        stack.stop()
