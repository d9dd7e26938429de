"""How the local stack's Airflow components connect to their SQLite metadata DB.

The demo runs an api-server, a scheduler, a DAG processor, a triggerer and the task processes on one
SQLite file. SQLite lets one writer at a time in; the others wait for the lock, by default 5 s,
then fail with ``database is locked``. Under the demo's load (a backfill, a dozen runs, task
processes reporting their states) a component sometimes waited longer than that, and a scheduler
whose insert of a scheduled run failed that way stopped the demo. A longer wait costs nothing when
the DB is free: Airflow imports this mapping as its ``[database] sql_alchemy_connect_args``.
"""

from __future__ import annotations

#: SQLite's busy timeout for every connection of the components, in seconds (sqlite3's ``timeout``).
CONNECT_ARGS: dict[str, float] = {"timeout": 60.0}

#: The import path Airflow's configuration takes.
CONNECT_ARGS_PATH = f"{__name__}.CONNECT_ARGS"
