"""The run's summary as its note: a listener the provider registers as a plugin, run where DAG runs end.

A task cannot write its DAG run's note (the Task SDK's API has no call for it), so the summary task
pushes the summary as an XCom (:data:`~airflow_stripe_automation.run_summary.SUMMARY_KEY`), and this
listener, which Airflow calls in the scheduler (or in ``dag.test()``) when a run succeeds or fails,
writes it into the note, in the same database transaction that ends the run. The run page of
the UI shows the note; ``GET /api/v2/dags/{dag_id}/dagRuns/{run_id}`` returns it as ``note``.

The run page's header shows a note's first line only, so the note starts with the counts on one line
(``Stripe: 2 charged ($65.00), 1 failed · 3 mailed``); the heading and one line per action follow.
A note someone wrote by hand is kept, between the counts and the details; a later summary (a
cleared and re-run run) replaces only the earlier summary's lines. Runs of DAGs without a summary
task cost one indexed query on the XCom table.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from airflow_stripe_automation.run_summary import SUMMARY_KEY, RunSummary

log = logging.getLogger(__name__)

#: The heading the summary's details start with in the note; a later summary replaces from here on.
HEADING = "**What this run did in Stripe**"
#: How the note's first line, the counts, starts.
COUNTS_PREFIX = "Stripe: "
NOTE_LIMIT = 1000  # Airflow's column for a run note holds 1,000 characters

# What each action's count reads as ("3 charged"); an action not listed reads "3 <action> done".
_DONE = {
    "charge": "charged",
    "refund": "refunded",
    "mail": "mailed",
    "credit": "credited",
    "subscription": "subscribed",
    "cancel subscription": "subscriptions canceled",
    "create payment link": "payment links created",
    "create invoice": "invoices created",
    "mark invoice uncollectible": "invoices written off",
    "metadata update": "metadata updated",
    "customer update": "customers updated",
    "invoice payment retry": "invoices retried",
}


def counts_line(summary: RunSummary) -> str:
    """
    The run's counts on one line, as the note's first line: ``Stripe: 2 charged ($65.00), 1 failed · 3 mailed``.

    :param summary: the run's summary
    """
    from airflow_stripe_automation.money import money_or_text

    if not summary.actions:
        return f"{COUNTS_PREFIX}nothing to act on"
    groups = []
    for tally in summary.actions.values():
        done = _DONE.get(tally.action)
        part = f"{tally.done} {done}" if done else f"{tally.done} {tally.action} done"
        sums = ", ".join(money_or_text(amount, code) for code, amount in sorted(tally.amounts.items()))
        part += f" ({sums})" if sums else ""
        rest = [
            f"{n} {label}"
            for n, label in (
                (tally.already_done, "already done"),
                (tally.skipped, "skipped"),
                (tally.not_approved, "not approved"),
                (tally.failed, "failed"),
            )
            if n
        ]
        groups.append(", ".join([part, *rest]))
    return COUNTS_PREFIX + " · ".join(groups)


def note_with_summary(current: str | None, summary: RunSummary) -> str:
    """
    The note to set: the counts, what someone wrote in ``current``, then the details, within Airflow's limit.

    An earlier summary in ``current`` (its counts line and its details) is replaced; the rest of it
    is someone's note and stays, below the counts.

    :param current: the run's note now (someone's, an earlier summary, or none)
    :param summary: the run's summary
    """
    kept = (current or "").split(HEADING, 1)[0].strip()
    if current and HEADING in current and kept.startswith(COUNTS_PREFIX):
        kept = kept.split("\n", 1)[1].strip() if "\n" in kept else ""  # the earlier summary's counts line
    details = summary.text() if summary.actions else "- no object to act on"
    parts = [counts_line(summary), kept, f"{HEADING}\n{details}"]
    note = "\n\n".join(part for part in parts if part)
    return note if len(note) <= NOTE_LIMIT else note[: NOTE_LIMIT - 1] + "…"


def _summary(session: Any, dag_run_id: int) -> RunSummary | None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.scalars(
        select(XComModel).where(XComModel.dag_run_id == dag_run_id, XComModel.key == SUMMARY_KEY).limit(1)
    ).first()
    if row is None:
        return None
    value = XComModel.deserialize_value(row)
    actions = value.get("actions") if isinstance(value, dict) else None
    return RunSummary.of(actions.values()) if isinstance(actions, dict) else None


def _write_note(dag_run: Any) -> None:
    from sqlalchemy.orm import object_session

    # A listener's error must never stop the scheduler: log it, with the run, and go on.
    try:
        session = object_session(dag_run)
        if session is not None:
            # The scheduler's own session, which holds the run's row: the note commits with the run's state.
            summary = _summary(session, dag_run.id)
            if summary is not None:
                dag_run.note = note_with_summary(dag_run.note, summary)
            return
        # A run handed over detached (``dag.test()``): a session of our own, committed here.
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as own:
            summary = _summary(own, dag_run.id)
            attached = own.get(DagRun, dag_run.id) if summary is not None else None
            if attached is not None and summary is not None:
                attached.note = note_with_summary(attached.note, summary)
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
