"""A recipe reaches nothing its author could not see: no secrets, no code, no file, no other Stripe account.

Recipe authors do not write Python. Each hole below is written as the recipe a user could write; it
is refused when the recipe is parsed, naming the file, line, step and field, and at run time the
template renders locked down whatever got past the check.
"""

from __future__ import annotations

import json
import os

import jinja2
import pytest
from jinja2.sandbox import SecurityError

from airflow_stripe_automation.recipes import build_dag, load_recipe, recipe_dag
from airflow_stripe_automation.recipes.templates import RecipeTemplate
from tests.recipes.conftest import RECIPES_DIR, shipped_recipes
from tests.recipes.test_recipe_errors import error_of, write_recipe

MAIL = """\
recipe: M1
description: Mail the ops team about an order.
params:
  order_id: {type: string, default: "o_1"}
  team_email: {type: string, default: ops@example.com}
trigger:
  type: external
steps:
  - id: mail_team
    type: send_email
    with:
      stripe_object: "{{ params }}"
      to: "{{ params.team_email }}"
      subject: Order {{ params.order_id }}
      body: "BODY"
"""


def mail_recipe(body: str) -> str:
    """MAIL with ``body`` as the mail's body (a YAML double-quoted string)."""
    return MAIL.replace('"BODY"', '"' + body.replace("\\", "\\\\").replace('"', '\\"') + '"')


# -- templates: refused when the recipe is parsed ------------------------------------------------

BODY_AT = "line 15: steps[0].with.body: "


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "Key: {{ conn.stripe_default.password }}",
            "'conn': a recipe cannot read Airflow's connections, variables, task instance or DAG "
            "(templates read only params, obj, steps.<id>, money, macros, dag_run,",
            id="connection-password",
        ),
        pytest.param("{{ var.value.api_token }}", "'var': a recipe cannot read Airflow's", id="variable"),
        pytest.param("{{ ti.xcom_pull(task_ids='x') }}", "'ti': a recipe cannot read Airflow's", id="task-instance"),
        pytest.param(
            "{{ macros.uuid.os.environ }}",
            "'macros.uuid' is not available in recipe templates (macros holds only datetime, timedelta, ds_add, "
            "ds_format)",
            id="environment",
        ),
        pytest.param("{{ macros.uuid.os.system('id') }}", "'macros.uuid' is not available", id="shell-command"),
        pytest.param("{{ macros['json'] }}", "'macros.json' is not available", id="macros-module-by-key"),
        pytest.param(
            "{{ obj.__class__.__mro__ }}",
            "'__class__' cannot be read in a recipe template: names starting with '_' are Python internals",
            id="dunder-attribute",
        ),
        pytest.param("{{ obj['__class__'] }}", "'__class__' cannot be read", id="dunder-key"),
        pytest.param("{{ steps._context }}", "'_context' cannot be read", id="private-attribute"),
        pytest.param(
            "{{ dag_run.get_task_instance('x') }}",
            "'dag_run.get_task_instance' is not available in recipe templates (dag_run holds only conf,",
            id="dag-run-method",
        ),
        pytest.param(
            "{% include 'airflow.cfg' %}",
            "'{% include %}' cannot be used in a recipe template: it would read other files",
            id="include-a-file",
        ),
        pytest.param(
            "{{ parms.order_id }}",
            "'parms': not a name recipe templates know (templates read only params, obj, steps.<id>, money, "
            "macros, dag_run, data_interval_end, data_interval_start, ds, ds_nodash, logical_date, run_id, ts, "
            "ts_nodash, ts_nodash_with_tz); did you mean 'params'?",
            id="misspelt-name",
        ),
        pytest.param(
            "{{ params.order_id | mony('usd') }}",
            "no filter named 'mony' in recipe templates; did you mean 'money'?",
            id="unknown-filter",
        ),
    ],
)
def test_a_template_reaching_past_the_documented_names_is_refused_when_parsed(tmp_path, body, expected):
    message = error_of(tmp_path, mail_recipe(body))
    assert BODY_AT + expected in message, message


def test_every_refused_name_of_a_field_is_reported_and_the_field_named(tmp_path):
    text = mail_recipe("ok").replace(
        "subject: Order {{ params.order_id }}", 'subject: "{{ var.value.x }} {{ macros.random.random() }}"'
    )
    message = error_of(tmp_path, text)
    assert "line 14: steps[0].with.subject: 'var': a recipe cannot read" in message
    assert "line 14: steps[0].with.subject: 'macros.random' is not available in recipe templates" in message


def test_the_documented_names_still_load(tmp_path):
    body = (
        "Order {{ params.order_id }} ({{ obj.order_id }}), run {{ run_id }} of {{ ds }} "
        "({{ data_interval_start | ds }} to {{ data_interval_end }}, {{ logical_date }}, {{ dag_run.conf.get('x') }}), "
        "{{ 1500 | money('usd') }}, {{ macros.ds_add(ds, 1) }} "
        "{{ macros.datetime.utcfromtimestamp(0).strftime('%Y') }} {{ macros.timedelta(days=1) }} "
        "{% for k, v in dict(obj, extra=1) | dictsort %}{{ loop.index }}{{ k }}{% endfor %} "
        "{{ obj['metadata'] is defined }} {{ namespace(a=1).a }} {{ range(3) | list }}"
    )
    dag = recipe_dag(write_recipe(tmp_path, "mail_ok", mail_recipe(body)))
    assert dag.task_ids == ["mail_team", "run_summary"]


def test_the_shipped_recipes_give_airflow_no_template_text_to_render():
    # Airflow's own Jinja environment sees the task's whole context (conn, var, macros): every
    # recipe template is a RecipeTemplate, rendered locked down, never a template string for it.
    for path in shipped_recipes():
        dag = build_dag(load_recipe(path))
        for task in dag.tasks:
            given = getattr(task, "partial_kwargs", None)  # a mapped task's arguments
            values = [given.get(f) if given is not None else getattr(task, f) for f in task.template_fields]
            values = [v for v in values if v is not None]
            assert not [v for v in _strings(values) if "{{" in v or "{%" in v], (path.name, task.task_id)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


# -- templates: locked down at run time ---------------------------------------------------------

SECRET = "sk_test_secret_key_of_the_connection"


@pytest.fixture
def airflow_context():
    """A task context holding what Airflow's does (a connection, a variable, the macros modules, the task instance)."""
    from types import SimpleNamespace

    import airflow.sdk.execution_time.macros as airflow_macros

    connection = SimpleNamespace(password=SECRET, login="stripe")
    return {
        "conn": SimpleNamespace(stripe_default=connection),
        "var": SimpleNamespace(value=SimpleNamespace(api_token=SECRET)),
        "macros": airflow_macros,
        "ti": SimpleNamespace(xcom_pull=lambda **_: SECRET),
        "task": SimpleNamespace(secret=SECRET),
        "params": {"order_id": "o_1"},
        "dag_run": SimpleNamespace(conf={"x": 1}, run_id="manual__1", get_task_instance=lambda *_: SECRET),
        "run_id": "manual__1",
        "ds": "2026-03-01",
    }


@pytest.mark.parametrize(
    "source",
    [
        "{{ conn.stripe_default.password }}",
        "{{ var.value.api_token }}",
        "{{ ti.xcom_pull(task_ids='x') }}",
        "{{ task.secret }}",
        "{{ macros.uuid.os.environ }}",
        "text {{ macros.uuid.os.system('echo hacked') }}",
        "{{ steps._context.conn.stripe_default.password }}",
        "{{ dag_run.get_task_instance('x') }}",
    ],
)
def test_a_template_reaching_a_blocked_name_renders_nothing_secret(airflow_context, source, capfd):
    with pytest.raises((jinja2.UndefinedError, SecurityError)) as caught:
        RecipeTemplate(source, typed="text" not in source).resolve(airflow_context)  # a value, or text
    assert SECRET not in str(caught.value)
    assert "hacked" not in capfd.readouterr().out


@pytest.mark.parametrize(
    "source",
    [
        # Past the parse-time check (through a variable, or a computed key), stopped by the sandbox.
        "{% set m = macros %}{{ m.uuid is defined }}",
        "{% set d = dag_run %}{{ d.get_task_instance is defined }}",
        "{% set k = '__cla' ~ 'ss__' %}{{ obj[k] is defined }}",
        "{{ params.update is defined }}",
    ],
)
def test_what_gets_past_the_check_is_stopped_by_the_sandbox(airflow_context, source):
    assert RecipeTemplate(source, typed=False).resolve({**airflow_context, "obj": {"id": "o_1"}}) == "False"


def test_a_locked_down_template_still_reads_params_the_run_and_earlier_steps(airflow_context):
    template = RecipeTemplate(
        "{{ params.order_id }} {{ run_id }} {{ ds }} {{ dag_run.conf.x }} {{ macros.ds_add(ds, 1) }} "
        "{{ obj.amount | money(obj.currency) }}",
        typed=False,
    )
    context = {**airflow_context, "obj": {"amount": 150000, "currency": "usd"}}
    assert template.resolve(context) == "o_1 manual__1 2026-03-01 1 2026-03-02 $1,500.00"
    assert RecipeTemplate("{{ params }}").resolve(context) == {"order_id": "o_1"}


def test_a_recipe_mail_holds_no_key_whatever_its_template_reaches_for(
    tmp_path, stripe_connection, smtp_connection, make_context
):
    from airflow.sdk.execution_time.context import ConnectionAccessor, MacrosAccessor, VariableAccessor

    api_key = json.loads(os.environ["AIRFLOW_CONN_STRIPE_DEFAULT"])["password"]
    body = (
        "Order {{ params.order_id }} in {{ macros.datetime.utcfromtimestamp(0).strftime('%Y') }}. "
        "{% set m = macros %}uuid: {{ m.uuid is defined }}. "
        "{% set d = dag_run %}ti: {{ d.get_task_instance is defined }}. "
        "{% set k = '__cla' ~ 'ss__' %}class: {{ obj[k] is defined }}."
    )
    dag = recipe_dag(write_recipe(tmp_path, "mail_run", mail_recipe(body)))
    task = dag.get_task("mail_team")
    # The context Airflow's task runner gives a task: its accessors read the real connection.
    context = {
        **make_context(dag_id=dag.dag_id, task_id=task.task_id),
        "conn": ConnectionAccessor(),
        "var": {"value": VariableAccessor(deserialize_json=False)},
        "macros": MacrosAccessor(),
        "task": task,
        "params": {"order_id": "o_42", "team_email": "ops@example.com"},
        "ds": "2026-03-01",
    }
    airflow_env = dag.get_template_env()
    assert airflow_env.from_string("{{ conn.stripe_default.password }}").render(**context) == api_key

    task.render_template_fields(context)
    task.execute(context)

    (mail,) = smtp_connection.messages
    assert "Order o_42 in 1970. uuid: False. ti: False. class: False." in mail.body
    assert api_key not in mail.body and api_key not in mail.subject


# -- YAML: aliases that expand without bound ----------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    """A 'billion laughs' recipe: each level lists the one before nine times (9**9 values from ~350 bytes)."""
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    names = "abcdefghijklmnopqrstuvwxyz"
    for before, name in zip(names[: levels - 1], names[1:levels], strict=True):
        text += f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]\n"
    return text


def test_an_alias_bomb_is_refused_without_being_expanded(tmp_path, monkeypatch):
    from airflow_stripe_automation.recipes import loader

    read = []  # every node the loader looks into: what the file holds, not what it expands to
    children = loader._children
    monkeypatch.setattr(loader, "_children", lambda node: read.append(node) or children(node))

    def expanded(*args, **kwargs):
        raise AssertionError("the recipe was walked with its aliases copied in")

    monkeypatch.setattr(loader, "_index_lines", expanded)
    monkeypatch.setattr(loader._RecipeYamlLoader, "construct_document", expanded)
    text = alias_bomb()
    assert len(text.encode()) < 1000

    message = error_of(tmp_path, text)

    assert (
        "line 5: (recipe): the aliases (*name) here expand to more than 10000 values; a recipe is far "
        "smaller, so it is refused without being expanded (an alias bomb?)" in message
    )
    assert len(read) < 100


GOOD_ALIASES = """\
recipe: R1
params:
  customer_id: {type: string}
trigger:
  type: external
steps:
  - id: charge
    type: charge
    with: &outer
      stripe_object: "{{ params }}"
      customer_id: "{{ params.customer_id }}"
      amount: 100
      currency: usd
      condition: &open {field: status, op: eq, value: open}
  - id: charge_again
    type: charge
    with:
      stripe_object: "{{ params }}"
      customer_id: "{{ params.customer_id }}"
      amount: 100
      currency: usd
      condition: {not: *open}
"""


def test_a_recipe_holding_itself_is_refused(tmp_path):
    message = error_of(
        tmp_path,
        GOOD_ALIASES.replace("condition: &open {field: status, op: eq, value: open}", "condition: &open {not: *outer}"),
    )
    assert "line 14: (recipe): the list or mapping anchored here holds an alias (*name) to itself" in message


def test_recipes_may_still_use_a_few_aliases(tmp_path):
    # R4 and R5 name a condition once (&still_open) and use it again (*still_open).
    assert "*still_open" in (RECIPES_DIR / "annual_dunning.yaml").read_text()
    dag = recipe_dag(write_recipe(tmp_path, "aliases", GOOD_ALIASES))
    assert dag.get_task("charge_again").condition == {"not": {"field": "status", "op": "eq", "value": "open"}}


# -- connections and idempotency keys: the deployment's, not a recipe's -------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param(
            "stripe_conn_id: stripe_live",
            "line 13: steps[0].with.stripe_conn_id: 'stripe_conn_id' cannot be set in a recipe: the Stripe "
            "connection is the deployment's, not a recipe's: a recipe's trigger and steps use stripe_default",
            id="stripe-connection",
        ),
        pytest.param(
            'stripe_conn_id: "{{ params.account }}"',
            "steps[0].with.stripe_conn_id: 'stripe_conn_id' cannot be set in a recipe",
            id="stripe-connection-from-a-param",
        ),
        pytest.param(
            'idempotency_key: "order-{{ params.order_id }}"',
            "line 13: steps[0].with.idempotency_key: 'idempotency_key' cannot be set in a recipe: idempotency "
            "keys are derived from the DAG, the step and the object, so that a replay acts on nothing twice",
            id="idempotency-key",
        ),
    ],
)
def test_a_step_cannot_choose_its_stripe_connection_or_idempotency_key(tmp_path, field, expected):
    text = GOOD_ALIASES.replace("      amount: 100\n", f"      amount: 100\n      {field}\n", 1)
    assert expected in error_of(tmp_path, text)


def test_a_trigger_cannot_choose_its_stripe_connection(tmp_path):
    text = (RECIPES_DIR / "personalize_orders.yaml").read_text()
    text = text.replace("    wait_for_match: false\n", "    wait_for_match: false\n    stripe_conn_id: stripe_live\n")
    assert "trigger.with.stripe_conn_id: 'stripe_conn_id' cannot be set in a recipe" in error_of(tmp_path, text)


# -- an API key pasted into a recipe never shows in its errors ----------------------------------

KEY = "sk_live_51HxYzAbCdEfGhIjKlMnOpQrStUv"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "    type: charge\n",
            f"    type: {KEY}\n",
            "line 8: steps[0].type: 'sk_live_***' is not one of charge,",
            id="a-value-echoed",
        ),
        pytest.param(
            "      amount: 100\n",
            f"      amount: 100\n      {KEY}: 1\n",
            "line 13: steps[0].with.sk_live_***: unknown field 'sk_live_***' for StripeOneTimeChargeOperator",
            id="a-field-name",
        ),
        pytest.param(
            "{field: status, op: eq, value: open}",
            "{field: status, op: rk_test_51HxYzAbCdEfGh, value: open}",
            "line 14: steps[0].with.condition: unknown op 'rk_test_***'; use one of",
            id="a-restricted-key-in-a-condition",
        ),
    ],
)
def test_a_stripe_key_in_a_step_field_is_masked_in_the_error(tmp_path, old, new, expected):
    assert old in GOOD_ALIASES
    message = error_of(tmp_path, GOOD_ALIASES.replace(old, new, 1))
    assert expected in message, message
    assert "51HxYzAbCdEf" not in message
