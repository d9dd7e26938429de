"""R5 — Smart dunning for annual subscribers: retry, wait a grace period, then cancel and write off."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task_group
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.delay import StripeDelayOperator
from airflow_stripe_automation.operators.dunning import StripeInvoiceRetryOperator
from airflow_stripe_automation.operators.invoices import StripeMarkInvoiceUncollectibleOperator
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator
from airflow_stripe_automation.operators.subscriptions import StripeCancelSubscriptionOperator
from airflow_stripe_automation.operators.summary import summarize_run
from airflow_stripe_automation.sensors.subscriptions import StripeSubscriptionPaymentFailedSensor

# Only an invoice the retries could not collect goes on; paid, void or written off already: done.
RETRIES_EXHAUSTED = {"field": "outcome", "op": "eq", "value": "exhausted"}
STILL_OPEN = {"field": "status", "op": "eq", "value": "open"}

with DAG(
    dag_id="stripe_annual_dunning",
    description="Retry failed yearly subscription payments; after a grace period cancel and mark uncollectible.",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Each run waits out its invoices' retry window and grace period (about 67 days) in the
    # triggerer, holding no worker slot; daily runs must be allowed to overlap for that long.
    max_active_runs=100,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R5", "dunning", "subscriptions"],
    params={
        "max_attempts": Param(8, type="integer", minimum=1, maximum=25, description="Payment retries."),
        "retry_window_days": Param(60, type="number", exclusiveMinimum=0, description="Spread retries over this."),
        "grace_days": Param(7, type="number", minimum=0, description="Wait after the last retry; 0 for none."),
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
    },
    doc_md="""
### R5 — Smart dunning for annual subscribers

Daily sweep over the run's data interval (or `since`/`until` from the run conf): the failed payments
of **yearly** subscriptions' invoices are handed on in batches of `batch_size`, one mapped group of
tasks per batch, each invoice with its own schedule, keys and log lines:

1. `retry_policy` tries to pay the invoice up to `max_attempts` times spread over `retry_window_days`
   (smart-retries style), deferring between attempts: no worker slot is held.
2. Paid (by a retry or by the customer), void or already written off? The remaining steps are skipped.
3. Otherwise `grace_period` waits `grace_days` after the last attempt, also deferred, for manual
   outreach (a batch waits until the latest of its invoices' grace periods ends).
4. `recheck_invoice` reads the invoice again: an invoice paid during the grace period is left alone.
5. `cancel_subscription`, then `mark_uncollectible`.

Every write carries an idempotency key per invoice and step; replaying a window acts on nothing twice.
""",
) as dag:
    failed = StripeSubscriptionPaymentFailedSensor(
        task_id="subscription_payment_failed",
        interval="year",
        wait_for_match=False,
        batch_size="{{ params.batch_size }}",
    )

    @task_group
    def each_failed_invoice(invoice):
        """The dunning flow of one batch of invoices, each on its own schedule."""
        retry = StripeInvoiceRetryOperator(
            task_id="retry_policy",
            action_id="R5/retry_policy",
            stripe_object=invoice,
            invoice_id="{{ obj.id }}",
            max_attempts="{{ params.max_attempts }}",
            window="{{ params.retry_window_days }}",
            schedule_start="{{ obj.failed_at }}",  # from the failure, not the task: backfills keep the dates
        )
        grace = StripeDelayOperator(
            task_id="grace_period",
            stripe_object=retry.output,
            condition=RETRIES_EXHAUSTED,  # paid or closed: skipped, and so is everything after it
            delay="{{ params.grace_days }}",
            start="{{ obj.finished_at }}",
        )
        recheck = StripeRetrieveOperator(
            task_id="recheck_invoice", stripe_object=retry.output, object_id="{{ obj.invoice }}"
        )
        cancel = StripeCancelSubscriptionOperator(
            task_id="cancel_subscription",
            action_id="R5/cancel_subscription",
            stripe_object=recheck.output,
            condition=STILL_OPEN,
            subscription_id="{{ obj.subscription }}",
            cancellation_comment="Annual dunning: payment failed after retries and grace period",
        )
        mark = StripeMarkInvoiceUncollectibleOperator(
            task_id="mark_uncollectible",
            action_id="R5/mark_uncollectible",
            stripe_object=recheck.output,
            condition=STILL_OPEN,
            invoice_id="{{ obj.id }}",
        )
        retry >> grace >> recheck >> cancel >> mark

    each_failed_invoice.expand(invoice=failed.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
