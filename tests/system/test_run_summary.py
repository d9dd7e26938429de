"""Each run sums up what it did in Stripe: the summary task's XCom, its log, and the DAG run's note."""

from __future__ import annotations

import pendulum

from airflow_stripe_automation.run_note import HEADING, counts_line, note_with_summary
from airflow_stripe_automation.run_summary import SUMMARY_KEY, TALLY_KEY, RunSummary
from tests.testing.billing_helpers import customer, draft_invoice

HOUR = 3600


def _window(start: int, end: int) -> dict[str, str]:
    return {"since": pendulum.from_timestamp(start).isoformat(), "until": pendulum.from_timestamp(end).isoformat()}


def _note(dag_run) -> str | None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(DagRun).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).one().note


def test_a_sweep_leaves_its_counts_as_an_xcom_and_as_the_run_note(
    run_dag, stripe_server, stripe_client, smtp_connection, xcoms
):
    cus = customer(stripe_client, card=None, email="late@example.com", name="Late Payer")
    invoices = [
        stripe_client.v1.invoices.finalize_invoice(
            draft_invoice(
                stripe_client, cus.id, amounts=(amount,), collection_method="send_invoice", days_until_due=1
            ).id
        )
        for amount in (60000, 70000, 40000)  # the last is under R6's threshold: not found
    ]
    stripe_server.set_clock(invoices[0].due_date + HOUR)
    conf = _window(invoices[0].due_date - HOUR, invoices[0].due_date + HOUR)

    first, tis = run_dag("stripe_overdue_invoice_alert", conf)
    replay, _ = run_dag("stripe_overdue_invoice_alert", conf)

    assert first.state == replay.state == "success" and tis["run_summary"].state == "success"
    summary = xcoms(first)[("run_summary", SUMMARY_KEY)]
    assert summary["actions"]["mail"] == {
        "action": "mail",
        "done": 2,
        "already_done": 0,
        "skipped": 0,
        "not_approved": 0,
        "failed": 0,
        "amounts": {},
    }
    # the UI's run list shows the first line: the counts
    assert _note(first) == f"Stripe: 2 mailed\n\n{HEADING}\n- mail: 2 done"
    assert _note(replay) == f"Stripe: 0 mailed, 2 already done\n\n{HEADING}\n- mail: 0 done, 2 already done"
    assert len(smtp_connection.messages) == 2
    # the UI names the batch task by its invoices' numbers
    a, b = invoices[0].number, invoices[1].number
    assert tis[("mail_team", 0)].rendered_map_index in (f"{a} … {b} (2)", f"{b} … {a} (2)")
    # one tally per batch task, whatever the batch's size
    assert [k for k in xcoms(first) if k[1] == TALLY_KEY] == [("mail_team", TALLY_KEY)]


def test_a_declined_charge_fails_the_run_and_its_note_says_so(run_dag, stripe_client, customer_with_card, xcoms):
    buyer = customer_with_card
    pm = stripe_client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": buyer.id})
    stripe_client.v1.customers.update(buyer.id, params={"invoice_settings": {"default_payment_method": pm.id}})

    dag_run, tis = run_dag("stripe_pay_per_lead", {"customer_id": buyer.id, "amount": 1500})

    assert dag_run.state == "failed" and tis["run_summary"].state == "failed"
    assert xcoms(dag_run)[("run_summary", SUMMARY_KEY)]["actions"]["charge"]["failed"] == 1
    assert _note(dag_run) == f"Stripe: 0 charged, 1 failed\n\n{HEADING}\n- charge: 0 done, 1 failed"


def test_the_summary_adds_amounts_per_currency_and_never_across():
    summary = RunSummary.of(
        [
            {"action": "charge", "done": 2, "already_done": 1, "skipped": 0, "failed": 0, "amounts": {"usd": 3000}},
            {"action": "charge", "done": 1, "already_done": 0, "skipped": 0, "failed": 1, "amounts": {"jpy": 500}},
            {"action": "refund", "done": 1, "already_done": 0, "skipped": 2, "failed": 0, "amounts": {"kwd": 1005}},
            None,  # a task that left no tally
        ]
    )
    assert summary.text() == (
        "- charge: 3 done (¥500, $30.00), 1 already done, 1 failed\n- refund: 1 done (KWD1.005), 2 skipped"
    )
    assert summary.failed == 1


def test_a_note_someone_wrote_is_kept_and_an_earlier_summary_replaced():
    charged = RunSummary.of([{"action": "charge", "done": 1, "amounts": {"usd": 1500}}])
    replayed = RunSummary.of([{"action": "charge", "already_done": 1}])
    first = note_with_summary("Checked by finance.", charged)
    assert first == f"Stripe: 1 charged ($15.00)\n\nChecked by finance.\n\n{HEADING}\n- charge: 1 done ($15.00)"
    assert note_with_summary(first, replayed) == (
        f"Stripe: 0 charged, 1 already done\n\nChecked by finance.\n\n{HEADING}\n- charge: 0 done, 1 already done"
    )
    # a note of the earlier layout (someone's text, then the summary) keeps the text too
    earlier = f"Checked by finance.\n\n{HEADING}\n- charge: 1 done ($15.00)"
    assert note_with_summary(earlier, replayed).split("\n\n")[:2] == [
        "Stripe: 0 charged, 1 already done",
        "Checked by finance.",
    ]
    # someone's note that happens to start like the counts, with no summary yet, is kept whole
    assert note_with_summary("Stripe: call the bank", charged).split("\n\n")[1] == "Stripe: call the bank"
    many = RunSummary.of([{"action": f"mail {i}", "done": 1} for i in range(200)])
    assert len(note_with_summary(None, many)) == 1000


def test_the_first_line_holds_every_action_s_counts_and_amounts_per_currency():
    summary = RunSummary.of(
        [
            {"action": "charge", "done": 2, "failed": 1, "amounts": {"usd": 6500}},
            {"action": "mail", "done": 3, "skipped": 1},
            {"action": "custom thing", "done": 1},
        ]
    )
    assert counts_line(summary) == "Stripe: 2 charged ($65.00), 1 failed · 3 mailed, 1 skipped · 1 custom thing done"
    assert counts_line(RunSummary()) == "Stripe: nothing to act on"
    assert note_with_summary(None, RunSummary()).splitlines()[0] == "Stripe: nothing to act on"


def test_the_ui_names_a_task_by_invoice_number_and_customer():
    from airflow_stripe_automation.batches import batch_label, ui_label

    invoice = {"id": "in_1", "number": "INV-0042", "customer": "cus_1", "customer_name": "Acme Corp"}
    assert ui_label(invoice) == "INV-0042 · Acme Corp"
    assert ui_label({"id": "cus_1", "email": "ann@example.com"}) == "cus_1 · ann@example.com"
    assert ui_label({"id": "ch_1"}) == "ch_1"
    assert batch_label([invoice]) == "INV-0042 · Acme Corp (1)"
    assert batch_label([invoice, {"id": "in_2", "number": "INV-0043"}]) == "INV-0042 … INV-0043 (2)"
