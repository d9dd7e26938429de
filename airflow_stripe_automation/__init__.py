"""Apache Airflow provider for Stripe payment automations."""

from __future__ import annotations

__version__ = "0.2.0"

_INTEGRATION = "Stripe"


def get_provider_info() -> dict:
    """Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-stripe-automation",
        "name": "Stripe Automation",
        "description": "Stripe payment automations (charges, refunds, dunning, sensors) as Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.stripe.com/api",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_stripe_automation.hooks.stripe"]}],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"airflow_stripe_automation.operators.{name}"
                    for name in (
                        "branch",
                        "charges",
                        "credits",
                        "customers",
                        "delay",
                        "dunning",
                        "email",
                        "events",
                        "invoices",
                        "payment_links",
                        "refunds",
                        "retrieve",
                        "subscriptions",
                        "summary",
                    )
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"airflow_stripe_automation.sensors.{name}"
                    for name in ("base", "customers", "events", "invoices", "payments", "radar", "subscriptions")
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_stripe_automation.triggers.events",
                    "airflow_stripe_automation.triggers.objects",
                    "airflow_stripe_automation.triggers.wait_until",
                ],
            }
        ],
        "extra-links": ["airflow_stripe_automation.links.stripe.StripeDashboardLink"],
        "plugins": [
            {"name": "stripe_run_note", "plugin-class": "airflow_stripe_automation.run_note.StripeRunNotePlugin"}
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_stripe_automation.hooks.stripe.StripeHook",
                "hook-name": "Stripe",
                "connection-type": "stripe",
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "port", "extra"],
                    "relabeling": {"password": "Secret or restricted key"},
                    "placeholders": {"password": "sk_test_… or rk_test_…"},
                },
                "conn-fields": {
                    "api_base": {
                        "label": "API base URL",
                        "description": "A Stripe-compatible server, e.g. the local one in tests; empty for api.stripe.com.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "stripe_account": {
                        "label": "Connected account",
                        "description": "Act on behalf of a Stripe Connect account (acct_…).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_version": {
                        "label": "API version",
                        "description": "Pin a Stripe API version; empty uses the SDK's.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_network_retries": {
                        "label": "Max network retries",
                        "description": "SDK retries on connection errors, 409 and 5xx (same idempotency key).",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 10},
                    },
                    "max_requests_per_second": {
                        "label": "Max requests per second",
                        "description": (
                            "Rate budget of each task's client; empty: Stripe's limit, 25 (test keys) or 100 "
                            "(live). With the stripe_api pool, keep pool slots × budget within that limit."
                        ),
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "allow_live_mode": {
                        "label": "Allow live-mode keys",
                        "description": "Live keys (sk_live_…) are refused unless this is on.",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            }
        ],
    }
