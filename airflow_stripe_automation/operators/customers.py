"""Customer updates: metadata tags (R3 "tier = VIP") and contact details kept in sync (R12)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.idempotency import ActionKey
from airflow_stripe_automation.inputs import check_line
from airflow_stripe_automation.operators.base import (
    MAX_METADATA_KEYS,
    StripeWriteOperator,
    is_unset,
    plain,
    validate_id,
    validate_metadata,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from stripe.params import CustomerUpdateParams

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _CustomerUpdate(StripeWriteOperator):
    """An update of one customer: skipped when the customer already looks as asked."""

    def object_id(self, inputs: dict[str, Any]) -> str:
        # Updates set state: the same values may be asked again in later runs, other values too.
        # The key names the customer and what is set, so each distinct update is sent once.
        return f"{inputs['customer']}:{_digest(inputs['changes'])}"

    def prepare(self, inputs: dict[str, Any], context: Context) -> dict[str, Any]:
        customer = plain(self.hook.get_conn().v1.customers.retrieve(inputs["customer"]))
        if customer.get("deleted"):
            raise StripeInputError(f"customer {inputs['customer']} has been deleted")
        return {**inputs, "current": customer}

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        return inputs["current"] if self.already_applied(inputs) else None

    def already_applied(self, inputs: dict[str, Any]) -> bool:
        raise NotImplementedError

    def result(self, obj: Any) -> dict[str, Any]:
        return {k: obj.get(k) for k in ("id", "email", "name", "phone", "address", "shipping", "metadata")}


class StripeUpdateCustomerMetadataOperator(_CustomerUpdate):
    """
    Merge ``metadata`` into a customer's metadata; keys set to "" are removed, as Stripe does.

    Other keys are left untouched. When the customer already carries the values, nothing is sent.

    :param customer_id: the customer, ``cus_…`` (templated)
    :param metadata: the keys to set (or remove with "") (templated)
    """

    template_fields: Sequence[str] = (*StripeWriteOperator.template_fields, "customer_id", "metadata")
    template_fields_renderers = {"metadata": "json"}
    action = "metadata update"

    def __init__(self, *, customer_id: str, metadata: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.metadata = metadata

    def validate(self) -> dict[str, Any]:
        customer = validate_id(self.customer_id, "cus_", "customer_id")
        metadata = validate_metadata(self.metadata)
        if not metadata:
            raise StripeInputError('metadata is required: the keys to set (or remove with "")')
        return {"customer": customer, "changes": metadata}

    def describe(self, inputs: dict[str, Any]) -> str:
        return f"a metadata update of {inputs['customer']} ({', '.join(f'{k}={v!r}' for k, v in inputs['changes'].items())})"

    def already_applied(self, inputs: dict[str, Any]) -> bool:
        current = inputs["current"].get("metadata") or {}
        return all(current.get(k) == v if v != "" else k not in current for k, v in inputs["changes"].items())

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        current = inputs["current"].get("metadata") or {}
        after = {k for k in current if inputs["changes"].get(k) != ""} | {k for k, v in inputs["changes"].items() if v}
        if len(after) > MAX_METADATA_KEYS:
            added = sorted(set(after) - set(current))
            raise StripeInputError(
                f"{inputs['customer']} has {len(current)} metadata keys and the update adds {len(added)} "
                f"({', '.join(added)}): Stripe allows at most {MAX_METADATA_KEYS} metadata keys on an object; "
                'remove keys first (set them to "")'
            )
        return plain(
            self.hook.get_conn().v1.customers.update(
                inputs["customer"], params={"metadata": inputs["changes"]}, options=self.request_options(key)
            )
        )


class StripeUpdateCustomerOperator(_CustomerUpdate):
    """
    Update a customer's details with only the fields given; empty fields are left as they are.

    :param customer_id: the customer, ``cus_…`` (templated)
    :param name: the customer's full name or business name (templated)
    :param email: the email address (templated)
    :param phone: the phone number (templated)
    :param address: ``{line1, line2, city, state, postal_code, country}``; given keys only (templated)
    :param shipping: ``{name, phone, address: {…}}`` (templated)
    :param tax_id: ``{type, value}``, e.g. ``{"type": "eu_vat", "value": "DE123456789"}``; added if the
        customer does not have it yet (templated)
    :param description: an internal description (templated)
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "customer_id",
        "name",
        "email",
        "phone",
        "address",
        "shipping",
        "tax_id",
        "description",
    )
    template_fields_renderers = {"address": "json", "shipping": "json", "tax_id": "json"}
    action = "customer update"

    def __init__(
        self,
        *,
        customer_id: str,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        address: dict[str, str] | str | None = None,
        shipping: dict[str, Any] | None = None,
        tax_id: dict[str, str] | str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.customer_id = customer_id
        self.name = name
        self.email = email
        self.phone = phone
        self.address = address
        self.shipping = shipping
        self.tax_id = tax_id
        self.description = description

    def validate(self) -> dict[str, Any]:
        customer = validate_id(self.customer_id, "cus_", "customer_id")
        changes: dict[str, Any] = {}
        for field in ("name", "email", "phone", "description"):
            value = getattr(self, field)
            if not is_unset(value):
                if not isinstance(value, str):
                    raise StripeInputError(f"{field} must be text, got {type(value).__name__}")
                changes[field] = (
                    value.strip() if field == "description" else check_line(value.strip(), field, StripeInputError)
                )
        if "email" in changes and "@" not in changes["email"]:
            raise StripeInputError(f"email {changes['email']!r} is not an email address")
        address = _address(self.address, "address")
        if address:
            changes["address"] = address
        if self.shipping not in (None, "", {}):
            if not isinstance(self.shipping, Mapping):
                raise StripeInputError("shipping must be a mapping {name, phone, address}")
            ship_address = _address(self.shipping.get("address"), "shipping.address")
            ship_name = check_line(str(self.shipping.get("name") or "").strip(), "shipping.name", StripeInputError)
            if not ship_name or not ship_address:
                raise StripeInputError("shipping needs a name and an address, as Stripe requires")
            changes["shipping"] = {"name": ship_name, "address": ship_address}
            if self.shipping.get("phone"):
                changes["shipping"]["phone"] = str(self.shipping["phone"]).strip()
        tax_id = None
        if self.tax_id not in (None, "", {}):
            if not isinstance(self.tax_id, Mapping) or not self.tax_id.get("type") or not self.tax_id.get("value"):
                raise StripeInputError(
                    "tax_id must be a mapping {type, value}, e.g. {type: eu_vat, value: DE123456789}"
                )
            tax_id = {"type": str(self.tax_id["type"]).strip(), "value": str(self.tax_id["value"]).strip()}
        if not changes and not tax_id:
            raise StripeInputError(
                "nothing to update: give at least one of name, email, phone, address, shipping, tax_id, description"
            )
        return {"customer": customer, "changes": {**changes, **({"tax_id": tax_id} if tax_id else {})}}

    def prepare(self, inputs: dict[str, Any], context: Context) -> dict[str, Any]:
        inputs = super().prepare(inputs, context)
        tax_ids: list[dict[str, Any]] = []
        if "tax_id" in inputs["changes"]:
            listing = self.hook.get_conn().v1.customers.tax_ids.list(inputs["customer"], params={"limit": 100})
            tax_ids = [plain(t) for t in listing.auto_paging_iter()]
        return {**inputs, "tax_ids": tax_ids}

    def describe(self, inputs: dict[str, Any]) -> str:
        return f"an update of {inputs['customer']} ({', '.join(sorted(inputs['changes']))})"

    def _missing(self, inputs: dict[str, Any]) -> dict[str, Any]:
        current = inputs["current"]
        missing: dict[str, Any] = {}
        for field, value in inputs["changes"].items():
            if field == "tax_id":
                if not any(
                    t.get("type") == value["type"] and t.get("value") == value["value"] for t in inputs["tax_ids"]
                ):
                    missing[field] = value
            elif field in ("address", "shipping"):
                if not _contains(current.get(field) or {}, value):
                    missing[field] = value
            elif current.get(field) != value:
                missing[field] = value
        return missing

    def already_applied(self, inputs: dict[str, Any]) -> bool:
        return not self._missing(inputs)

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        client = self.hook.get_conn()
        missing = self._missing(inputs)
        tax_id = missing.pop("tax_id", None)
        customer = inputs["current"]
        if missing:
            # Only the fields that differ are sent, so the keys are known at run time only; each value
            # has the shape validate() checked against Stripe's.
            params = cast("CustomerUpdateParams", missing)
            customer = plain(
                client.v1.customers.update(inputs["customer"], params=params, options=self.request_options(key))
            )
        if tax_id:
            client.v1.customers.tax_ids.create(
                inputs["customer"],
                params=tax_id,
                options={"idempotency_key": f"{key.idempotency_key}/tax_id"},
            )
        self.log.info(
            "Updated %s: %s.", inputs["customer"], ", ".join(sorted([*missing, *(["tax_id"] if tax_id else [])]))
        )
        return customer


def _address(value: Any, field: str) -> dict[str, str]:
    if value in (None, "", {}):
        return {}
    if not isinstance(value, Mapping):
        raise StripeInputError(f"{field} must be a mapping with keys among {', '.join(ADDRESS_FIELDS)}")
    unknown = set(value) - set(ADDRESS_FIELDS)
    if unknown:
        raise StripeInputError(f"{field} has unknown keys {sorted(unknown)}; use {', '.join(ADDRESS_FIELDS)}")
    out = {k: str(v).strip() for k, v in value.items() if v not in (None, "")}
    if "country" in out:
        if len(out["country"]) != 2 or not out["country"].isalpha():
            raise StripeInputError(
                f"{field}.country must be a two-letter ISO code such as 'DE', got {out['country']!r}"
            )
        out["country"] = out["country"].upper()
    return out


def _contains(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for k, v in wanted.items():
        if isinstance(v, Mapping):
            if not _contains(current.get(k) or {}, v):
                return False
        elif current.get(k) != v:
            return False
    return True
