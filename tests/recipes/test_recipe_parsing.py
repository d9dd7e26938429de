"""Parsing recipes is what the DAG processor does all day: it must never touch the network.

How quick it is (the README's figure) is measured by ``bench/recipe_parsing.py``.
"""

from __future__ import annotations

import socket

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
