"""The last task of a Stripe DAG: what the run did, added up, as an XCom, a log line and the run's note."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from airflow_stripe_automation.run_summary import SUMMARY_KEY, TALLY_KEY, RunSummary

if TYPE_CHECKING:
    from airflow.sdk import Context

_FAILED = ["failed", "upstream_failed"]


class StripeRunSummaryOperator(BaseOperator):
    """
    Add up the tallies the run's Stripe tasks left and report them; fail when anything in the run failed.

    Put it after every other task (``all_done``: it runs when they have ended, however they
    ended). It reads each task's tally (one small XCom per task instance, see
    :mod:`airflow_stripe_automation.run_summary`), returns the summary, pushes it under
    ``stripe_run_summary`` — which the provider's listener turns into the DAG run's note — and logs
    it. As the run's last task it decides the run's state: it fails, after reporting, when a task of
    the run failed, so a run with a failed charge is never shown as a success.

    :param task_ids: the tasks whose tallies count; default: every other task of the DAG
    """

    ui_color = "#635bff"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        task_ids: Sequence[str] | None = None,
        trigger_rule: str = TriggerRule.ALL_DONE,
        **kwargs: Any,
    ) -> None:
        super().__init__(trigger_rule=trigger_rule, **kwargs)
        self.task_ids = task_ids

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        task_ids = list(self.task_ids) if self.task_ids is not None else self._other_tasks()
        # No map_indexes: every map index of each task, one request per task however many batches.
        tallies = ti.xcom_pull(task_ids=task_ids, key=TALLY_KEY) if task_ids else []
        summary = RunSummary.of(tallies if isinstance(tallies, list) else [tallies])
        out = summary.as_xcom()
        ti.xcom_push(key=SUMMARY_KEY, value=out)
        self.log.info("What this run did in Stripe:\n%s", out["text"])
        failed = ti.get_ti_count(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=task_ids, states=_FAILED)
        if failed:
            raise AirflowFailException(
                f"{failed} task instance(s) of this run failed ({summary.failed} object(s) named in their logs); "
                "the summary counts what was done"
            )
        return out

    def _other_tasks(self) -> list[str]:
        dag = self.get_dag()
        return sorted(t for t in (dag.task_ids if dag else ()) if t != self.task_id)


def summarize_run(dag: Any, task_id: str = "run_summary") -> StripeRunSummaryOperator:
    """
    Add the summary task to ``dag``, after every task that has nothing after it yet; return it.

    Call it last, when the DAG's other tasks are in place (the example DAGs and recipes all do).

    :param dag: the DAG being defined
    :param task_id: the summary task's id
    """
    leaves = list(dag.leaves)
    summary = StripeRunSummaryOperator(task_id=task_id, dag=dag)
    for leaf in leaves:
        leaf >> summary
    return summary
