"""The run's summary as its note: a listener the provider registers as a plugin, run where DAG runs end.

A task cannot write its DAG run's note (the Task SDK's API has no call for it), so the summary task
pushes the summary as an XCom (:data:`~airflow_stripe_automation.run_summary.SUMMARY_KEY`), and this
listener, which Airflow calls in the scheduler (or in ``dag.test()``) when a run succeeds or fails,
copies its text into the note, in the same database transaction that ends the run. The run page of
the UI shows the note; ``GET /api/v2/dags/{dag_id}/dagRuns/{run_id}`` returns it as ``note``.

A note someone wrote by hand is kept: the summary goes below it, under its own heading, and replaces
only an earlier summary (a cleared and re-run run). Runs of DAGs without a summary task cost one
indexed query on the XCom table.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from airflow_stripe_automation.run_summary import SUMMARY_KEY

log = logging.getLogger(__name__)

#: The heading the summary starts with in the note; what a later summary replaces.
HEADING = "**What this run did in Stripe**"
NOTE_LIMIT = 1000  # Airflow's column for a run note holds 1,000 characters


def note_with_summary(current: str | None, summary_text: str) -> str:
    """
    The note to set: ``current`` without an earlier summary, then the summary, within Airflow's limit.

    :param current: the run's note now (someone's, an earlier summary, or none)
    :param summary_text: the summary's text (one line per action)
    """
    kept = (current or "").split(HEADING, 1)[0].rstrip()
    block = f"{HEADING}\n{summary_text}"
    note = f"{kept}\n\n{block}" if kept else block
    return note if len(note) <= NOTE_LIMIT else note[: NOTE_LIMIT - 1] + "…"


def _summary_text(session: Any, dag_run_id: int) -> str | None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.scalars(
        select(XComModel).where(XComModel.dag_run_id == dag_run_id, XComModel.key == SUMMARY_KEY).limit(1)
    ).first()
    if row is None:
        return None
    value = XComModel.deserialize_value(row)
    text = value.get("text") if isinstance(value, dict) else None
    return text if isinstance(text, str) else None


def _write_note(dag_run: Any) -> None:
    from sqlalchemy.orm import object_session

    # A listener's error must never stop the scheduler: log it, with the run, and go on.
    try:
        session = object_session(dag_run)
        if session is not None:
            # The scheduler's own session, which holds the run's row: the note commits with the run's state.
            text = _summary_text(session, dag_run.id)
            if text is not None:
                dag_run.note = note_with_summary(dag_run.note, text)
            return
        # A run handed over detached (``dag.test()``): a session of our own, committed here.
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as own:
            text = _summary_text(own, dag_run.id)
            attached = own.get(DagRun, dag_run.id) if text is not None else None
            if attached is not None and text is not None:
                attached.note = note_with_summary(attached.note, text)
    except Exception:
        log.exception("Could not write the Stripe summary into the note of %s", getattr(dag_run, "run_id", "a run"))


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    """A run succeeded: its summary becomes its note."""
    _write_note(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    """A run failed: its summary (what was done, what failed) becomes its note."""
    _write_note(dag_run)


class StripeRunNotePlugin(AirflowPlugin):
    """Registers this module's listener (the provider info lists this plugin)."""

    name = "stripe_run_note"
    listeners = [sys.modules[__name__]]
