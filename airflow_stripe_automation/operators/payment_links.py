"""Payment links for an order (recipe R9: a link by e-mail when a deal awaits payment)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.idempotency import KEY_PREFIX, MARK_METADATA_KEY, ActionKey
from airflow_stripe_automation.inputs import check_line
from airflow_stripe_automation.money import InvalidMoneyError, format_money, normalize_currency, validate_amount
from airflow_stripe_automation.operators.base import (
    StripeWriteOperator,
    is_unset,
    plain,
    validate_count,
    validate_flag,
    validate_id,
    validate_metadata,
    validate_order_id,
)
from airflow_stripe_automation.operators.invoices import ORDER_METADATA_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context
    from stripe.params import PaymentLinkCreateParamsLineItem, PriceCreateParamsCustomUnitAmount


class StripeCreatePaymentLinkOperator(StripeWriteOperator):
    """
    Create a Stripe payment link for an order, once, and return its URL.

    Give either a ``price_id`` (with ``quantity``) or an ad-hoc ``amount`` in ``currency`` (sold as
    ``product_name``). The order is the object: the key and the mark (in the link's metadata, with
    ``order_id``) come from the order id, and the account's payment links are searched for the mark
    before writing, so the same order never gets a second link — a link found deactivated is
    returned as it is, not replaced.

    Stripe payment links have no partial payments; ``allow_partial`` gets closest to it:

    * with ``amount``: the link sells a "pay what you want" price (``custom_unit_amount``) preset to
      the full amount, capped at it, and floored at ``minimum_amount`` (default: Stripe's minimum
      charge) — the customer may pay less than the full amount, never more; the price's
      ``lookup_key`` (``airflow-stripe/<mark>``) lets a retry find it instead of making another;
    * with ``price_id``: the customer may lower the quantity (``adjustable_quantity`` from 1 to
      ``quantity``), i.e. pay for part of the units; this needs ``quantity`` of at least 2.

    :param order_id: the order in your system; one link per order (templated)
    :param price_id: an existing price to sell, ``price_…`` (templated)
    :param quantity: how many units of ``price_id`` (templated)
    :param amount: an ad-hoc amount in minor units of ``currency``, instead of ``price_id``
        (templated)
    :param currency: the currency of ``amount`` (templated)
    :param product_name: the name the customer sees for an ad-hoc amount; default "Order <order_id>"
        (templated)
    :param allow_partial: let the customer pay part of the order (see above) (templated)
    :param minimum_amount: with ``amount`` and ``allow_partial``: the least the customer may pay, in
        minor units (templated)
    :param metadata: extra metadata for the link (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "order_id",
        "price_id",
        "quantity",
        "amount",
        "currency",
        "product_name",
        "allow_partial",
        "minimum_amount",
        "metadata",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"metadata": "json"}
    action = "create payment link"

    def __init__(
        self,
        *,
        order_id: str,
        price_id: str | None = None,
        quantity: int | str = 1,
        amount: int | str | None = None,
        currency: str = "usd",
        product_name: str | None = None,
        allow_partial: bool | str = False,
        minimum_amount: int | str | None = None,
        metadata: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.order_id = order_id
        self.price_id = price_id
        self.quantity = quantity
        self.amount = amount
        self.currency = currency
        self.product_name = product_name
        self.allow_partial = allow_partial
        self.minimum_amount = minimum_amount
        self.metadata = metadata

    def validate(self) -> dict[str, Any]:
        order = validate_order_id(self.order_id, "one payment link")
        price = validate_id(self.price_id, "price_", "price_id", required=False)
        amount = None if is_unset(self.amount) else self.amount
        if bool(price) == (amount is not None):
            raise StripeInputError("give exactly one of price_id (price_…) or amount (with currency)")
        partial = validate_flag(self.allow_partial, "allow_partial", default=False)
        quantity = validate_count(self.quantity, "quantity")
        inputs: dict[str, Any] = {
            "order": order,
            "price": price,
            "quantity": quantity,
            "allow_partial": partial,
            "amount": None,
            "currency": None,
            "minimum_amount": None,
            "product_name": None,
        }
        if price:
            if partial and quantity < 2:
                raise StripeInputError(
                    "allow_partial with a price_id lets the customer buy fewer units: it needs quantity ≥ 2"
                )
        else:
            try:
                currency = normalize_currency(self.currency)
                inputs["amount"] = validate_amount(amount, currency)
                if partial and not is_unset(self.minimum_amount):
                    inputs["minimum_amount"] = validate_amount(self.minimum_amount, currency, field="minimum_amount")
            except InvalidMoneyError as err:
                raise StripeInputError(str(err)) from None
            if quantity != 1:
                raise StripeInputError("quantity applies to price_id; an ad-hoc amount is sold once")
            if inputs["minimum_amount"] and inputs["minimum_amount"] > inputs["amount"]:
                raise StripeInputError("minimum_amount must not be above amount")
            name = check_line((self.product_name or "").strip(), "product_name", StripeInputError) or f"Order {order}"
            if len(name) > 250:
                raise StripeInputError("product_name must be at most 250 characters")
            inputs.update(currency=currency, product_name=name)
        metadata = validate_metadata(self.metadata, ours=[MARK_METADATA_KEY, ORDER_METADATA_KEY])
        for reserved in (MARK_METADATA_KEY, ORDER_METADATA_KEY):
            if reserved in metadata:
                raise StripeInputError(f"metadata key {reserved!r} is set by the operator")
        inputs["metadata"] = metadata
        return inputs

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["order"]

    def describe(self, inputs: dict[str, Any]) -> str:
        if inputs["price"]:
            what = f"{inputs['quantity']} × {inputs['price']}"
        else:
            what = format_money(inputs["amount"], inputs["currency"])
        partial = ", partial payment allowed" if inputs["allow_partial"] else ""
        return f"a payment link for {what} for order {inputs['order']}{partial}"

    @contextmanager
    def batch_session(self) -> Iterator[None]:
        """A batch reads the account's payment links once, for all its orders (see :meth:`find_existing`)."""
        self._links_by_mark: dict[str, dict[str, Any]] | None = {}
        self._links_listed = False
        try:
            yield
        finally:
            self._links_by_mark, self._links_listed = None, False

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        # Stripe finds payment links neither by metadata nor by search: the account's list is read
        # whole. A batch reads it once and looks each order up in what it read; each order's mark
        # is its own, so a link this batch makes later cannot be one an earlier order needed.
        index = getattr(self, "_links_by_mark", None)
        if index is None:
            return self._scan_links(key)
        if not self._links_listed:
            index.update(self._marked_links())
            self._links_listed = True
        return next((index[mark] for mark in key.marks if mark in index), None)

    def _scan_links(self, key: ActionKey) -> dict[str, Any] | None:
        """One order on its own: read the list until its link turns up."""
        for listed in self.hook.get_conn().v1.payment_links.list(params={"limit": 100}).auto_paging_iter():
            link = plain(listed)
            if key.is_marked(link):
                return link
        return None

    def _marked_links(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(mark, link) for every link of the account a provider action made; only what ``result`` reads is kept."""
        for listed in self.hook.get_conn().v1.payment_links.list(params={"limit": 100}).auto_paging_iter():
            link = plain(listed)
            metadata = link.get("metadata") or {}
            if mark := metadata.get(MARK_METADATA_KEY):
                yield mark, {k: link.get(k) for k in ("id", "object", "url", "active")} | {"metadata": metadata}

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        client = self.hook.get_conn().v1
        mark = {ORDER_METADATA_KEY: inputs["order"], **key.metadata()}
        if inputs["price"]:
            line: PaymentLinkCreateParamsLineItem = {"price": inputs["price"], "quantity": inputs["quantity"]}
            if inputs["allow_partial"]:
                line["adjustable_quantity"] = {"enabled": True, "minimum": 1, "maximum": inputs["quantity"]}
        elif inputs["allow_partial"]:
            custom: PriceCreateParamsCustomUnitAmount = {
                "enabled": True,
                "preset": inputs["amount"],
                "maximum": inputs["amount"],
            }
            if inputs["minimum_amount"]:
                custom["minimum"] = inputs["minimum_amount"]
            # The price is found again by its lookup key (unique at Stripe), so an earlier try whose
            # answer was lost, retried past Stripe's 24 h key window, does not leave an orphan price.
            lookup_key = f"{KEY_PREFIX}/{key.mark}"
            found = client.prices.list(params={"lookup_keys": [lookup_key], "limit": 1}).data
            if found:
                price = plain(found[0])
                self.log.info(
                    "Price %s for order %s was made by an earlier try: using it.", price["id"], inputs["order"]
                )
            else:
                price = plain(
                    client.prices.create(
                        params={
                            "currency": inputs["currency"],
                            "product_data": {"name": inputs["product_name"]},
                            "custom_unit_amount": custom,
                            "lookup_key": lookup_key,
                            "metadata": mark,
                        },
                        options={"idempotency_key": key.step("price").idempotency_key},
                    )
                )
            line = {"price": price["id"], "quantity": 1}
        else:
            line = {
                "price_data": {
                    "currency": inputs["currency"],
                    "unit_amount": inputs["amount"],
                    "product_data": {"name": inputs["product_name"]},
                },
                "quantity": 1,
            }
        link = plain(
            client.payment_links.create(
                params={"line_items": [line], "metadata": {**inputs["metadata"], **mark}},
                options=self.request_options(key),
            )
        )
        self.log.info("Payment link %s for order %s: %s", link["id"], inputs["order"], link.get("url"))
        return link

    def result(self, obj: Any) -> dict[str, Any]:
        return {
            "id": obj["id"],
            "url": obj.get("url"),
            "active": obj.get("active"),
            "order_id": (obj.get("metadata") or {}).get(ORDER_METADATA_KEY),
        }
