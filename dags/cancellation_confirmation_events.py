"""Entry file of the Stripe recipe with the same name (.yaml): builds its DAG, recipe_<name>."""

from airflow_stripe_automation.recipes import recipe_dag

dag = recipe_dag(__file__)
