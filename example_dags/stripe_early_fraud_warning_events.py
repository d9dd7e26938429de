"""R4, event-driven — act on each early fraud warning within seconds: refund small charges, review the rest."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task_group

from airflow_stripe_automation.finders import EarlyFraudWarningFinder
from airflow_stripe_automation.operators.approval import StripeApprovalOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.events import StripeTriggeringObjectsOperator, stripe_events_asset
from airflow_stripe_automation.operators.refunds import StripeRefundOperator
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator
from airflow_stripe_automation.operators.summary import summarize_run

DAG_ID = "stripe_early_fraud_warning_events"

# "The charge costs less than a dispute would": same currency as the fee, amount below it.
UNDER_DISPUTE_FEE = {
    "field": "amount",
    "op": "lt",
    "value": "{{ params.dispute_fee }}",
    "currency": "{{ params.currency }}",
}

# Refunds above this wait for a person (when the param is set).
ABOVE = {"amount": "{{ params.approval_above }}", "currency": "{{ params.currency }}"}

with DAG(
    dag_id=DAG_ID,
    description="On each Radar early fraud warning: refund the charge if under the dispute fee, else send it for review.",
    # The triggerer watches Stripe's Events API (every 10 s); each warning is an asset event, and a run.
    schedule=[stripe_events_asset(DAG_ID, EarlyFraudWarningFinder(actionable_only=True))],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R4", "radar", "refunds", "events"],
    params={
        "batch_size": Param(
            100, type="integer", minimum=1, description="Objects per mapped task (more are batched, never dropped)."
        ),
        "dispute_fee": Param(1500, type="integer", minimum=0, description="Minor units: 1500 = 15.00 USD."),
        "currency": Param("usd", type="string", pattern=r"^[a-z]{3}$"),
        "team_email": Param("risk@example.com", type="string"),
        "approval_above": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            description="A refund above this (minor units of currency) waits for a person's approval in the "
            "Airflow UI; empty: none does.",
        ),
        "refund_reason": Param(
            "fraudulent", type="string", enum=["fraudulent", "duplicate", "requested_by_customer", "unspecified"]
        ),
    },
    doc_md="""
### R4 — Act on early fraud warnings, as they happen

The event-driven form of `stripe_early_fraud_warning`: no hourly sweep, a run per
`radar.early_fraud_warning.created` event, at most the watcher's poll interval (10 s) after Stripe
created it. `early_fraud_warning` reads the run's warnings from its asset events; then the same steps
as the sweep, with the same `action_id`s (`R4/refund`, `R4/mail_team`): a warning seen by both the
sweep and this DAG is refunded (or mailed about) once. Keep the hourly sweep on as the safety net.
Give both the same `approval_above`: a refund above it waits in `approve_refund` for a person.
""",
) as dag:
    warnings = StripeTriggeringObjectsOperator(task_id="early_fraud_warning", batch_size="{{ params.batch_size }}")

    @task_group
    def each_warning(warning):
        """Read the charge a warning is about, then refund it or ask for a review."""
        charge = StripeRetrieveOperator(task_id="retrieve_charge", stripe_object=warning, object_id="{{ obj.charge }}")
        approve = StripeApprovalOperator(
            task_id="approve_refund",
            task_display_name="Approve big refunds",
            stripe_object=charge.output,
            condition=UNDER_DISPUTE_FEE,  # only what `refund` would refund is asked about
            approval_above=ABOVE,
            action_name="refund",
        )
        refund = StripeRefundOperator(
            task_id="refund",
            action_id="R4/refund",
            stripe_object=charge.output,
            condition=UNDER_DISPUTE_FEE,
            charge_id="{{ obj.id }}",
            reason="{{ params.refund_reason }}",
            metadata={"early_fraud_warning": "{{ obj.retrieved_for }}"},  # the warning the charge was read for
            approval_above=ABOVE,
            approval=approve.output,
        )
        charge >> approve >> refund
        charge >> refund  # the charges an earlier step skipped stay skipped
        charge >> StripeSendEmailOperator(
            task_id="mail_team",
            action_id="R4/mail_team",
            stripe_object=charge.output,
            condition={"not": UNDER_DISPUTE_FEE},
            to="{{ params.team_email }}",
            subject="Early fraud warning on {{ obj.id }}: {{ obj.amount | money(obj.currency) }} to review",
            body="Radar reported an early fraud warning on a charge above the dispute fee. Please review it.",
            fields={
                "Charge": "{{ obj.id }}",
                "Amount": "{{ money(obj.amount, obj.currency) }}",
                "Customer": "{{ obj.customer }}",
            },
        )

    each_warning.expand(warning=warnings.output)
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note
