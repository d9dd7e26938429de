"""The "Stripe dashboard" extra link shown on every task that acted on a Stripe object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

XCOM_DASHBOARD_URL = "stripe_dashboard_url"


class StripeDashboardLink(BaseOperatorLink):
    """Link a task to the Stripe object it created or acted on."""

    name = "Stripe dashboard"

    @staticmethod
    def persist(context: Context, url: str) -> None:
        """
        Remember ``url`` for this task instance; the link reads it back when the task ends.

        :param context: the running task's context
        :param url: the dashboard URL of the object
        """
        context["ti"].xcom_push(key=XCOM_DASHBOARD_URL, value=url)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.bases.xcom import BaseXCom

        url: Any = BaseXCom.get_value(ti_key=ti_key, key=XCOM_DASHBOARD_URL)
        return url if isinstance(url, str) else ""
