"""Read one Stripe object by id and pass the fields a condition or a mail needs downstream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_stripe_automation.conditions import get_field
from airflow_stripe_automation.errors import StripeInputError, translate
from airflow_stripe_automation.object_types import readable_prefixes
from airflow_stripe_automation.objects import summarize
from airflow_stripe_automation.operators.base import StripeBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class StripeRetrieveOperator(StripeBaseOperator):
    """
    Retrieve a charge, payment intent, invoice, subscription, customer, refund or fraud warning by id.

    Returns the object's summary (``objects.summarize``: id, amount, currency, customer, status, …)
    plus any extra ``fields`` asked for, as a small JSON dict, and under ``retrieved_for`` the id of
    the ``stripe_object`` it was read for (the warning a charge was read for), so the steps after it,
    acting on what was read, can still name that object: ``{{ obj.retrieved_for }}``. Read-only.

    :param object_id: the Stripe id; its prefix tells the type (``ch_``, ``pi_``, ``in_``, ``sub_``,
        ``cus_``, ``re_``, ``issfr_``) (templated)
    :param fields: extra dotted paths to return, e.g. ``["shipping.address", "customer.email"]``;
        each is returned under its full path (templated)
    :param expand: fields to expand, e.g. ``["customer"]`` (templated)
    """

    template_fields: Sequence[str] = (*StripeBaseOperator.template_fields, "object_id", "fields", "expand")

    def __init__(
        self,
        *,
        object_id: str,
        fields: Sequence[str] | None = None,
        expand: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_id = object_id
        self.fields = fields
        self.expand = expand

    def execute_one(self, context: Context) -> dict[str, Any]:
        import stripe

        object_id = (self.object_id or "").strip() if isinstance(self.object_id, str) else self.object_id
        if not object_id or not isinstance(object_id, str):
            raise StripeInputError("object_id is required")
        readable = readable_prefixes()
        if not object_id.startswith(tuple(readable)):
            raise StripeInputError(
                f"object_id {object_id!r} is not an id this operator can read (prefixes {', '.join(readable)})"
            )
        try:
            obj = self.hook.retrieve(object_id, expand=list(self.expand or []) or None)
        except stripe.StripeError as err:
            raise translate(err, f"reading {object_id}") from err
        self._link(obj)
        out = summarize(obj)
        for path in self.fields or ():
            out[path] = get_field(obj, path)
        source = self.stripe_object.get("id") if isinstance(self.stripe_object, Mapping) else None
        if isinstance(source, str) and source != out.get("id"):
            out["retrieved_for"] = source
        self.log.info("Read %s: %s", object_id, {k: v for k, v in out.items() if k != "metadata"})
        return out
