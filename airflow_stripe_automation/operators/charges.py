"""One-time charges on a saved customer (recipe R1: pay per lead)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_stripe_automation.errors import StripeCardDeclined, StripeInputError
from airflow_stripe_automation.idempotency import MARK_METADATA_KEY, ActionKey
from airflow_stripe_automation.inputs import check_statement_descriptor
from airflow_stripe_automation.money import format_money
from airflow_stripe_automation.operators.base import (
    StripeWriteOperator,
    plain,
    validate_id,
    validate_metadata,
    validate_money,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from stripe.params import PaymentIntentCreateParams


class StripeOneTimeChargeOperator(StripeWriteOperator):
    """
    Charge a saved customer once: create and confirm an off-session PaymentIntent.

    The run is the object charged: retries, re-runs and clears of the same task instance reuse one
    idempotency key (DAG, run, task, map index) and find the PaymentIntent they made by its
    metadata mark, so a lead is never charged twice. A decline fails the task without retry and
    carries Stripe's decline code; nothing is charged.

    :param customer_id: the Stripe customer to charge, ``cus_…`` (templated)
    :param amount: the amount in minor units of ``currency``, e.g. ``1500`` for 15.00 USD (templated)
    :param currency: a currency Stripe supports, e.g. ``usd`` (templated)
    :param description: shown in the Stripe dashboard and on receipts (templated)
    :param payment_method: the ``pm_…`` to charge; default: the customer's default payment method
        (templated)
    :param metadata: extra metadata for the PaymentIntent (templated)
    :param statement_descriptor_suffix: text appended to the card statement descriptor (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "customer_id",
        "amount",
        "currency",
        "description",
        "payment_method",
        "metadata",
        "statement_descriptor_suffix",
    )
    template_fields_renderers = {"metadata": "json"}
    action = "charge"

    def __init__(
        self,
        *,
        customer_id: str,
        amount: int | str,
        currency: str = "usd",
        description: str | None = None,
        payment_method: str | None = None,
        metadata: dict[str, str] | None = None,
        statement_descriptor_suffix: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.amount = amount
        self.currency = currency
        self.description = description
        self.payment_method = payment_method
        self.metadata = metadata
        self.statement_descriptor_suffix = statement_descriptor_suffix

    def validate(self) -> dict[str, Any]:
        customer = validate_id(self.customer_id, "cus_", "customer_id")
        amount, currency = validate_money(self.amount, self.currency)
        payment_method = validate_id(self.payment_method, "pm_", "payment_method", required=False)
        if self.description is not None and not isinstance(self.description, str):
            raise StripeInputError(f"description must be text, got {type(self.description).__name__}")
        suffix = check_statement_descriptor(
            self.statement_descriptor_suffix, "statement_descriptor_suffix", StripeInputError
        )
        metadata = validate_metadata(self.metadata, ours=[MARK_METADATA_KEY])
        return {
            "customer": customer,
            "amount": amount,
            "currency": currency,
            "description": (self.description or "").strip() or None,
            "payment_method": payment_method,
            "metadata": metadata,
            "statement_descriptor_suffix": suffix,
        }

    def prepare(self, inputs: dict[str, Any], context: Context) -> dict[str, Any]:
        if inputs["payment_method"]:
            return inputs
        customer = plain(self.hook.get_conn().v1.customers.retrieve(inputs["customer"]))
        if customer.get("deleted"):
            raise StripeInputError(f"customer {inputs['customer']} has been deleted")
        default = (customer.get("invoice_settings") or {}).get("default_payment_method")
        default = default.get("id") if isinstance(default, dict) else default
        if not default:
            raise StripeInputError(
                f"customer {inputs['customer']} has no default payment method "
                "(invoice_settings.default_payment_method); set one in Stripe or pass payment_method"
            )
        return {**inputs, "payment_method": default}

    def money_at_stake(self, inputs: dict[str, Any]) -> tuple[int, str]:
        return inputs["amount"], inputs["currency"]

    def describe(self, inputs: dict[str, Any]) -> str:
        return f"a charge of {format_money(inputs['amount'], inputs['currency'])} to {inputs['customer']}"

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        # Found by its mark through the Search API, over all time: a window tied to the run's start
        # would miss a PaymentIntent dated by a Stripe clock behind Airflow's, or made by a retry
        # after the key's 24 h. Search lags writes by about a minute, while Stripe still replays the key.
        import stripe

        query = " OR ".join(f"metadata['{MARK_METADATA_KEY}']:'{mark}'" for mark in key.marks)
        client = self.hook.get_conn().v1
        try:
            found = client.payment_intents.search(params={"query": query, "limit": 100}).auto_paging_iter()
            intents = (plain(listed) for listed in found)
        except stripe.InvalidRequestError as err:  # accounts without search (e.g. in India): all their intents
            self.log.debug("PaymentIntent search refused (%s): listing the customer's instead.", err)
            listing = client.payment_intents.list(params={"customer": inputs["customer"], "limit": 100})
            intents = (plain(listed) for listed in listing.auto_paging_iter())
        for intent in intents:
            if intent.get("customer") == inputs["customer"] and key.is_marked(intent):
                self._raise_if_declined(intent, inputs)
                return intent
        return None

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        params: PaymentIntentCreateParams = {
            "customer": inputs["customer"],
            "amount": inputs["amount"],
            "currency": inputs["currency"],
            "payment_method": inputs["payment_method"],
            "confirm": True,
            "off_session": True,
            "metadata": {**inputs["metadata"], **key.metadata()},
        }
        if inputs["description"]:
            params["description"] = inputs["description"]
        if inputs["statement_descriptor_suffix"]:
            params["statement_descriptor_suffix"] = inputs["statement_descriptor_suffix"]
        intent = plain(self.hook.get_conn().v1.payment_intents.create(params=params, options=self.request_options(key)))
        self.log.info("PaymentIntent %s is %s.", intent["id"], intent["status"])
        return intent

    def _raise_if_declined(self, intent: Any, inputs: dict[str, Any]) -> None:
        error = intent.get("last_payment_error")
        if intent["status"] == "requires_payment_method" and error:
            raise StripeCardDeclined(
                f"Stripe declined {self.describe(inputs)} earlier in this run ({intent['id']}): "
                f"{error.get('code')} ({error.get('decline_code') or error.get('code')}). Nothing was "
                "charged; trigger a new run to try again.",
                code=error.get("code"),
                decline_code=error.get("decline_code"),
            )

    def result(self, obj: Any) -> dict[str, Any]:
        return {
            "id": obj["id"],
            "status": obj["status"],
            "amount": obj["amount"],
            "currency": obj["currency"],
            "customer": obj.get("customer"),
            "description": obj.get("description"),
            "latest_charge": obj.get("latest_charge"),
        }
