"""The "Stripe dashboard" extra link shown on every task that acted on a Stripe object."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

# Attribute the operator sets while it runs. Airflow 3 resolves extra links on the worker when the
# task ends, on the same operator instance, and stores the result as the XCom ``_link_<Class>``
# that the UI reads; so no XCom of our own (and no failed XCom lookup when nothing was made).
URL_ATTRIBUTE = "stripe_dashboard_url"


class StripeDashboardLink(BaseOperatorLink):
    """Link a task to the Stripe object it created or acted on."""

    name = "Stripe dashboard"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = getattr(operator, URL_ATTRIBUTE, None)
        return url if isinstance(url, str) else ""
