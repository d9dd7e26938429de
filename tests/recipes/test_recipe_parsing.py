"""Parsing recipes is what the DAG processor does all day: it must be quick and must never touch the network."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

from tests.recipes.conftest import RECIPES_DIR, shipped_recipes


def test_parsing_every_recipe_sends_no_request_and_opens_no_connection(stripe_server, airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    opened: list[object] = []
    real_connect = socket.socket.connect

    def watched_connect(sock, address):
        opened.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", watched_connect)
    bag = DagBag(dag_folder=str(RECIPES_DIR), bundle_path=RECIPES_DIR, bundle_name="stripe_recipes")

    assert len(bag.dags) == len(shipped_recipes()) and not bag.import_errors
    assert stripe_server.requests == []
    assert opened == []


_TIMING = textwrap.dedent("""\
    import json, sys, time
    from pathlib import Path
    t0 = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    t1 = time.perf_counter()
    folder = Path(sys.argv[1])
    files = sorted(folder.glob("*.py"))

    def parse_each():
        took = {}
        for f in files:
            start = time.perf_counter()
            bag = DagBag(dag_folder=str(f), bundle_path=folder, bundle_name="timing")
            assert not bag.import_errors, bag.import_errors
            took[f.name] = time.perf_counter() - start
        return took

    # First pass: each recipe also imports the classes it names, the first time one is used.
    first = parse_each()
    # Then what the DAG processor repeats: read, check and build a recipe whose modules are loaded.
    again = parse_each()
    print(json.dumps({"airflow_import": t1 - t0, "first_pass": first, "again": again}))
""")


def test_parse_time_of_all_recipes(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", _TIMING, str(RECIPES_DIR)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    timing = json.loads(proc.stdout.strip().splitlines()[-1])
    first, again = timing["first_pass"], timing["again"]
    print(
        f"\nAirflow import {timing['airflow_import']:.2f}s; {len(first)} recipes, first pass (with their "
        f"classes' imports) {sum(first.values()):.3f}s, slowest {max(first, key=first.get)} "
        f"{max(first.values()):.3f}s; again {sum(again.values()):.3f}s in all, slowest "
        f"{max(again, key=again.get)} {max(again.values()):.3f}s"
    )
    assert len(again) == len(shipped_recipes())
    assert sum(first.values()) < 3.0
    assert max(again.values()) < 0.1
    assert sum(again.values()) < 0.5
