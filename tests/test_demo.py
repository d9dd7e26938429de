"""The README's demo command runs as written: R1 on an embedded SQLite Airflow against the local server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # runs the demo: a whole Airflow in a subprocess


def test_the_demo_charges_two_leads_refuses_the_declined_one_and_replays_without_charging(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["DEMO_AIRFLOW_HOME"] = str(tmp_path / "airflow_home")
    proc = subprocess.run(
        [sys.executable, str(REPO / "demo" / "run_demo.py")], env=env, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout
    assert proc.returncode == 0, (out + proc.stderr)[-3000:]
    assert "Demo finished: as expected" in out
    assert out.count(": success — ") == 2 and out.count(": failed — ") == 1
    assert "already done = True" in out and "PaymentIntent creates sent: 3" in out
    assert "• Pool stripe_api: 4 slots" in out  # the README's pool exists in the demo's metadata DB
