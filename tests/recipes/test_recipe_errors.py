"""Each kind of mistake in a recipe file -> one clear message naming the file, the line, the field and the fix."""

from __future__ import annotations

import textwrap

import pytest

from airflow_stripe_automation.recipes import RecipeError, recipe_dag

GOOD = """\
recipe: R1
description: A lead fee.
params:
  customer_id: {type: string}
  amount: 2500
trigger:
  type: external
steps:
  - id: charge_lead
    name: Stripe one-time charge
    type: charge
    with:
      customer_id: "{{ params.customer_id }}"
      amount: "{{ params.amount }}"
      currency: usd
"""


def write_recipe(folder, stem: str, text: str):
    """Write ``<stem>.yaml`` and its entry file; return the entry file."""
    (folder / f"{stem}.yaml").write_text(textwrap.dedent(text))
    entry = folder / f"{stem}.py"
    entry.write_text("from airflow_stripe_automation.recipes import recipe_dag\n\ndag = recipe_dag(__file__)\n")
    return entry


def steps(text: str) -> str:
    """More steps for GOOD's list, written from column 0."""
    return textwrap.indent(textwrap.dedent(text), "  ")


def error_of(folder, text: str, stem: str = "broken") -> str:
    with pytest.raises(RecipeError) as caught:
        recipe_dag(write_recipe(folder, stem, text))
    message = str(caught.value)
    assert message.startswith(str(folder / f"{stem}.yaml")), message
    return message


def test_a_good_recipe_builds(tmp_path):
    dag = recipe_dag(write_recipe(tmp_path, "lead_fee", GOOD))
    assert dag.dag_id == "recipe_lead_fee"
    assert dag.params["amount"] == 2500


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ("description:", "descripton:"),
            "line 2: descripton: unknown field 'descripton'; did you mean 'description'?",
            id="unknown-top-level-field",
        ),
        pytest.param(
            ("trigger:\n  type: external\n", ""), "(recipe): missing required field 'trigger'", id="missing-trigger"
        ),
        pytest.param(
            ("type: external", "type: payment_succeded"),
            "line 7: trigger.type: 'payment_succeded' is not one of external, payment_succeeded",
            id="unknown-trigger-type",
        ),
        pytest.param(
            ("type: charge", "type: chrge"),
            "line 11: steps[0].type: 'chrge' is not one of charge",
            id="unknown-step-type",
        ),
        pytest.param(
            ("  - id: charge_lead\n    name", "  - name"),
            "line 9: steps[0]: missing required field 'id'",
            id="step-without-id",
        ),
        pytest.param(
            ("id: charge_lead", "id: charge-lead"),
            "line 9: steps[0].id: 'charge-lead' must start with a letter and hold only letters, digits and '_'",
            id="bad-step-id",
        ),
        pytest.param(
            ("description: A lead fee.", "catchup: yes"),
            "line 2: catchup: must be a boolean, got a string 'yes'",
            id="yaml-1.1-boolean-is-text",
        ),
        pytest.param(
            ("description: A lead fee.", "schedule: every day"),
            "line 2: schedule: 'every day' must be null, a cron preset such as '@daily', or a cron expression",
            id="bad-schedule",
        ),
        pytest.param(
            ("  type: external\n", "  type: external\n  with: {since: x}\n"),
            "line 8: trigger.with: not allowed here for an external trigger",
            id="with-on-external-trigger",
        ),
        pytest.param(("steps:\n", "steps: []\nx_steps:\n"), "steps: must not be empty", id="no-steps"),
    ],
)
def test_schema_mistakes_name_the_file_line_and_field(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    message = error_of(tmp_path, GOOD.replace(old, new, 1))
    assert expected in message


def test_the_class_arguments_are_checked_with_suggestions(tmp_path):
    message = error_of(tmp_path, GOOD.replace("      amount:", "      amout:"))
    assert (
        "line 14: steps[0].with.amout: unknown field 'amout' for StripeOneTimeChargeOperator; did you mean "
        "'amount'?" in message
    )
    assert "line 12: steps[0].with: missing required field 'amount' for StripeOneTimeChargeOperator" in message


def test_a_template_in_a_field_the_operator_does_not_render_is_refused(tmp_path):
    text = GOOD.replace("      currency: usd", '      currency: usd\n      dry_run: "{{ params.dry }}"')
    message = error_of(tmp_path, text)
    assert "steps[0].with.dry_run: StripeOneTimeChargeOperator does not render templates in this field" in message


def test_obj_needs_an_object_to_act_on_and_steps_must_run_before(tmp_path):
    text = GOOD.replace('"{{ params.customer_id }}"', '"{{ obj.customer }}"').replace(
        'amount: "{{ params.amount }}"', 'amount: "{{ steps.later.amount }}"'
    )
    message = error_of(tmp_path, text)
    assert (
        "steps[0].with.customer_id: 'obj' is the object the step acts on, and an external trigger matches "
        "none: give the step a stripe_object" in message
    )
    assert "steps[0].with.amount: 'steps.later' is not a step that has run before this one" in message
    with_object = GOOD.replace('"{{ params.customer_id }}"', '"{{ obj.customer }}"').replace(
        "      currency: usd", '      currency: usd\n      stripe_object: "{{ params }}"'
    )
    assert recipe_dag(write_recipe(tmp_path, "own_object", with_object)).task_ids == ["charge_lead", "run_summary"]


def test_object_the_old_name_of_obj_is_refused_with_the_new_one(tmp_path):
    message = error_of(tmp_path, SENSOR.replace("{{ obj.amount | money(obj.currency) }}", "{{ object.amount }}"))
    assert (
        "steps[0].with.subject: 'object' is no longer a name in templates: use obj, the object the step acts on "
        "(e.g. '{{ obj.customer }}'); in a step acting on another object, the trigger's is "
        "steps.payment_succeeded" in message
    )


def test_a_broken_template_is_reported_with_jinja_s_reason(tmp_path):
    message = error_of(tmp_path, GOOD.replace('"{{ params.customer_id }}"', '"{{ params.customer_id }"'))
    assert "line 13: steps[0].with.customer_id: not a valid template: unexpected '}'" in message


def test_duplicate_step_ids_and_after_naming_no_earlier_step(tmp_path):
    text = GOOD + steps("""\
      - id: charge_lead
        type: charge
        with: {customer_id: "{{ params.customer_id }}", amount: 1}
      - id: tag
        type: update_customer_metadata
        after: [charge_lead, tag_later]
        with: {customer_id: "{{ params.customer_id }}", metadata: {tier: VIP}}
    """)
    message = error_of(tmp_path, text)
    assert "line 16: steps[1].id: step id 'charge_lead' is already used (at line 9)" in message
    assert "line 21: steps[2].after[1]: 'tag_later' is not an earlier step" in message


def test_steps_reads_only_the_steps_that_ran_before(tmp_path):
    """A step that starts with its list (after: []) cannot read a sibling's result: it may not exist yet."""
    text = GOOD + steps("""\
      - id: tag
        type: update_customer_metadata
        after: []
        with: {customer_id: "{{ steps.charge_lead.customer }}", metadata: {tier: VIP}}
    """)
    assert "steps[1].with.customer_id: 'steps.charge_lead' is not a step that has run before this one" in error_of(
        tmp_path, text
    )
    ok = GOOD + steps("""\
      - id: tag
        type: update_customer_metadata
        with: {customer_id: "{{ steps.charge_lead.customer }}", metadata: {tier: VIP}}
    """)
    recipe_dag(write_recipe(tmp_path, "ok", ok))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param(
            "{field: amount, op: gtt, value: 1}", "steps[1].if.op: 'gtt' is not one of eq, ne, gt", id="unknown-op"
        ),
        pytest.param(
            "{field: amount, op: gt, value: 10.5, currency: usd}",
            "steps[1].if: a money condition compares an integer of minor units",
            id="money-value-not-minor-units",
        ),
        pytest.param(
            "{all: [{field: amount, op: gt, value: 1}, {field: amount, op: in, value: 3}]}",
            "steps[1].if.all[1]: op 'in' needs a list value",
            id="nested-part-at-fault",
        ),
        pytest.param(
            "{field: amount, op: gt, value: 1, currency: usdx}",
            "steps[1].if.currency: 'usdx' must be a three-letter currency code",
            id="bad-currency",
        ),
        pytest.param(
            "{field: amount, op: gt, value: '{{ params.amount }}', currency: '{{ params.currency }}', x: 1}",
            "steps[1].if.x: unknown field 'x'",
            id="templated-values-structure-still-checked",
        ),
    ],
)
def test_condition_mistakes_point_at_the_part_at_fault(tmp_path, condition, expected):
    text = GOOD + steps(f"""\
      - id: check
        type: continue_if
        object: "{{{{ steps.charge_lead }}}}"
        if: {condition}
    """)
    assert expected in error_of(tmp_path, text)


def test_a_step_s_own_condition_is_checked_too(tmp_path):
    text = GOOD.replace(
        "      currency: usd", "      currency: usd\n      condition: {field: amount, op: in, value: 3}"
    )
    assert "line 16: steps[0].with.condition: op 'in' needs a list value" in error_of(tmp_path, text)


def test_continue_if_needs_if_and_takes_no_with(tmp_path):
    text = GOOD + "  - id: check\n    type: continue_if\n    with: {x: 1}\n"
    message = error_of(tmp_path, text)
    assert "steps[1]: missing required field 'if'" in message
    assert "steps[1].with: not allowed here for continue_if (it takes object and if)" in message


def test_continue_if_after_an_external_trigger_names_what_it_tests(tmp_path):
    text = GOOD + "  - id: check\n    type: continue_if\n    if: {field: amount, op: gt, value: 1}\n"
    assert "steps[1]: continue_if in a recipe with an external trigger needs 'object'" in error_of(tmp_path, text)


def test_an_action_takes_no_if(tmp_path):
    message = error_of(tmp_path, GOOD.replace("    type: charge\n", "    type: charge\n    if: {field: a, value: 1}\n"))
    assert "steps[0].if: not allowed here for this step type (object and if belong to continue_if" in message


def test_param_defaults_of_a_scheduled_recipe_must_fit_their_own_rules(tmp_path):
    invalid_default = GOOD.replace("amount: 2500", "amount: {default: 0, type: integer, minimum: 1}")
    message = error_of(tmp_path, invalid_default.replace("description: A lead fee.", "schedule: '@daily'"))
    assert "line 5: params.amount: the default does not fit the param's own rules" in message
    # Triggered runs get their conf: an invalid default makes the run give the value (Airflow's rule too).
    assert recipe_dag(write_recipe(tmp_path, "ok", invalid_default)).params.get_param("amount").value == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "", "(recipe): a recipe is a mapping of fields (trigger, steps, …); the file is empty", id="empty-file"
        ),
        pytest.param(
            "- just\n- a list\n",
            "a recipe is a mapping of fields (trigger, steps, …); the file is a list",
            id="not-a-mapping",
        ),
        pytest.param(
            GOOD.replace("  type: external", "  type: external\n type: x"),
            "line 8: (recipe): not valid YAML",
            id="bad-indentation",
        ),
        pytest.param(
            GOOD.replace("recipe: R1\n", "recipe: R1\nrecipe: R2\n"),
            "line 2: recipe: this field appears twice; YAML would silently keep only the last",
            id="duplicate-key",
        ),
        pytest.param(
            GOOD.replace("recipe: R1\n", "recipe: R1\n? [a, b]\n: 1\n? {c: d}\n: 2\n"),
            "line 2: (recipe): not valid YAML: while constructing a mapping found unhashable key",
            id="list-and-mapping-keys",
        ),
        pytest.param(
            GOOD.replace("recipe: R1", "recipe: !!python/object:os.system x"),
            "not valid YAML",
            id="python-tags-are-refused",
        ),
    ],
)
def test_yaml_mistakes(tmp_path, text, expected):
    assert expected in error_of(tmp_path, text)


def test_a_missing_recipe_or_two_of_them(tmp_path):
    entry = write_recipe(tmp_path, "lead_fee", GOOD)
    (tmp_path / "lead_fee.yaml").rename(tmp_path / "lead_fee.yml")
    assert recipe_dag(entry).dag_id == "recipe_lead_fee"  # .yml works too
    (tmp_path / "lead_fee.yaml").write_text(GOOD)
    with pytest.raises(RecipeError, match="both lead_fee.yaml and lead_fee.yml exist; keep one"):
        recipe_dag(entry)
    orphan = tmp_path / "orphan.py"
    orphan.write_text(entry.read_text())
    with pytest.raises(RecipeError, match=r"orphan.yaml: \(recipe\): no recipe file next to the entry file orphan.py"):
        recipe_dag(orphan)


def test_a_type_whose_class_is_not_installed_is_a_clear_error(tmp_path, monkeypatch):
    from airflow_stripe_automation.recipes import types

    monkeypatch.setitem(types.STEP_TYPES, "charge", "airflow_stripe_automation.operators.nowhere.StripeNothing")
    message = error_of(tmp_path, GOOD)
    assert (
        "line 11: steps[0].type: step type 'charge' is not available: airflow_stripe_automation.operators."
        "nowhere.StripeNothing cannot be imported: no module 'airflow_stripe_automation.operators.nowhere'"
    ) in message


def test_yaml_1_2_scalars_country_codes_and_dates_stay_text(tmp_path):
    from airflow_stripe_automation.recipes import parse_recipe

    text = GOOD.replace("recipe: R1", "recipe: R1\nstart_date: 2026-03-01\ntags: [NO, on, off, yes]")
    recipe = parse_recipe(text, tmp_path / "x.yaml")
    assert recipe.data["start_date"] == "2026-03-01"
    assert recipe.data["tags"] == ["NO", "on", "off", "yes"]


def test_a_field_named_like_a_mapping_method_must_be_read_with_brackets(tmp_path):
    text = GOOD.replace('amount: "{{ params.amount }}"', 'amount: "{{ params.items }}"')
    message = error_of(tmp_path, text)
    assert (
        "line 14: steps[0].with.amount: '.items' is the mapping's items() method in Jinja, not the field 'items': "
        "write ['items'] (e.g. params['items'])"
    ) in message
    # a call is what it says it is
    recipe_dag(write_recipe(tmp_path, "ok", GOOD.replace('"{{ params.amount }}"', "\"{{ params.get('amount') }}\"")))


SENSOR = """\
recipe: R2
params:
  team_email: team@example.com
trigger:
  type: payment_succeeded
  with:
    wait_for_match: false
steps:
  - id: mail_team
    type: send_email
    with:
      to: "{{ params.team_email }}"
      subject: "Paid: {{ obj.amount | money(obj.currency) }}"
"""


def test_a_sensor_recipe_runs_its_steps_per_object_in_a_group(tmp_path):
    dag = recipe_dag(write_recipe(tmp_path, "paid", SENSOR))
    assert dag.task_ids == ["payment_succeeded", "each_object.mail_team", "run_summary"]
    assert dag.get_task("each_object.mail_team").get_closest_mapped_task_group().group_id == "each_object"
    ungrouped = recipe_dag(
        write_recipe(tmp_path, "flat", SENSOR.replace("  with:\n    wait", "  group: null\n  with:\n    wait", 1))
    )
    assert ungrouped.task_ids == ["payment_succeeded", "mail_team", "run_summary"]
    assert ungrouped.get_task("mail_team").is_mapped


def test_obj_is_for_the_steps_and_group_null_steps_have_no_steps(tmp_path):
    in_trigger = SENSOR.replace(
        "    wait_for_match: false", '    wait_for_match: false\n    since: "{{ obj.created }}"'
    )
    assert "trigger.with.since: 'obj' is the object a step acts on; the trigger's own fields cannot use it" in (
        error_of(tmp_path, in_trigger)
    )

    flat = SENSOR.replace("  with:\n    wait", "  group: null\n  with:\n    wait", 1)
    assert recipe_dag(write_recipe(tmp_path, "flat_obj", flat)).task_ids == [
        "payment_succeeded",
        "mail_team",
        "run_summary",
    ]
    message = error_of(
        tmp_path,
        flat.replace("{{ params.team_email }}", "{{ steps.payment_succeeded.customer_email }}")
        + steps("""\
      - id: gate
        type: continue_if
        if: {field: amount, op: gt, value: 1}
    """),
    )
    assert (
        "steps[0].with.to: with 'group: null' each step is mapped on its own: 'steps' needs the steps' task group"
        in message
    )
    assert "steps[1].type: continue_if needs the steps' task group" in message


def test_a_sensor_recipe_batches_its_objects_by_default(tmp_path):
    from airflow_stripe_automation.recipes.builder import DEFAULT_BATCH_SIZE

    batched = recipe_dag(write_recipe(tmp_path, "paid", SENSOR))
    assert batched.get_task("payment_succeeded").batch_size == DEFAULT_BATCH_SIZE
    own = recipe_dag(write_recipe(tmp_path, "own", SENSOR.replace("wait_for_match: false", "batch_size: 7")))
    assert own.get_task("payment_succeeded").batch_size == 7
    waits = SENSOR + steps(
        """\
        - id: wait
          type: delay
          with:
            delay: 1
        """
    )
    deferring = recipe_dag(write_recipe(tmp_path, "waits", waits))
    assert deferring.get_task("payment_succeeded").batch_size == DEFAULT_BATCH_SIZE  # one deferral per batch
