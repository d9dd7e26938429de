"""Radar early fraud warnings: list (``charge``, ``payment_intent``, ``created``) and retrieve.

Stripe creates early fraud warnings itself when a card issuer reports fraud on a charge; there is
no API to create one. Tests make them with ``LocalStripeServer.create_early_fraud_warning(...)``
or ``POST /_testing/early_fraud_warnings`` (form ``charge``, ``fraud_type``, ``actionable``), which
emit ``radar.early_fraud_warning.created`` like Stripe (an event without a request). As at Stripe,
a warning is ``actionable`` only while its charge is neither fully refunded nor disputed: a refund
that completes the charge's refund flips it to false with ``radar.early_fraud_warning.updated``.
Warnings carry ``payment_intent`` (the charge's, expandable) although Stripe's fixture example
lacks it: the API and the pinned SDK (``EarlyFraudWarning.payment_intent``) have it, and code
reading it must not be told ``None`` by a fake.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..params import LIST_SCHEMA, boolean, enum, require, string
from ..registry import Ctx, ResourceFamily

family = ResourceFamily("radar")
TYPE = "radar.early_fraud_warning"
family.object_type(TYPE, indexes=("charge",))

FRAUD_TYPES = (
    "card_never_received",
    "fraudulent_card_application",
    "made_with_counterfeit_card",
    "made_with_lost_card",
    "made_with_stolen_card",
    "misc",
    "unauthorized_use_of_card",
)


def _settled(charge: dict[str, Any]) -> bool:
    return bool(charge["refunded"] or charge["disputed"])


def create_warning(
    store, charge_id: Any, fraud_type: str = "made_with_stolen_card", actionable: bool = True
) -> dict[str, Any]:
    """What Stripe does when an issuer reports fraud on ``charge_id`` (raises StripeError if it cannot)."""
    if fraud_type not in FRAUD_TYPES:
        raise errors.invalid(f"Invalid fraud_type: must be one of {', '.join(FRAUD_TYPES)}", "fraud_type")
    charge = store.require("charge", charge_id, "charge")
    if charge["status"] != "succeeded":
        raise errors.invalid(
            f"Charge {charge['id']} has a status of {charge['status']}: issuers only report fraud on successful "
            "charges.",
            "charge",
        )
    warning = store.build(
        TYPE, actionable=bool(actionable) and not _settled(charge), charge=charge["id"], fraud_type=fraud_type
    )
    warning["payment_intent"] = charge["payment_intent"]  # Stripe's field, missing from its fixture
    store.insert(TYPE, warning)
    store.emit(f"{TYPE}.created", warning)
    return warning


def charge_settled(ctx: Ctx, charge: dict[str, Any]) -> None:
    """The charge was fully refunded (or disputed): its warnings are no longer actionable."""
    if not _settled(charge):
        return
    warnings, _ = ctx.store.page(TYPE, where={"charge": charge["id"]}, limit=1_000_000)
    for warning in reversed(warnings):
        if warning["actionable"]:
            previous = ctx.store.update(warning, {"actionable": False})
            ctx.emit(f"{TYPE}.updated", warning, previous)


@family.get("/v1/radar/early_fraud_warnings")
def list_warnings(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate({**LIST_SCHEMA, "charge": string, "payment_intent": string})
    return ctx.page(TYPE, q, where={"charge": q.get("charge"), "payment_intent": q.get("payment_intent")})


@family.get("/v1/radar/early_fraud_warnings/{id}")
def retrieve_warning(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require(TYPE, ctx.args["id"])


@family.control("POST", "/_testing/early_fraud_warnings")
def create_warning_over_http(ctx: Ctx) -> dict[str, Any]:
    p = ctx.validate({"charge": string, "fraud_type": enum(*FRAUD_TYPES), "actionable": boolean})
    require(p, "charge")
    return create_warning(
        ctx.store, p["charge"], p.get("fraud_type", "made_with_stolen_card"), p.get("actionable", True)
    )
