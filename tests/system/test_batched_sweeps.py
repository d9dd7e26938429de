"""Sweeps in batches, end to end with dag.test(): more objects than max_map_length, and one object failing."""

from __future__ import annotations

import re

import pytest

from tests.sensors.seeding import server_time
from tests.testing.billing_helpers import DAY, HOUR, customer, draft_invoice


def _window(start: int, end: int) -> dict[str, str]:
    import pendulum

    return {"since": pendulum.from_timestamp(start).isoformat(), "until": pendulum.from_timestamp(end).isoformat()}


def _customers_a_second_apart(server, client, start: int, count: int) -> list[str]:
    ids = []
    for i in range(count):
        with server_time(server, start + i):
            ids.append(customer(client, card=None, email=f"new{i}@example.com").id)
    return ids


def _credit_posts(server) -> list[str]:
    return [r["path"] for r in server.write_requests() if r["path"].endswith("/balance_transactions")]


@pytest.mark.slow
def test_r6_mails_each_of_more_overdue_invoices_than_max_map_length_once(
    run_dag, stripe_server, stripe_client, smtp_connection, xcoms
):
    from airflow.sdk import conf

    limit = conf.getint("core", "max_map_length")
    assert limit == 1024  # Airflow's default: the sweep below is larger than one task may be mapped to
    count = limit + 476
    cus = customer(stripe_client, card=None, email="late@example.com", name="Late Payer")
    start = stripe_server.now()
    with server_time(stripe_server, start):  # every invoice falls due at the same moment: start + 1 day
        numbers = {
            stripe_client.v1.invoices.finalize_invoice(
                draft_invoice(
                    stripe_client, cus.id, amounts=(60000,), collection_method="send_invoice", days_until_due=1
                ).id
            ).number
            for _ in range(count)
        }
    due = start + DAY
    stripe_server.set_clock(due + HOUR, pin=True)
    conf_ = _window(due - HOUR, due + HOUR)

    dag_run, tis = run_dag("stripe_overdue_invoice_alert", conf_)

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items() if ti.state != "success"}
    pushed = xcoms(dag_run)
    tickets = pushed[("invoice_overdue", "return_value")]
    assert [t["count"] for t in tickets] == [100] * 15  # batch_size 100: 15 mapped tasks, not 1,500
    assert [len(pushed[("invoice_overdue", t["stripe_batch"])]) for t in tickets] == [100] * 15
    assert len([k for k in tis if isinstance(k, tuple) and k[0] == "mail_team"]) == 15
    mailed = [re.search(r"<td>(\S+-\d+)</td>", m.body)[1] for m in smtp_connection.messages]
    assert len(mailed) == count and set(mailed) == numbers  # one mail per invoice, none twice

    writes = len(stripe_server.write_requests())
    again, _ = run_dag("stripe_overdue_invoice_alert", conf_)
    assert again.state == "success"
    assert len(smtp_connection.messages) == count  # the replay mailed no one
    assert len(stripe_server.write_requests()) == writes


def test_a_failure_on_one_object_leaves_the_others_done_and_the_retry_finishes_only_it(
    run_dag, stripe_server, stripe_client, capfd
):
    since = stripe_server.now() - 60
    new = _customers_a_second_apart(stripe_server, stripe_client, since, 6)  # oldest first
    newest_first = new[::-1]  # as Stripe lists them, and so the sweep's batches
    unlucky = newest_first[1]  # in the first batch of 4
    # Stripe answers 500 to the first credit of that customer: the first try cannot credit them.
    stripe_server.fail_next(500, path=f"/v1/customers/{unlucky}/balance_transactions", method="POST")

    dag_run, tis = run_dag("test_batch_failures", _window(since - 60, since + 60))

    assert dag_run.state == "success"
    assert [tis[("credit", i)].try_number for i in (0, 1)] == [2, 1]  # only the unlucky batch was retried
    # The UI names each batch task by its first and last customers and how many.
    labels = [tis[("credit", i)].rendered_map_index for i in (0, 1)]
    assert labels == [f"{newest_first[0]} … {newest_first[3]} (4)", f"{newest_first[4]} … {newest_first[5]} (2)"]
    for cus in new:
        credits = list(stripe_client.v1.customers.balance_transactions.list(cus).auto_paging_iter())
        assert [(t.amount, t.description) for t in credits] == [(-700, "Batch credit")], cus
    # 6 credits, plus the failed one: the retry wrote nothing for the three customers the first try credited.
    assert sorted(_credit_posts(stripe_server)) == sorted(
        [f"/v1/customers/{c}/balance_transactions" for c in new] + [f"/v1/customers/{unlucky}/balance_transactions"]
    )
    failed = [line for line in capfd.readouterr().out.splitlines() if "objects failed" in line]  # the task's log
    assert failed and f"1 of 4 objects failed (3 done, 0 skipped, 1 failed of 4): {unlucky}: APIError" in failed[0]


def test_a_permanent_failure_on_one_object_fails_its_batch_at_once_and_names_it(
    run_dag, stripe_server, stripe_client, capfd
):
    since = stripe_server.now() - 60
    new = _customers_a_second_apart(stripe_server, stripe_client, since, 3)
    refused = new[2]
    stripe_server.fail_next(400, path=f"/v1/customers/{refused}/balance_transactions", method="POST")

    dag_run, tis = run_dag("test_batch_failures", _window(since - 60, since + 60))

    assert dag_run.state == "failed"
    assert tis[("credit", 0)].state == "failed" and tis[("credit", 0)].try_number == 1  # not retried
    balances = {cus: stripe_client.v1.customers.retrieve(cus).balance for cus in new}
    assert balances == {new[0]: -700, new[1]: -700, refused: 0}
    failed = [line for line in capfd.readouterr().out.splitlines() if "objects failed" in line]  # the task's log
    assert failed and f"{refused}: StripeActionFailed: Stripe refused" in failed[0]
