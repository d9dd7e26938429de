"""Tell the user's own system about a Stripe object over HTTP (R10: mark the order paid), once per object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.base import StripeBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class StripeObjectHttpOperator(StripeBaseOperator):
    """
    Send one HTTP request about a Stripe object to an endpoint of an Airflow HTTP connection.

    The HTTP provider's ``HttpOperator`` with the Stripe operators' ``obj``: its templates read the
    object (``"{{ dict(obj, event='invoice.paid') | tojson }}"``), and given a batch it sends one
    request per object, so a sweep of paid invoices tells the order system about each one. Stripe
    is not called. Exactly once is the receiving system's side: send a stable key with each request,
    e.g. the header ``Idempotency-Key: invoice-paid-{{ obj.id }}``, and let it ignore a repeat.

    :param endpoint: the path on the connection's host, e.g. ``/orders/paid`` (templated)
    :param http_conn_id: the Airflow HTTP connection (templated)
    :param method: the HTTP method
    :param headers: request headers (templated)
    :param data: the body (text, e.g. JSON) or, for GET, the query parameters (templated)
    :param stripe_object: the object the request is about, or a batch of them (templated)
    """

    template_fields: Sequence[str] = (
        *StripeBaseOperator.template_fields,
        "endpoint",
        "http_conn_id",
        "headers",
        "data",
    )
    template_fields_renderers = {"headers": "json", "data": "py", "stripe_object": "json"}
    ui_color = "#f4a460"

    def __init__(
        self,
        *,
        endpoint: str,
        http_conn_id: str = "http_default",
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.http_conn_id = http_conn_id
        self.method = method
        self.headers = headers
        self.data = data

    def execute_one(self, context: Context) -> dict[str, Any]:
        from airflow.providers.http.hooks.http import HttpHook

        if not str(self.endpoint or "").strip():
            raise StripeInputError("endpoint is required")
        if self.headers is not None and not isinstance(self.headers, Mapping):
            raise StripeInputError("headers must be a mapping of name -> value")
        headers = {str(k): str(v) for k, v in (self.headers or {}).items()}
        if any("\r" in v or "\n" in v for v in headers.values()):
            raise StripeInputError("header values must not contain line breaks")
        about = self.stripe_object.get("id") if isinstance(self.stripe_object, Mapping) else None
        # HttpHook raises AirflowException on a 4xx/5xx answer: a failure of this object, retried.
        response = HttpHook(method=self.method, http_conn_id=self.http_conn_id).run(
            endpoint=str(self.endpoint), data=self.data, headers=headers
        )
        self.log.info(
            "%s %s about %s: HTTP %s.", self.method, self.endpoint, about or "no object", response.status_code
        )
        return {"about": about, "status_code": response.status_code}
