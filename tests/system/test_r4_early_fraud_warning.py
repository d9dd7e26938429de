"""R4 — early fraud warnings: small charges refunded once, large ones mailed for review."""

from __future__ import annotations

import pendulum

from tests.sensors.seeding import payment, server_time

HOUR = pendulum.datetime(2026, 11, 20, 10, tz="UTC")
RUN_AT = HOUR.add(hours=1)  # covers [10:00, 11:00)
DAG_ID = "stripe_early_fraud_warning"


def test_small_charges_are_refunded_and_large_ones_reviewed_once(
    run_dag, stripe_server, stripe_client, smtp_connection
):
    with server_time(stripe_server, int(HOUR.add(minutes=5).timestamp())):
        small, large, yen = (
            payment(stripe_client, 1000),
            payment(stripe_client, 9900),
            payment(stripe_client, 1000, "jpy"),
        )
    with server_time(stripe_server, int(HOUR.add(minutes=30).timestamp())):
        for pi in (small, large, yen):
            stripe_server.create_early_fraud_warning(pi.latest_charge)

    dag_run, _ = run_dag(DAG_ID, logical_date=RUN_AT)
    assert dag_run.state == "success"

    refunds = list(stripe_client.v1.refunds.list(params={"limit": 100}).auto_paging_iter())
    assert [(r.charge, r.amount, r.reason) for r in refunds] == [(small.latest_charge, 1000, "fraudulent")]
    assert refunds[0].metadata["early_fraud_warning"].startswith("issfr_")
    subjects = sorted(m.subject for m in smtp_connection.messages)
    assert subjects == sorted(
        [
            f"Early fraud warning on {large.latest_charge}: $99.00 to review",
            f"Early fraud warning on {yen.latest_charge}: ¥1,000 to review",
        ]
    )

    # a replay of the window (e.g. a backfill) refunds and mails nothing more
    writes = len(stripe_server.write_requests())
    replay, _ = run_dag(
        DAG_ID, logical_date=RUN_AT.add(days=1), conf={"since": HOUR.isoformat(), "until": RUN_AT.isoformat()}
    )
    assert replay.state == "success"
    assert len(list(stripe_client.v1.refunds.list(params={"limit": 100}).auto_paging_iter())) == 1
    assert len(smtp_connection.messages) == 2
    assert len(stripe_server.write_requests()) == writes
