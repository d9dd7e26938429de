"""R2 and R3 over seeded payments: exactly the payments inside the window, per branch, once."""

from __future__ import annotations

import pendulum
import pytest

from tests.sensors.seeding import payment, server_time

HOUR = pendulum.datetime(2026, 11, 20, 10, tz="UTC")
# A run for logical date 11:00 covers the hour that just ended: [10:00, 11:00).
RUN_AT = HOUR.add(hours=1)


@pytest.fixture
def seeded(stripe_server, stripe_client):
    """2,500 / 1,500 / 500 USD and 5,000,000 JPY inside the hour; 3,000 USD the hour before."""
    inside = int(HOUR.add(minutes=20).timestamp())
    with server_time(stripe_server, inside):
        big, medium, small = (payment(stripe_client, a) for a in (250000, 150000, 50000))
        yen = payment(stripe_client, 5_000_000, "jpy")
    with server_time(stripe_server, int(HOUR.subtract(minutes=30).timestamp())):
        earlier = payment(stripe_client, 300000)
    return {"big": big, "medium": medium, "small": small, "yen": yen, "earlier": earlier}


def test_r3_tags_vip_and_mails_per_branch(run_dag, stripe_client, smtp_connection, seeded):
    dag_run, tis = run_dag("stripe_tag_valuable_customers", logical_date=RUN_AT)
    assert dag_run.state == "success"

    def tier(key):
        return stripe_client.v1.customers.retrieve(seeded[key].customer).metadata.to_dict().get("tier")

    assert [tier(k) for k in ("big", "medium", "small", "yen", "earlier")] == ["VIP", None, None, None, None]
    subjects = sorted(m.subject for m in smtp_connection.messages)
    assert subjects == [
        f"Valuable customer: $1,500.00 from {seeded['medium'].customer}",
        f"Valuable customer: $2,500.00 from {seeded['big'].customer}",
    ]
    assert all(m.rcpt_tos == ["team@example.com"] for m in smtp_connection.messages)


def test_r2_mails_each_large_payment_once_even_when_replayed(run_dag, smtp_connection, stripe_server, seeded):
    first, _ = run_dag("stripe_personalize_orders", logical_date=RUN_AT)
    writes = len(stripe_server.write_requests())
    replay, _ = run_dag(
        "stripe_personalize_orders",
        logical_date=RUN_AT.add(hours=5),
        conf={"since": HOUR.isoformat(), "until": HOUR.add(hours=1).isoformat()},
    )

    assert first.state == replay.state == "success"
    assert sorted(m.subject for m in smtp_connection.messages) == [
        "Add a handwritten thank-you note: $1,500.00 order",
        "Add a handwritten thank-you note: $2,500.00 order",
    ]
    body = next(m.body for m in smtp_connection.messages if "$2,500.00" in m.subject)
    assert f"<td>{seeded['big'].customer}</td>" in body and f"<td>{seeded['big'].id}</td>" in body
    assert len(stripe_server.write_requests()) == writes  # the replay found the marks: no mail, no write
