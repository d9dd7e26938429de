"""The Stripe key is nowhere but in the connection: not in a log, an XCom, a rendered field, an error, a mail, a doc or a repr.

One test per place. The key is the connection's password, read by the hook only; each test does what
puts text in that place (a charge, a refused charge, a 429 resent, a mail, a deferral, a broken
recipe) and looks for the key there. What recipe templates may read is tested in
``tests/recipes/test_recipe_sandbox.py`` (``conn``, ``var``, ``macros`` modules, ``_``-names refused
when parsed, and stopped when rendered); the hostile templates here are the ones that check missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_stripe_automation.hooks.stripe import StripeHook, parse_connection
from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator
from tests.conftest import TEST_BUDGET
from tests.recipes.test_recipe_errors import GOOD, error_of, write_recipe
from tests.recipes.test_recipe_sandbox import mail_recipe

#: The live key the refused-key tests use: the local server refuses live keys, as a test-mode server should.
LIVE_KEY = "sk_live_51LiveSecretNeverToBeSeen_abcd"


@pytest.fixture
def api_key(stripe_connection) -> str:
    """The key of ``stripe_default`` (the local server's test key)."""
    return json.loads(os.environ["AIRFLOW_CONN_STRIPE_DEFAULT"])["password"]


def hidden(key: str, *texts: object) -> bool:
    """Whether no text holds the key, nor its secret part (the key without its ``sk_test_`` prefix)."""
    secret = key.split("_", 2)[2]
    return all(key not in str(t) and secret not in str(t) for t in texts)


def charge(customer: str, **kwargs) -> StripeOneTimeChargeOperator:
    return StripeOneTimeChargeOperator(task_id="charge", customer_id=customer, amount=1500, currency="usd", **kwargs)


def test_no_log_line_holds_the_key_at_debug_even_when_a_429_is_resent(
    api_key, stripe_server, customer_with_card, make_context, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    stripe_server.fail_next(429, path="/v1/payment_intents", method="POST")

    result = charge(customer_with_card.id).execute(make_context())

    assert result["status"] == "succeeded"
    assert "Stripe rate limit (429)" in caplog.text  # the resend was logged
    out, err = capfd.readouterr()
    assert hidden(api_key, caplog.text, out, err)


def test_no_xcom_holds_the_key(api_key, stripe_server, customer_with_card, make_context):
    context = make_context()
    task = charge(customer_with_card.id)

    result = task.execute(context)

    assert hidden(api_key, json.dumps(result), json.dumps(context["ti"].pushed, default=str))


def test_no_rendered_template_field_holds_the_key_and_airflow_redacts_it_where_a_dag_put_it(
    api_key, stripe_server, customer_with_card, make_context
):
    from airflow.sdk._shared.secrets_masker import redact  # what the task runner redacts rendered fields with
    from airflow.sdk.execution_time.context import ConnectionAccessor

    task = charge(
        "{{ params.customer }}",
        description="Lead {{ run_id }}",
        metadata={"run": "{{ run_id }}"},
        stripe_conn_id="{{ params.conn }}",
    )
    context = {
        **make_context(),
        "params": {"customer": customer_with_card.id, "conn": "stripe_default"},
        "conn": ConnectionAccessor(),
    }
    task.render_template_fields(context)
    task.execute(context)

    assert hidden(api_key, *(repr(getattr(task, name)) for name in task.template_fields))
    # A Python DAG may template the key itself; once the hook read the connection, the masker knows it,
    # and Airflow redacts rendered fields with it before storing them.
    assert hidden(api_key, redact(f"description: {api_key}"))


def test_no_exception_message_holds_the_key_when_stripe_refuses_it(stripe_server, make_context, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_STRIPE_DEFAULT",
        json.dumps(
            {
                "conn_type": "stripe",
                "password": LIVE_KEY,
                "extra": {
                    "api_base": stripe_server.url,
                    "allow_live_mode": True,
                    "max_requests_per_second": TEST_BUDGET,
                },
            }
        ),
    )
    with pytest.raises(AirflowFailException) as caught:
        charge("cus_123", payment_method="pm_card_visa").execute(make_context())

    assert "authentication failed" in str(caught.value)
    assert hidden(LIVE_KEY, str(caught.value), repr(caught.value), caught.value.__cause__)


@pytest.mark.parametrize(
    ("password", "extra"),
    [
        (LIVE_KEY, {}),
        (LIVE_KEY, {"allow_live_mode": "maybe"}),
        ("sk_test_has a space", {}),
        ("sk_test_51Good", {"api_base": "ftp://sk_test_51Good@example.com"}),
    ],
    ids=["live-key", "unreadable-switch", "malformed-key", "key-in-api-base"],
)
def test_no_connection_error_holds_the_key(password, extra):
    from airflow_stripe_automation.hooks.stripe import StripeConnectionError

    with pytest.raises(StripeConnectionError) as caught:
        parse_connection("stripe_default", password, extra)
    assert hidden(password, str(caught.value)), str(caught.value)


def test_no_mail_holds_the_key(api_key, stripe_server, stripe_client, smtp_connection, make_context):
    from airflow_stripe_automation.operators.email import StripeSendEmailOperator

    customer = stripe_client.v1.customers.create(params={"email": "c@example.com"}).to_dict()
    task = StripeSendEmailOperator(
        task_id="mail", to="ops@example.com", subject="About {{ obj.id }}", body="{{ obj }}", stripe_object=customer
    )
    context = make_context()
    task.render_template_fields(context)
    task.execute(context)

    (mail,) = smtp_connection.messages
    assert customer["id"] in mail.body
    assert hidden(api_key, mail.body, mail.subject, str(mail))


def test_no_repr_of_ours_holds_the_key(api_key, stripe_server, customer_with_card, make_context):
    from airflow_stripe_automation.operators.email import StripeSendEmailOperator
    from airflow_stripe_automation.operators.refunds import StripeRefundOperator

    hook = StripeHook()
    hook.get_conn()  # the settings, the client and its HTTP client built
    task = charge(customer_with_card.id)
    task.execute(make_context())  # the task's own hook, used
    others = [
        StripeRefundOperator(task_id="refund", charge_id="ch_1"),
        StripeSendEmailOperator(task_id="mail", to="a@example.com", subject="s"),
    ]
    reprs = [
        repr(hook),
        str(hook),
        repr(hook.settings),
        str(hook.settings),
        repr(hook.http_client),
        repr(vars(hook)),
        repr(task),
        repr(task.hook),
        repr(vars(task.hook)),
        *map(repr, others),
    ]
    assert hidden(api_key, *reprs), [r for r in reprs if not hidden(api_key, r)]


def test_no_trigger_repr_or_serialized_kwargs_hold_the_key(api_key, stripe_server):
    from airflow_stripe_automation.finders import CustomerCreatedFinder
    from airflow_stripe_automation.triggers.objects import StripeObjectsTrigger
    from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

    objects = StripeObjectsTrigger(
        finder=CustomerCreatedFinder().to_dict(), window_start=0, window_end=2_000_000_000, wait_for_match=False
    )
    asyncio.run(objects.run().asend(None))  # ran once: its hook read the connection
    wait = WaitUntilTrigger(moment=0)
    texts = [repr(objects), repr(vars(objects)), json.dumps(objects.serialize(), default=str)]
    texts += [repr(wait), json.dumps(wait.serialize(), default=str)]
    assert hidden(api_key, *texts)


# -- recipes: their errors and their DAG's docs -------------------------------------------------

KEY = "sk_live_51HxYzAbCdEfGhIjKlMnOp_QrStUv"


def test_no_recipe_error_holds_a_key_pasted_into_it_even_where_the_yaml_breaks(tmp_path):
    broken_yaml = GOOD.replace("      currency: usd\n", f"      currency: usd\n      description: [{KEY}\n")
    pasted = GOOD.replace("      currency: usd\n", f"      currency: usd\n      metadata: {{note: {KEY}}}\n")
    assert hidden(KEY, error_of(tmp_path, broken_yaml))
    message = error_of(tmp_path, pasted)
    assert "steps[0].with.metadata.note: this holds a Stripe secret key (masked here)" in message, message
    assert hidden(KEY, message), message


def test_no_recipe_dag_doc_holds_a_key_pasted_into_a_comment(tmp_path):
    from airflow_stripe_automation.recipes import recipe_dag

    dag = recipe_dag(write_recipe(tmp_path, "lead_fee", f"# the key, for later: {KEY}\n{GOOD}"))

    assert "# the key, for later: sk_live_***" in dag.doc_md
    assert hidden(KEY, dag.doc_md, dag.description)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "{{ (money|attr('__glob' ~ 'als__'))['os'].environ }}",
            "the 'attr' filter cannot be used in a recipe template",
            id="attr-filter-to-the-environment",
        ),
        pytest.param(
            "{{ '{0.__globals__[os].environ}'.format(money) }}",
            "'.format()' cannot be used in a recipe template",
            id="str-format-to-the-environment",
        ),
        pytest.param(
            "{% set f = '{0.__init__.__globals__}' %}{{ f.format(cycler) }}",
            "'.format()' cannot be used in a recipe template",
            id="str-format-through-a-variable",
        ),
    ],
)
def test_a_hostile_recipe_reaching_the_environment_is_refused_when_parsed(tmp_path, api_key, body, expected):
    message = error_of(tmp_path, mail_recipe(body))
    assert "steps[0].with.body: " + expected in message, message
    assert hidden(api_key, message)


def test_a_dag_run_leaves_the_key_in_no_task_log_xcom_or_stored_rendered_field(
    airflow_db, api_key, stripe_server, customer_with_card, xcoms, capfd, caplog
):
    """
    R1's example DAG run by ``dag.test()``: its task logs, its XComs and the rendered fields Airflow stored.

    ``dag.test()`` runs the tasks in this process and writes their logs to the console and the logging
    handlers (no log files): both are captured, at DEBUG. The same run in a subprocess, as a user runs it, is
    ``tests/system/test_r1_pay_per_lead.py`` (slow tier).
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    from tests.conftest import REPO, run

    caplog.set_level(logging.DEBUG)
    bag = DagBag(dag_folder=str(REPO / "example_dags" / "stripe_pay_per_lead.py"))
    dag_run, tis = run(bag.dags["stripe_pay_per_lead"], {"customer_id": customer_with_card.id, "amount": 4200})

    assert dag_run.state == "success"
    stored = xcoms(dag_run)
    with create_session() as session:
        rendered = [
            r.rendered_fields
            for r in session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id)
        ]
    assert rendered and stored
    out, err = capfd.readouterr()
    assert hidden(api_key, caplog.text, out, err, repr(stored), json.dumps(rendered, default=str))
