"""R1 — Pay per lead: charge a saved Stripe customer once when a qualified lead arrives."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_stripe_automation.operators.approval import StripeApprovalOperator
from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator
from airflow_stripe_automation.operators.summary import summarize_run

with DAG(
    dag_id="stripe_pay_per_lead",
    description="Charge a saved Stripe customer a lead fee, once per triggered run.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["stripe", "recipe:R1", "charge"],
    params={
        "customer_id": Param(
            type="string", pattern=r"^cus_[A-Za-z0-9]+$", description="The Stripe customer to charge (cus_…)."
        ),
        "amount": Param(
            2500, type="integer", minimum=1, description="Amount in minor units of currency (2500 = 25.00 USD)."
        ),
        "currency": Param("usd", type="string", pattern=r"^[A-Za-z]{3}$", description="ISO currency code."),
        "description": Param(
            "Lead fee for appointment booking",
            type="string",
            maxLength=1000,
            description="Shown in the Stripe dashboard and on the receipt.",
        ),
        "approval_above": Param(
            None,
            type=["null", "integer"],
            minimum=0,
            description="A charge above this (minor units of currency) waits for a person's approval in the "
            "Airflow UI; empty: no charge does.",
        ),
    },
    doc_md="""
### R1 — Pay per lead

Triggered by an external event (a lead form, a booked appointment) through the REST API, the UI or
an asset event, with the lead's Stripe customer in `conf`:

```json
{"customer_id": "cus_123", "amount": 2500, "currency": "usd", "description": "Lead fee"}
```

The `charge_lead` task creates and confirms one off-session PaymentIntent on the customer's default
payment method. Each run charges at most once: retries and clears reuse the same idempotency key and
find the payment by its mark. A decline fails the task with Stripe's decline code and nothing is
charged; trigger a new run to try again. Amounts are integers in minor units.

With `approval_above` set, a charge above it (in `currency`) first waits in `approve_charge` for a
person to approve it in the Airflow UI (*Required actions*); rejected, or unanswered within a day,
nothing is charged and the run's note says "1 not approved".
""",
) as dag:
    # The same amount and threshold as the charge's: the charge checks them itself and holds what no one approved.
    above = {"amount": "{{ params.approval_above }}", "currency": "{{ params.currency }}"}
    approve = StripeApprovalOperator(
        task_id="approve_charge",
        task_display_name="Approve a big charge",
        approval_above=above,
        amount="{{ params.amount }}",
        currency="{{ params.currency }}",
        object_id="{{ run_id }}",  # one run is one lead: the run is what the charge acts on
        what="a charge of {{ params.amount | money(params.currency) }} to {{ params.customer_id }}",
        customer="{{ params.customer_id }}",
        action_name="charge",
    )
    approve >> StripeOneTimeChargeOperator(
        task_id="charge_lead",
        action_id="R1/charge_lead",
        task_display_name="Stripe one-time charge",
        customer_id="{{ params.customer_id }}",
        amount="{{ params.amount }}",
        currency="{{ params.currency }}",
        description="{{ params.description }}",
        metadata={"recipe": "R1", "lead_run": "{{ run_id }}"},
        approval_above=above,
        approval=approve.output,
    )
    summarize_run(dag)  # last: what the run did, as its summary XCom and its note


if __name__ == "__main__":
    dag.test()
