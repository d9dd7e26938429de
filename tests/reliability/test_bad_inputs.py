"""Every bad input is refused before any write, as an ``AirflowFailException`` (no retry), with the README's message.

One list, :data:`CASES`, is both the README's "Bad inputs" table and this test: each row of the table
is a case here (``test_the_readme_table_is_this_list`` compares them), and each case runs the task
for real against the local Stripe server and checks that

* it fails with an ``AirflowFailException`` whose message holds the row's message (the exact text,
  or the part that does not name the object),
* the task's retry policy does not retry it, and
* no write reached the server (``write_requests()`` unchanged) and no mail went out.

``python -m tests.reliability.test_bad_inputs`` prints the table as the README holds it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk import RetryAction
from airflow.sdk.exceptions import AirflowFailException

from tests.conftest import REPO, TEST_BUDGET

README = REPO / "README.md"
SECTION = "## Bad inputs"


@dataclass(frozen=True)
class Case:
    """
    One bad input.

    :param input: what was given, as the README's first column shows it
    :param message: the message the task fails with, or its stable part (the README's second column)
    :param make: builds the task from the test's ``stripe_client`` (which may set up objects first)
    :param conn: the ``stripe_default`` connection's password and extra, when the connection is the bad input
    :param render: render the task's templates first, as the task runner does (Jinja turns CRLF into LF, so
        the other cases keep their text as given)
    """

    input: str
    message: str
    make: Callable[[Any], Any]
    conn: dict[str, Any] | None = field(default=None)
    render: bool = False


def charge(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator

    args = {"customer_id": "cus_123", "amount": 1500, "currency": "usd", "payment_method": "pm_card_visa", **kwargs}
    return lambda client: StripeOneTimeChargeOperator(task_id="charge", **args)


def refund(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.refunds import StripeRefundOperator

    return lambda client: StripeRefundOperator(task_id="refund", **{"charge_id": "ch_123", **kwargs})


def credit(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator

    args = {"customer_id": "cus_123", "amount": 500, **kwargs}
    return lambda client: StripeCustomerCreditOperator(task_id="credit", **args)


def payment_link(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.payment_links import StripeCreatePaymentLinkOperator

    args = {"order_id": "SO-1", "amount": 12500, **kwargs}
    return lambda client: StripeCreatePaymentLinkOperator(task_id="link", **args)


def invoice(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.invoices import StripeCreateInvoiceOperator

    args = {
        "customer_id": "cus_123",
        "order_id": "SO-1",
        "items": [{"description": "Seat", "quantity": 1, "unit_amount": 1000}],
        **kwargs,
    }
    return lambda client: StripeCreateInvoiceOperator(task_id="invoice", **args)


def subscription(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.subscriptions import StripeCreateSubscriptionOperator

    args = {"customer_id": "cus_123", "price_id": "price_123", **kwargs}
    return lambda client: StripeCreateSubscriptionOperator(task_id="subscribe", **args)


def mail(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.email import StripeSendEmailOperator

    args = {"to": "ops@example.com", "subject": "Overdue", "stripe_object": {"id": "cus_123"}, **kwargs}
    return lambda client: StripeSendEmailOperator(task_id="mail", **args)


def delay(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.delay import StripeDelayOperator

    return lambda client: StripeDelayOperator(task_id="wait", **{"delay": 1, **kwargs})


def dunning(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.dunning import StripeInvoiceRetryOperator

    return lambda client: StripeInvoiceRetryOperator(task_id="retry", **{"invoice_id": "in_123", **kwargs})


def overdue_sensor(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.sensors.invoices import StripeInvoiceOverdueSensor

    args = {"since": 0, "until": 1, "wait_for_match": False, **kwargs}
    return lambda client: StripeInvoiceOverdueSensor(task_id="overdue", **args)


def customer_update(**kwargs: Any) -> Callable[[Any], Any]:
    from airflow_stripe_automation.operators.customers import StripeUpdateCustomerOperator

    return lambda client: StripeUpdateCustomerOperator(task_id="update", **{"customer_id": "cus_123", **kwargs})


def metadata_update_of_a_full_customer(client: Any) -> Any:
    """A customer already holding Stripe's 50 metadata keys, and an update adding a 51st."""
    from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator

    full = client.v1.customers.create(params={"metadata": {f"k{i}": "v" for i in range(50)}})
    return StripeUpdateCustomerMetadataOperator(task_id="tag", customer_id=full.id, metadata={"tier": "vip"})


FIFTY = {f"k{i}": "v" for i in range(50)}
LIVE = {"password": "sk_live_51LiveKeyThatMustNotBeUsed"}

CASES: list[Case] = [
    # -- amounts and currencies (money.py) --
    Case("`amount='--5'`", "amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got '--5'", charge(amount="--5")),
    Case("`amount='²'`", "amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got '²'", charge(amount="²")),
    Case("`amount='ten'`", "amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got 'ten'", charge(amount="ten")),
    Case("`amount=12.5` (usd)", "amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got 12.5", charge(amount=12.5)),
    Case("`amount=12.5, currency='jpy'`", "amount must be an integer number of minor units, and jpy has no decimals (500 is ¥500), got 12.5", charge(amount=12.5, currency="jpy")),
    Case("`amount=True`", "amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got True", charge(amount=True)),
    Case("`amount=0`", "amount must be greater than zero, got 0", charge(amount=0)),
    Case("`amount=-500`", "amount must be greater than zero, got -500", charge(amount=-500)),
    Case("`amount=100000000`", "amount 100000000 is above Stripe's maximum of 99999999 minor units", charge(amount=100_000_000)),
    Case("`amount=1005, currency='bhd'`", "amount in bhd must be a multiple of 10 minor units, got 1005", charge(amount=1005, currency="bhd")),
    Case("`currency='xyz'`", "currency 'xyz' is not a currency Stripe supports", charge(currency="xyz")),
    Case("`currency=''`", "currency must be a three-letter ISO code such as 'usd', got ''", charge(currency="")),
    Case("refund `amount='²'`", "amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got '²'", refund(amount="²")),
    Case("credit `amount=0`", "amount must be greater than zero, got 0", credit(amount=0)),
    Case("invoice lines of 60,000,000 + 50,000,000 usd", "the invoice's lines total 110000000 minor units of usd, above Stripe's maximum of 99999999 for one invoice; split the order", invoice(items=[{"description": "A", "unit_amount": 60_000_000}, {"description": "B", "unit_amount": 50_000_000}])),
    Case("invoice `unit_amount='ten'`", "items[0].unit_amount must be an integer number of minor units (e.g. 1500 for 15.00 USD), got 'ten'", invoice(items=[{"description": "A", "unit_amount": "ten"}])),
    # -- counts --
    Case("payment link `quantity='²'`", "quantity must be a positive whole number, got '²'", payment_link(amount=None, price_id="price_123", quantity="²")),
    Case("invoice `days_until_due='--5'`", "days_until_due must be a positive whole number, got '--5'", invoice(days_until_due="--5")),
    Case("subscription `trial_period_days=0`", "trial_period_days must be greater than zero, got 0", subscription(trial_period_days=0)),
    # -- ids --
    Case("`customer_id='cust_1'`", "customer_id must be a Stripe id starting with 'cus_', got 'cust_1'", charge(customer_id="cust_1")),
    Case("`customer_id='cus_1\\r\\nX: 1'`", "customer_id must be a Stripe id starting with 'cus_', got 'cus_1\\r\\nX: 1'", charge(customer_id="cus_1\r\nX: 1")),
    # -- text in an HTTP header: order ids and idempotency keys (inputs.py) --
    Case("payment link `order_id='订单-1'`", "order_id must be latin-1 text (letters, digits, punctuation of Western European languages): it is part of the Idempotency-Key header, got '订单-1'", payment_link(order_id="订单-1")),
    Case("payment link `order_id='SO-1\\r\\nBcc: x'`", "order_id holds control characters ('\\n', '\\r'): it is part of the Idempotency-Key header, got 'SO-1\\r\\nBcc: x'", payment_link(order_id="SO-1\r\nBcc: x")),
    Case("invoice `order_id='SO\\t1'`", "order_id holds control characters ('\\t'): it is part of the Idempotency-Key header, got 'SO\\t1'", invoice(order_id="SO\t1")),
    Case("invoice `order_id` of 501 characters", "order_id must be at most 500 characters (it is stored in Stripe metadata)", invoice(order_id="x" * 501)),
    Case("`idempotency_key='k\\r\\nX-Evil: 1'`", "idempotency_key holds control characters ('\\n', '\\r'): it is sent as the Idempotency-Key header, got 'k\\r\\nX-Evil: 1'", charge(idempotency_key="k\r\nX-Evil: 1")),
    Case("`idempotency_key='键-1'`", "idempotency_key must be latin-1 text (letters, digits, punctuation of Western European languages): it is sent as the Idempotency-Key header, got '键-1'", charge(idempotency_key="键-1")),
    Case("`idempotency_key` of 256 characters", "idempotency_key is 256 characters long; Stripe allows at most 255", charge(idempotency_key="k" * 256)),
    # -- metadata --
    Case("`metadata={'note': 'a\\r\\nb'}`", "metadata['note'] holds control characters ('\\n', '\\r'), which Stripe metadata does not take", charge(metadata={"note": "a\r\nb"})),
    Case("`metadata={'note': 'a\\x00b'}`", "metadata['note'] holds control characters ('\\x00'), which Stripe metadata does not take", charge(metadata={"note": "a\x00b"})),
    Case("50 metadata keys on a charge (+ the mark = 51)", "metadata has 50 keys and the operator adds 1 (airflow_action): Stripe allows at most 50 metadata keys on an object; give at most 49", charge(metadata=FIFTY)),
    Case("50 metadata keys on an invoice (+ 3 of ours)", "metadata has 50 keys and the operator adds 3 (airflow_action, airflow_sent, order_id): Stripe allows at most 50 metadata keys on an object; give at most 47", invoice(metadata=FIFTY)),
    Case("a 51st metadata key on a customer holding 50", "has 50 metadata keys and the update adds 1 (tier): Stripe allows at most 50 metadata keys on an object", metadata_update_of_a_full_customer),
    Case("`metadata={'airflow_action': 'x'}`", "metadata key 'airflow_action' is reserved for the provider's marks", charge(metadata={"airflow_action": "x"})),
    Case("a metadata key of 41 characters", "metadata key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk' must be 1–40 characters without square brackets or control characters", charge(metadata={"k" * 41: "v"})),
    Case("a metadata value of 501 characters", "metadata['note'] is longer than Stripe's 500 characters (501)", charge(metadata={"note": "v" * 501})),
    # -- one-line text --
    Case("customer `email='a@example.com\\nBcc: x'`", "email must be one line of text, without control characters ('\\n'): 'a@example.com\\nBcc: x'", customer_update(email="a@example.com\nBcc: x")),
    Case("customer `name='Ada\\x00'`", "name must be one line of text, without control characters ('\\x00'): 'Ada\\x00'", customer_update(name="Ada\x00")),
    Case("payment link `product_name='Seat\\r\\nX'`", "product_name must be one line of text, without control characters ('\\n', '\\r'): 'Seat\\r\\nX'", payment_link(product_name="Seat\r\nX")),
    # -- statement descriptors --
    Case("`statement_descriptor_suffix='<b>SALE</b>'`", "statement_descriptor_suffix must not contain < > (Stripe refuses < > \\ ' \" *): '<b>SALE</b>'", charge(statement_descriptor_suffix="<b>SALE</b>")),
    Case("`statement_descriptor_suffix` holding `'` and `\"`", "statement_descriptor_suffix must not contain \" ' (Stripe refuses < > \\ ' \" *)", charge(statement_descriptor_suffix="Joe's \"deal\"")),
    Case("`statement_descriptor_suffix` of 23 characters", "statement_descriptor_suffix must be at most 22 characters, got 23", charge(statement_descriptor_suffix="x" * 23)),
    Case("`statement_descriptor_suffix='12345'`", "statement_descriptor_suffix must contain at least one letter: '12345'", charge(statement_descriptor_suffix="12345")),
    Case("`statement_descriptor_suffix='CAFÉ'`", "statement_descriptor_suffix must be printable latin letters, digits and punctuation (ASCII): 'CAFÉ'", charge(statement_descriptor_suffix="CAFÉ")),
    # -- mail headers --
    Case("mail `subject='Hi\\r\\nBcc: x@evil.example'`", "subject holds control characters ('\\n', '\\r'), which could forge mail headers", mail(subject="Hi\r\nBcc: x@evil.example")),
    Case("mail `to='ops@example.com\\nBcc: x@evil.example'`", "to holds control characters ('\\n'), which could forge mail headers", mail(to="ops@example.com\nBcc: x@evil.example")),
    Case("mail `from_email='a@example.com\\r\\nBcc: x'`", "from_email holds control characters ('\\n', '\\r'), which could forge mail headers", mail(from_email="a@example.com\r\nBcc: x")),
    Case("mail `to='not an address'`", "to has addresses that are not email addresses: ['not an address']", mail(to="not an address")),
    # -- other arguments checked once rendered --
    Case("a money condition whose rendered `value` is `'²'`", "charge.condition: a money condition compares an integer of minor units (e.g. 100000 for 1,000.00 USD), got '²'", charge(stripe_object={"id": "ch_1", "amount": 5}, condition={"field": "amount", "op": "gt", "value": "{{ '²' }}", "currency": "usd"}), render=True),
    Case("delay `start='²'`", "start must be a unix time, an ISO 8601 moment or a datetime, got '²'", delay(start="²")),
    Case("delay `delay='inf'`", "delay must be a finite number of days, got 'inf'", delay(delay="inf")),
    Case("dunning `window='inf'`", "window must be a finite number of days, got 'inf'", dunning(window="inf")),
    Case("dunning `schedule_start='nan'`", "schedule_start must be unix seconds or an ISO 8601 moment, got 'nan'", dunning(schedule_start="nan")),
    Case("dunning `max_attempts='²'`", "max_attempts must be a positive whole number, got '²'", dunning(max_attempts="²")),
    Case("overdue sensor `days_overdue='²'`", "days_overdue must be a whole number of days ≥ 0, got '²'", overdue_sensor(days_overdue="²")),
    # -- the connection --
    Case("a live key (`sk_live_…`) without `allow_live_mode`", "Stripe connection 'stripe_default' holds a live-mode key; set the extra 'allow_live_mode' to true to use live mode deliberately", charge(), conn=LIVE),
    Case("`allow_live_mode: 'maybe'` with a live key", "Stripe connection 'stripe_default': the extra 'allow_live_mode' must be true or false (yes/no, on/off, 1/0)", charge(), conn={**LIVE, "extra": {"allow_live_mode": "maybe"}}),
    Case("a password that is no Stripe key", "Stripe connection 'stripe_default': the password is not a Stripe secret or restricted key (expected sk_test_…, rk_test_…, or a live key with allow_live_mode)", charge(), conn={"password": "hunter2"}),
]  # fmt: skip


def readme_rows() -> list[tuple[str, str]]:
    """The (input, message) rows of the README's "Bad inputs" table."""
    text = README.read_text()
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = re.match(r"^\| (.+?) \| `(.*)` \|$", line)
        if match and not set(match[1]) <= {"-", "|", " "}:
            rows.append((match[1], match[2]))
    return rows


def table() -> str:
    """The README's table, from :data:`CASES`."""
    lines = ["| input | the task fails at once with |", "|---|---|"]
    lines += [f"| {case.input} | `{case.message}` |" for case in CASES]
    return "\n".join(lines)


def test_the_readme_table_is_this_list():
    assert len(CASES) >= 30
    assert readme_rows() == [(case.input, case.message) for case in CASES], (
        "README's Bad inputs table differs from CASES; print it with python -m tests.reliability.test_bad_inputs"
    )


@pytest.mark.parametrize("case", CASES, ids=[re.sub(r"\W+", "-", c.input).strip("-")[:60] for c in CASES])
def test_a_bad_input_is_refused_before_any_write_and_not_retried(
    case, stripe_server, stripe_client, smtp_connection, make_context, monkeypatch
):
    if case.conn is not None:
        extra = {"api_base": stripe_server.url, "max_requests_per_second": TEST_BUDGET, **case.conn.get("extra", {})}
        monkeypatch.setenv(
            "AIRFLOW_CONN_STRIPE_DEFAULT",
            json.dumps({"conn_type": "stripe", "password": case.conn["password"], "extra": extra}),
        )
    task = case.make(stripe_client)
    writes_before = len(stripe_server.write_requests())

    context = make_context(task_id=task.task_id)
    with pytest.raises(AirflowFailException) as caught:
        if case.render:  # templated arguments are checked once rendered
            task.render_template_fields(context)
        task.pre_execute(context)
        task.execute(context)

    message = str(caught.value)
    assert case.message in message, message
    if task.retry_policy is not None:  # the operators' StripeRetryPolicy; a sensor has none
        assert task.retry_policy.evaluate(caught.value, 1, 4).action != RetryAction.RETRY
    assert stripe_server.write_requests()[writes_before:] == []
    assert smtp_connection.messages == []


if __name__ == "__main__":
    print(table())
