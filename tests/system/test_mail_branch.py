"""Retrieve -> condition branch -> mail / tag, run with dag.test() against the local Stripe and SMTP servers."""

from __future__ import annotations

import pytest

DAG_ID = "test_mail_branch"


@pytest.fixture
def payment(stripe_client):
    def _pay(amount: int, currency: str = "usd"):
        customer = stripe_client.v1.customers.create(params={"email": f"c{amount}@example.com"})
        return stripe_client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "customer": customer.id,
                "payment_method": "pm_card_visa",
                "confirm": True,
                "off_session": True,
            }
        )

    return _pay


def test_each_branch_gets_what_its_amount_deserves(run_dag, stripe_client, smtp_connection, payment):
    big, medium, small, yen = payment(250000), payment(150000), payment(50000), payment(5_000_000, "jpy")
    states = {}
    for pi in (big, medium, small, yen):
        dag_run, tis = run_dag(DAG_ID, {"payment_intent_id": pi.id})
        assert dag_run.state == "success"
        states[pi.id] = {t: ti.state for t, ti in tis.items()}

    assert states[big.id] == {
        "read_payment": "success",
        "check_amount": "success",
        "mail_team": "success",
        "tag_vip": "success",
    }
    assert states[medium.id]["mail_team"] == "success" and states[medium.id]["tag_vip"] == "skipped"
    assert states[small.id]["mail_team"] == "skipped" and states[small.id]["tag_vip"] == "skipped"
    assert states[yen.id]["mail_team"] == "skipped"  # 5,000,000 JPY is not a USD amount

    mails = smtp_connection.messages
    assert [m.subject for m in mails] == [
        f"Add a handwritten thank-you note for {big.customer}",
        f"Add a handwritten thank-you note for {medium.customer}",
    ]
    assert mails[0].rcpt_tos == ["team@example.com"]
    assert "A payment of $2,500.00 just succeeded." in mails[0].body
    assert f'<th align="left">Customer</th><td>{big.customer}</td>' in mails[0].body
    assert '<th align="left">Amount</th><td>$1,500.00</td>' in mails[1].body
    assert stripe_client.v1.customers.retrieve(big.customer).metadata["tier"] == "VIP"
    assert "tier" not in stripe_client.v1.customers.retrieve(medium.customer).metadata


def test_a_second_run_over_the_same_payment_sends_no_second_mail(run_dag, smtp_connection, stripe_server, payment):
    pi = payment(250000)
    run_dag(DAG_ID, {"payment_intent_id": pi.id})
    writes_after_first = len(stripe_server.write_requests())
    dag_run, tis = run_dag(DAG_ID, {"payment_intent_id": pi.id})

    assert dag_run.state == "success"
    assert len(smtp_connection.messages) == 1
    assert len(stripe_server.write_requests()) == writes_after_first  # no mail mark, no metadata write again
