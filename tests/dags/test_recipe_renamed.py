"""Test-only DAG: R8's recipe deployed under another DAG id, as a renamed file or a second deployment gives it.

tests/reliability/test_action_identity.py runs it after ``recipe_signup_credit``: the same declared
actions (``R8/subscribe``, ``R8/credit``) credit no customer twice.
"""

from pathlib import Path

from airflow_stripe_automation.recipes import build_dag, load_recipe

RECIPE = Path(__file__).resolve().parents[2] / "dags" / "signup_credit.yaml"

dag = build_dag(load_recipe(RECIPE), dag_id="test_renamed_signup_credit")
