"""The README's demo command runs as written: ``demo/run_demo.py --once``, every recipe on a real Airflow.

The local Stripe server and the SMTP sink run here, in the test, and the demo is pointed at them
(``--stripe-url``, ``--smtp-port``): what the demo prints for each recipe (the counts of its run
summaries) is checked against what the servers hold afterwards — the charges, refunds, credits,
subscriptions, invoices and mails really made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from airflow_stripe_automation.money import format_money
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # runs the demo: a whole Airflow in subprocesses

# A recipe's line in the demo's closing summary: "  R8  recipe_signup_credit  1 run (1 success)  Stripe: …"
RECIPE_LINE = re.compile(r"^  (R\d+)\s+(recipe_\w+)\s+(\d+) runs? \(([^)]*)\)\s*(Stripe: .*)$", re.M)


def _counts(line: str) -> dict[str, int]:
    """``Stripe: 2 charged ($65.00), 1 failed · 3 mailed`` -> {"charged": 2, "charged failed": 1, "mailed": 3}."""
    counts: dict[str, int] = {}
    for group in line.removeprefix("Stripe: ").split(" · "):
        parts = [p.strip() for p in re.sub(r"\([^)]*\)", "", group).split(",")]
        number, done = parts[0].split(" ", 1)
        counts[done] = int(number)
        for rest in parts[1:]:
            n, what = rest.split(" ", 1)
            counts[f"{done} {what}"] = int(n)
    return counts


@pytest.fixture
def demo_output(tmp_path, stripe_server, smtp_sink):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    args = ["--once", "--home", str(tmp_path / "airflow_home"), "--port", "0"]
    args += ["--stripe-url", stripe_server.url, "--smtp-port", str(smtp_sink.port)]
    proc = subprocess.run(
        [sys.executable, str(REPO / "demo" / "run_demo.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print(proc.stdout)  # shown when the test fails: what the user saw
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return proc.stdout


def test_the_demo_runs_every_recipe_and_its_summary_lines_match_what_stripe_and_the_mailbox_hold(
    demo_output, stripe_server, smtp_sink
):
    out = demo_output
    stripe = stripe_server.client()
    lines = {m.group(1): m for m in RECIPE_LINE.finditer(out)}
    assert sorted(lines, key=lambda c: int(c[1:])) == [f"R{n}" for n in range(1, 13)], out
    counts = {code: _counts(m.group(5)) for code, m in lines.items()}
    mails = smtp_sink.messages

    def mailed(prefix: str) -> int:
        return sum(1 for m in mails if m.subject.startswith(prefix))

    # R1: two leads charged, the third card declined: one failed run, one plain line, no traceback
    leads = [
        pi
        for pi in stripe.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if (pi.description or "").startswith("Lead fee")
    ]
    charged = [pi for pi in leads if pi.status == "succeeded"]
    assert counts["R1"] == {"charged": len(charged), "charged failed": 1} and len(charged) == 2
    assert f"({format_money(sum(pi.amount for pi in charged), 'usd')})" in lines["R1"].group(5)
    assert lines["R1"].group(4) == "2 success, 1 failed"
    declines = [line for line in out.splitlines() if "StripeCardDeclined" in line]
    assert len(declines) == 1 and "card_declined" in declines[0] and declines[0].endswith("(planned)"), declines
    assert "Traceback" not in out and "sk_test_" not in out
    # R2, R3: the team hears of the two large payments; the largest customer is tagged VIP
    assert counts["R2"] == {"mailed": mailed("Add a handwritten thank-you note")} == {"mailed": 2}
    vips = [
        c
        for c in stripe.v1.customers.list(params={"limit": 100}).auto_paging_iter()
        if c.metadata.to_dict().get("tier")
    ]
    assert counts["R3"]["mailed"] == mailed("Valuable customer:") == 2
    assert counts["R3"]["metadata updated"] == len(vips) == 1
    # R4: the small charge refunded, the other one mailed for review
    refunds = list(stripe.v1.refunds.list(params={"limit": 100}).auto_paging_iter())
    assert counts["R4"]["refunded"] == len(refunds) == 1
    assert f"({format_money(refunds[0].amount, 'usd')})" in lines["R4"].group(5)
    assert counts["R4"]["mailed"] == mailed("Early fraud warning on") == 1
    # R5: the declined yearly renewal: subscription canceled, invoice written off
    canceled = [
        s
        for s in stripe.v1.subscriptions.list(params={"status": "canceled", "limit": 100}).auto_paging_iter()
        if s.items.data[0].price.recurring.interval == "year"
    ]
    written_off = list(stripe.v1.invoices.list(params={"status": "uncollectible", "limit": 100}).auto_paging_iter())
    assert counts["R5"]["subscriptions canceled"] == len(canceled) == 1
    assert counts["R5"]["invoices written off"] == len(written_off) == 1
    # R6: backfilled over three days, one mail per large overdue invoice
    assert lines["R6"].group(3) == "3" and lines["R6"].group(4) == "3 success"
    overdue_mails = [m for m in mails if " is overdue: " in m.subject and m.to == "collections@example.com"]
    assert counts["R6"] == {"mailed": len(overdue_mails)} == {"mailed": 3}
    # R7: the customer is told of the cancellation
    assert counts["R7"] == {"mailed": mailed("Your subscription has been canceled")} == {"mailed": 1}
    # R8: every customer who signed up in the window credited once
    credited = [c for c in stripe.v1.customers.list(params={"limit": 100}).auto_paging_iter() if c.balance < 0]
    assert counts["R8"]["credited"] == len(credited) > 0
    assert f"({format_money(-sum(c.balance for c in credited), 'usd')})" in lines["R8"].group(5)
    # R9: one payment link, mailed
    links = list(stripe.v1.payment_links.list(params={"limit": 100}).auto_paging_iter())
    assert counts["R9"] == {"payment links created": len(links), "mailed": mailed("Your payment link for order")}
    assert len(links) == 1
    # R10: staff hear of each paid invoice of the window
    assert counts["R10"] == {"mailed": mailed_paid(mails)} and mailed_paid(mails) > 0
    # R11: one invoice for the order
    orders = [
        i
        for i in stripe.v1.invoices.list(params={"limit": 100}).auto_paging_iter()
        if i.metadata.to_dict().get("order_id") == "SO-77"
    ]
    assert counts["R11"] == {"invoices created": len(orders)} == {"invoices created": 1}
    # R12: the customer's details updated, the courier told the address
    assert (
        counts["R12"]
        == {"customers updated": 1, "mailed": mailed("Delivery address for")}
        == {
            "customers updated": 1,
            "mailed": 1,
        }
    )
    # how to reach the UI, and that the demo ended as planned
    assert re.search(r"Airflow UI\s+http://127\.0\.0\.1:\d+/", out)
    assert re.search(r"log in as\s+admin / \S+", out)
    assert "Demo finished in" in out and "as expected" in out


def mailed_paid(mails) -> int:
    """R10's mails: ``Invoice <number> paid: …``."""
    return sum(1 for m in mails if re.match(r"Invoice \S+ paid: ", m.subject))
