"""Credit a customer (recipe R8: a sign-up credit), once per customer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.idempotency import MARK_METADATA_KEY, ActionKey
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
    from stripe import CustomerBalanceTransaction, ListObject
    from stripe.billing import CreditGrant

METHODS = ("balance", "credit_grant")


class StripeCustomerCreditOperator(StripeWriteOperator):
    """
    Credit a customer: a customer balance transaction (default) or a billing credit grant.

    The customer is the object acted on, so a replay never credits the same customer twice for the
    same task. A balance credit is applied by Stripe to the customer's next invoices; a credit grant
    covers metered usage.

    :param customer_id: the customer to credit, ``cus_…`` (templated)
    :param amount: the credit in minor units of ``currency``, positive (templated)
    :param currency: the credit's currency; must match the customer's balance currency (templated)
    :param description: shown on the balance transaction / as the grant's name (templated)
    :param method: ``balance`` (customer balance transaction) or ``credit_grant``
    :param metadata: metadata for what is created (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "customer_id",
        "amount",
        "currency",
        "description",
        "metadata",
    )
    template_fields_renderers = {"metadata": "json"}
    action = "credit"

    def __init__(
        self,
        *,
        customer_id: str,
        amount: int | str,
        currency: str = "usd",
        description: str | None = None,
        method: str = "balance",
        metadata: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.amount = amount
        self.currency = currency
        self.description = description
        self.method = method
        self.metadata = metadata

    def validate(self) -> dict[str, Any]:
        customer = validate_id(self.customer_id, "cus_", "customer_id")
        amount, currency = validate_money(self.amount, self.currency)
        if self.method not in METHODS:
            raise StripeInputError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        metadata = validate_metadata(self.metadata, ours=[MARK_METADATA_KEY])
        description = (self.description or "").strip() or "Credit"
        return {
            "customer": customer,
            "amount": amount,
            "currency": currency,
            "description": description,
            "metadata": metadata,
        }

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["customer"]

    def money_at_stake(self, inputs: dict[str, Any]) -> tuple[int, str]:
        return inputs["amount"], inputs["currency"]

    def describe(self, inputs: dict[str, Any]) -> str:
        return f"a {self.method.replace('_', ' ')} credit of {format_money(inputs['amount'], inputs['currency'])} to {inputs['customer']}"

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        client = self.hook.get_conn().v1
        listing: ListObject[CustomerBalanceTransaction] | ListObject[CreditGrant]
        if self.method == "balance":
            listing = client.customers.balance_transactions.list(inputs["customer"], params={"limit": 100})
        else:
            listing = client.billing.credit_grants.list(params={"customer": inputs["customer"], "limit": 100})
        for listed in listing.auto_paging_iter():
            item = plain(listed)
            if key.is_marked(item):
                return item
        return None

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        client = self.hook.get_conn().v1
        metadata = {**inputs["metadata"], **key.metadata()}
        created: CustomerBalanceTransaction | CreditGrant
        if self.method == "balance":
            # A negative balance transaction is money the customer has to spend on invoices.
            created = client.customers.balance_transactions.create(
                inputs["customer"],
                params={
                    "amount": -inputs["amount"],
                    "currency": inputs["currency"],
                    "description": inputs["description"],
                    "metadata": metadata,
                },
                options=self.request_options(key),
            )
        else:
            created = client.billing.credit_grants.create(
                params={
                    "customer": inputs["customer"],
                    "name": inputs["description"],
                    "category": "promotional",
                    "amount": {
                        "type": "monetary",
                        "monetary": {"value": inputs["amount"], "currency": inputs["currency"]},
                    },
                    "applicability_config": {"scope": {"price_type": "metered"}},
                    "metadata": metadata,
                },
                options=self.request_options(key),
            )
        return plain(created)

    def result(self, obj: Any) -> dict[str, Any]:
        if obj.get("object") == "customer_balance_transaction":
            # Stripe counts a customer's credit as a negative balance; report it as people read it.
            return {
                "id": obj["id"],
                "object": obj["object"],
                "customer": obj["customer"],
                "amount": -obj["amount"],
                "currency": obj["currency"],
                "balance": obj.get("ending_balance"),
                "credit_balance": -(obj.get("ending_balance") or 0),
            }
        monetary = (obj.get("amount") or {}).get("monetary") or {}
        return {
            "id": obj["id"],
            "object": obj.get("object"),
            "customer": obj.get("customer"),
            "amount": monetary.get("value"),
            "currency": monetary.get("currency"),
        }

    def dashboard_path(self, obj: Any) -> str | None:
        return f"customers/{obj['customer']}" if obj.get("customer") else None
