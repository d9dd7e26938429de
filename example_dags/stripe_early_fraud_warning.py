"""R4 — Act on early fraud warnings: refund small charges before they become disputes, review the rest."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task_group
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_stripe_automation.operators.approval import StripeApprovalOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.refunds import StripeRefundOperator
from airflow_stripe_automation.operators.retrieve import StripeRetrieveOperator
from airflow_stripe_automation.operators.summary import summarize_run
from airflow_stripe_automation.sensors.radar import StripeEarlyFraudWarningSensor

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
    dag_id="stripe_early_fraud_warning",
    description="Refund charges under the dispute fee when Radar warns of fraud; send the others for review.",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["stripe", "recipe:R4", "radar", "refunds"],
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
### R4 — Act on early fraud warnings

Trigger: a Radar early fraud warning (actionable ones) in the run's window. For each one,
`retrieve_charge` reads the charge it refers to; if the charge is below the dispute fee
(`dispute_fee`, 15 USD by default, in `currency`), `refund` refunds it in full — cheaper than a
dispute — otherwise `mail_team` sends the charge id and amount for review. Each warning's charge is
refunded (or mailed about) at most once, however often a window is replayed.

With `approval_above` set (below the dispute fee, so some refunds are big enough to check),
`approve_refund` holds the batch's refunds above it for a person to approve in the Airflow UI
(*Required actions*): approved, they are made once; rejected or unanswered within a day, none is.
""",
) as dag:
    warnings = StripeEarlyFraudWarningSensor(
        task_id="early_fraud_warning", wait_for_match=False, batch_size="{{ params.batch_size }}"
    )

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


if __name__ == "__main__":
    dag.test()
