"""Apache Airflow provider for Stripe payment automations."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-stripe-automation",
        "name": "Stripe Automation",
        "description": "Stripe payment automations (charges, refunds, dunning, sensors) as Airflow DAGs.",
        "versions": [__version__],
        "hook-class-names": [],
    }
