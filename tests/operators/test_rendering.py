"""Template rendering: ``stripe_object`` first, offered to the other templates as ``obj``; literal conditions stay data."""

from __future__ import annotations

from types import SimpleNamespace

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_stripe_automation.operators.branch import StripeConditionBranchOperator, StripeContinueIfOperator
from airflow_stripe_automation.operators.customers import StripeUpdateCustomerMetadataOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.rendered import holds_template

PAYMENT = {
    "id": "pi_123",
    "object": "payment_intent",
    "amount": 150000,
    "currency": "usd",
    "customer": "cus_123",
    # Data from Stripe: never rendered, even when it looks like a template.
    "description": "{{ 7 * 7 }}",
}


def _dag(native: bool = True) -> DAG:
    return DAG(
        "rendering", schedule=None, start_date=pendulum.datetime(2026, 1, 1), render_template_as_native_obj=native
    )


def _context(**params):
    return {"params": params, "ds": "2026-01-01"}


class _ObjectLast(StripeUpdateCustomerMetadataOperator):
    """The same operator with ``stripe_object`` rendered last in Airflow's order."""

    template_fields = ("customer_id", "metadata", "idempotency_key", "condition", "stripe_object")


@pytest.mark.parametrize("cls", [StripeUpdateCustomerMetadataOperator, _ObjectLast])
@pytest.mark.parametrize("native", [True, False], ids=["native", "text"])
def test_stripe_object_renders_first_and_the_other_fields_read_it_as_obj(cls, native):
    with _dag(native):
        op = cls(
            task_id="tag",
            # a template, or what an XComArg is to Airflow: something it resolves
            stripe_object="{{ params.payment }}" if native else SimpleNamespace(resolve=lambda context: PAYMENT),
            customer_id="{{ obj.customer }}",
            metadata={"paid": "{{ obj.amount | money(obj.currency) }}", "as_global": "{{ money(obj.amount, 'jpy') }}"},
        )
    op.render_template_fields(_context(payment=PAYMENT))

    assert op.stripe_object == PAYMENT  # its own "{{ 7 * 7 }}" left as it is
    assert op.customer_id == "cus_123"
    assert op.metadata == {"paid": "$1,500.00", "as_global": "¥150,000"}


def test_obj_is_an_empty_mapping_without_a_stripe_object():
    with _dag(native=False):
        op = StripeUpdateCustomerMetadataOperator(
            task_id="tag", customer_id="cus_1", metadata={"seen": "[{{ obj.get('id', '') }}]"}
        )
    op.render_template_fields(_context())
    assert op.metadata == {"seen": "[]"}


def test_a_literal_condition_is_data_and_a_templated_one_is_rendered():
    not_empty = {"field": "callback_url", "op": "ne", "value": ""}
    templated = {"field": "amount", "op": "gt", "value": "{{ params.min_amount }}", "currency": "usd"}
    with _dag(native=True):
        literal_op = StripeContinueIfOperator(task_id="literal", stripe_object="{{ params }}", condition=not_empty)
        templated_op = StripeContinueIfOperator(task_id="templated", stripe_object=PAYMENT, condition=templated)
    literal_op.render_template_fields(_context(callback_url=""))
    templated_op.render_template_fields(_context(min_amount=100000))

    assert literal_op.condition == not_empty  # rendered natively, "" would have become None
    assert literal_op.stripe_object == {"callback_url": ""}
    assert templated_op.condition["value"] == 100000


def test_literal_branches_are_data_too():
    branches = [{"when": {"field": "note", "op": "eq", "value": ""}, "then": "empty"}]
    with _dag(native=True):
        op = StripeConditionBranchOperator(task_id="branch", stripe_object="{{ params }}", branches=branches)
    op.render_template_fields(_context(note=""))
    assert op.branches == branches and op.stripe_object == {"note": ""}


def test_a_mapped_task_offers_its_object_as_obj():
    """A mapped operator renders the unmapped task's fields without its render_template_fields: obj still works."""
    with _dag(native=False) as dag:
        mapped = StripeSendEmailOperator.partial(
            task_id="mail",
            to="{{ obj.customer }}@example.com",
            subject="{{ obj.id }}: {{ obj.amount | money(obj.currency) }}",
        ).expand(stripe_object=[PAYMENT, {**PAYMENT, "id": "pi_456", "amount": 500, "currency": "jpy"}])
    subjects = []
    for map_index in (0, 1):
        ti = SimpleNamespace(map_index=map_index, task=mapped)
        context = {**_context(), "ti": ti, "dag": dag, "dag_run": SimpleNamespace(conf={}), "task": mapped}
        context["params"] = dag.params
        mapped.render_template_fields(context)
        subjects.append((ti.task.subject, ti.task.to))
    assert subjects == [("pi_123: $1,500.00", "cus_123@example.com"), ("pi_456: ¥500", "cus_123@example.com")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"field": "amount", "op": "gt", "value": 1}, False),
        ({"all": [{"field": "a", "op": "eq", "value": ""}, {"field": "b", "op": "eq", "value": "{{ x }}"}]}, True),
        ("{% if x %}y{% endif %}", True),
        ("plain text with { braces }", False),
        (SimpleNamespace(resolve=lambda context: 1), True),  # an XComArg, a recipe template
        (None, False),
    ],
)
def test_holds_template(value, expected):
    assert holds_template(value) is expected


def test_an_operator_that_acts_on_one_object_at_a_time_refuses_a_batch_with_a_clear_error(make_context):
    from airflow_stripe_automation.errors import StripeInputError
    from airflow_stripe_automation.operators.base import StripeBaseOperator

    class OneAtATime(StripeBaseOperator):
        batchable = False

    task = OneAtATime(task_id="one", stripe_object=[{"id": "in_1"}, {"id": "in_2"}])
    with pytest.raises(StripeInputError, match="acts on one object at a time .* a batch of 2"):
        task.render_template_fields(make_context())
