"""The suite passes whatever today's date is: the fast tier again, with the process clock moved by faketime.

Subscriptions renew on calendar months and years and invoices fall due on dates, so a test that
moves the local server's clock by a fixed number of days from "now" passes on some days and fails
on others. Each date below runs the fast tier with every process of it (Airflow's included) seeing
that date, through Debian's ``faketime`` (an offset from real time, so time keeps flowing and every
subprocess agrees). Month ends, a year end and a leap day are the dates that found such bugs.
"""

from __future__ import annotations

import calendar
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO

DATES = ["2026-12-01", "2027-01-31", "2027-12-31", "2028-02-29"]

pytestmark = pytest.mark.slow  # the fast tier again, four times


@pytest.fixture(scope="module")
def faketime() -> str:
    path = shutil.which("faketime")
    if path is None:
        message = "needs Debian's faketime (apt-get install faketime; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


#: Dates run at once: two on CI's two cores take about 60 % of the time of one after the other, and
#: the tests are meant not to depend on the machine's speed, so a loaded machine is a fair test too.
PARALLEL = 2


@pytest.fixture(scope="module")
def date_runs(faketime, tmp_path_factory) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    """Start the fast tier on every date, ``PARALLEL`` at a time; each test waits for its own."""
    pool = ThreadPoolExecutor(max_workers=PARALLEL)
    runs = {day: pool.submit(_run_on, day, faketime, tmp_path_factory.mktemp(day)) for day in DATES}
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


def _run_on(day: str, faketime: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # Noon UTC: the day itself for a whole run, whatever the time zone of a date shown.
    target = calendar.timegm(datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timetuple())
    offset = int(target - time.time())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    return subprocess.run(
        [faketime, "-f", f"{offset:+d}", sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-m", "not slow", "--basetemp", str(tmp_path / "basetemp")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=2400,
    )  # fmt: skip


@pytest.mark.parametrize("day", DATES)
def test_the_fast_tier_passes_on(day, date_runs):
    proc = date_runs[day].result()
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, f"on {day}:\n{tail}"
    assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1], tail
