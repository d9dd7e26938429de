"""The ``dags/`` folder as Airflow sees it: every recipe loads, a broken one fails alone and is named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_stripe_automation.recipes import SCHEMA_PATH, entry_file_text, recipe_schema
from airflow_stripe_automation.recipes.types import (
    EXTERNAL_TRIGGER,
    GATE_CLASS,
    GATE_TYPE,
    STEP_TYPES,
    TRIGGER_TYPES,
    resolve_class,
)
from tests.recipes.conftest import RECIPES_DIR, shipped_recipes

RECIPE_IDS = [f"R{n}" for n in range(1, 13)]
EVENTS_SUFFIX = "_events"


def test_r1_to_r12_ship_as_recipes_each_with_its_entry_file():
    stems = [p.stem for p in shipped_recipes()]
    # the twelve sweeps, and beside some of them their event-driven form (<stem>_events)
    assert len([s for s in stems if not s.endswith(EVENTS_SUFFIX)]) == 12
    assert all(s.removesuffix(EVENTS_SUFFIX) in stems for s in stems)
    for stem in stems:
        assert (RECIPES_DIR / f"{stem}.py").read_text() == entry_file_text()
    assert sorted(p.stem for p in RECIPES_DIR.glob("*.py")) == sorted(stems)


def test_every_shipped_recipe_loads_as_its_dag(recipe_bag):
    assert recipe_bag.import_errors == {}
    assert sorted(recipe_bag.dags) == sorted(f"recipe_{p.stem}" for p in shipped_recipes())
    sweeps = [dag for dag_id, dag in recipe_bag.dags.items() if not dag_id.endswith(EVENTS_SUFFIX)]
    tags = sorted(t for dag in sweeps for t in dag.tags if t.startswith("recipe:"))
    assert tags == sorted(f"recipe:{r}" for r in RECIPE_IDS)


def test_every_recipe_dag_serializes_as_the_dag_processor_does(recipe_bag):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in recipe_bag.dags.values():
        data = DagSerialization.to_dict(dag)
        assert DagSerialization.from_dict(data).dag_id == dag.dag_id
    # Per-object templates are stored as their recipe text (the UI shows it before the run).
    data = DagSerialization.to_dict(recipe_bag.dags["recipe_personalize_orders"])
    (sensor,) = [t["__var"] for t in data["dag"]["tasks"] if t["__var"]["task_id"] == "payment_succeeded"]
    assert sensor["condition"]["value"] == "{{ params.min_amount }}"


def test_the_schema_is_published_in_the_package_and_names_every_type():
    from jsonschema import Draft202012Validator

    assert SCHEMA_PATH.parent.name == "recipes" and SCHEMA_PATH.suffix == ".json"
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema == recipe_schema()
    triggers = schema["$defs"]["trigger"]["properties"]["type"]["enum"]
    steps = schema["$defs"]["step"]["properties"]["type"]["enum"]
    assert sorted(triggers) == sorted([EXTERNAL_TRIGGER, *TRIGGER_TYPES])
    assert sorted(steps) == sorted([*STEP_TYPES, GATE_TYPE])


@pytest.mark.parametrize("path", sorted({*TRIGGER_TYPES.values(), *STEP_TYPES.values(), GATE_CLASS}))
def test_every_type_names_a_class_that_exists(path):
    assert resolve_class(path).__name__ == path.rsplit(".", 1)[1]


BROKEN = """\
recipe: R1
params:
  customer_id: {type: string}
trigger:
  type: external
steps:
  - id: charge_lead
    type: charge
    with:
      customer_id: "{{ params.customer_id }}"
      amout: 2500
"""


def _folder_with_a_broken_recipe(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(RECIPES_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "broken_lead.yaml").write_text(BROKEN)
    (folder / "broken_lead.py").write_text(entry_file_text())
    return folder


@pytest.mark.slow  # parses a whole recipe folder
def test_a_broken_recipe_is_the_import_error_of_its_own_file_and_the_others_load(tmp_path, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    folder = _folder_with_a_broken_recipe(tmp_path)
    bag = DagBag(dag_folder=str(folder), bundle_path=folder, bundle_name="copy")

    assert sorted(bag.dags) == sorted(f"recipe_{p.stem}" for p in shipped_recipes())
    assert list(bag.import_errors) == ["broken_lead.py"]
    error = bag.import_errors["broken_lead.py"]
    assert (
        f"{folder / 'broken_lead.yaml'}, line 11: steps[0].with.amout: unknown field 'amout' for "
        "StripeOneTimeChargeOperator; did you mean 'amount'?" in error
    )
    assert "steps[0].with: missing required field 'amount'" in error


def _json_output(text: str):
    # The CLI logs to stdout too: the JSON is the line that is a list.
    (line,) = [line for line in text.splitlines() if line.startswith("[{") or line == "[]"]
    return json.loads(line)


def _list_import_errors(tmp_path: Path, folder: Path) -> subprocess.CompletedProcess:
    """``airflow dags list-import-errors``, as an ops person runs it, on a fresh home whose DAGs folder is ``folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        }
    )
    script = textwrap.dedent("""\
        set -e
        "$1" -m airflow db migrate > /dev/null
        "$1" -m airflow dags reserialize > /dev/null 2>&1
        "$1" -m airflow dags list-import-errors -o json || echo "exit code $?"
    """)
    return subprocess.run(
        ["bash", "-c", script, "cli", sys.executable], check=False, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow  # the airflow CLI / DAG folder parsing in a subprocess
def test_airflow_dags_list_import_errors_names_the_broken_recipe(tmp_path):
    proc = _list_import_errors(tmp_path, _folder_with_a_broken_recipe(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exit code 1" in proc.stdout  # the command fails when there are import errors, as CI wants
    errors = _json_output(proc.stdout)
    assert [e["filepath"] for e in errors] == ["broken_lead.py"]  # only the broken recipe's entry file
    assert "broken_lead.yaml, line 11: steps[0].with.amout: unknown field 'amout'" in errors[0]["error"]


@pytest.mark.slow  # the airflow CLI / DAG folder parsing in a subprocess
def test_the_shipped_recipes_and_example_dags_have_no_import_errors(tmp_path):
    """What the issue asks of dags/ + example_dags/: the CLI lists no import error."""
    folder = tmp_path / "dags"
    shutil.copytree(RECIPES_DIR, folder / "recipes", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        RECIPES_DIR.parent / "example_dags", folder / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    proc = _list_import_errors(tmp_path, folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exit code" not in proc.stdout and _json_output(proc.stdout) == []


@pytest.mark.slow  # the airflow CLI / DAG folder parsing in a subprocess
def test_the_check_command_reports_broken_recipes_and_missing_entry_files(tmp_path):
    folder = _folder_with_a_broken_recipe(tmp_path)
    (folder / "signup_credit.py").unlink()
    command = [sys.executable, "-m", "airflow_stripe_automation.recipes", "check", str(folder)]
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home")}

    proc = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=300)

    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert (
        f"{folder / 'broken_lead.yaml'}, line 11: steps[0].with.amout: unknown field 'amout' for "
        "StripeOneTimeChargeOperator; did you mean 'amount'?" in lines
    )
    assert (
        f"{folder / 'signup_credit.yaml'}: no entry file signup_credit.py, so Airflow does not load this recipe "
        "(--write-entries writes it)" in lines
    )
    assert f"{len(shipped_recipes()) + 1} recipe(s) checked, 3 problem(s)." in proc.stderr

    fixed = subprocess.run(
        [*command, "--write-entries"], check=False, capture_output=True, text=True, env=env, timeout=300
    )
    assert (folder / "signup_credit.py").read_text() == entry_file_text()
    assert "2 problem(s)" in fixed.stderr  # only the broken recipe's


def test_parsing_an_entry_file_logs_each_recipe_of_its_folder_that_has_no_entry_file(tmp_path, caplog):
    from airflow_stripe_automation.recipes import recipe_dag

    for stem in ("pay_per_lead", "signup_credit"):
        shutil.copyfile(RECIPES_DIR / f"{stem}.yaml", tmp_path / f"{stem}.yaml")
    shutil.copyfile(RECIPES_DIR / "pay_per_lead.yaml", tmp_path / "lead_copy.yml")
    (tmp_path / "pay_per_lead.py").write_text(entry_file_text())
    (tmp_path / "notes.txt").write_text("not a recipe")

    with caplog.at_level("WARNING", logger="airflow_stripe_automation.recipes"):
        recipe_dag(tmp_path / "pay_per_lead.py")

    assert [r.getMessage() for r in caplog.records] == [
        f"Recipe {tmp_path / 'signup_credit.yaml'} has no entry file signup_credit.py, so Airflow does not load it.",
        f"Recipe {tmp_path / 'lead_copy.yml'} has no entry file lead_copy.py, so Airflow does not load it.",
    ]
