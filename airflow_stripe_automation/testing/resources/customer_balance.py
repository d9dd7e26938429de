"""Customer balance transactions: create, retrieve, update (description, metadata), list.

As at Stripe, a balance is what the customer owes: a negative ``amount`` credits the customer
(lowers the next invoice), a positive one debits. A transaction applies to the customer's balance
in its ``currency``: when the customer has no ``currency`` yet it takes this one; in the
customer's currency it moves ``customer.balance`` (``customer.updated`` with the old ``balance``
in ``previous_attributes``); in another currency it moves that currency's entry of the customer's
multi-currency ``invoice_credit_balance`` (kept server-side: the fixture's customer has no such
field), and ``ending_balance`` is the balance in the transaction's currency. Setting ``balance``
directly on a customer (create or update) records an ``initial`` / ``adjustment`` transaction for
the difference, so the ledger always adds up. Stripe has no event for balance transactions
themselves. :func:`apply` is the entry point for other families (invoices applying a credit).
"""

from __future__ import annotations

from typing import Any

from .. import currencies, errors
from ..params import LIST_SCHEMA, currency, integer, merge_metadata, metadata, nullable_string, require, string
from ..registry import Ctx, ResourceFamily

family = ResourceFamily("customer_balance")
TYPE = "customer_balance_transaction"
family.object_type(TYPE, indexes=("customer",))

DEFAULT_CURRENCY = "usd"  # the local account's default currency, for balances set without one


def _amount(value: Any, param: str) -> int:
    number = integer()(value, param)
    if abs(number) > currencies.MAXIMUM_AMOUNT:
        raise errors.invalid(
            f"Amount must be no more than {currencies.format_amount(currencies.MAXIMUM_AMOUNT, 'usd')}",
            param,
            "amount_too_large",
        )
    return number


def credit_balances(store, customer: dict[str, Any]) -> dict[str, int]:
    """The customer's balance in every currency (Stripe's ``invoice_credit_balance``, plus the default one)."""
    balances = dict(store.private(customer["id"]).get("invoice_credit_balance", {}))
    if customer["currency"]:
        balances[customer["currency"]] = customer["balance"]
    return balances


def balance_in(store, customer: dict[str, Any], currency_code: str) -> int:
    return credit_balances(store, customer).get(currency_code, 0)


def record(
    store,
    customer: dict[str, Any],
    amount: int,
    currency_code: str,
    ending_balance: int,
    *,
    type: str = "adjustment",
    description: str | None = None,
    metadata_: dict[str, str] | None = None,
    invoice: str | None = None,
    credit_note: str | None = None,
) -> dict[str, Any]:
    """Store a transaction without touching the customer (for a balance the caller already changed)."""
    return store.create(
        TYPE,
        amount=amount,
        credit_note=credit_note,
        currency=currency_code,
        customer=customer["id"],
        customer_account=None,
        checkout_session=None,
        description=description,
        ending_balance=ending_balance,
        invoice=invoice,
        metadata=dict(metadata_ or {}),
        type=type,
    )


def apply(
    ctx: Ctx,
    customer: dict[str, Any],
    amount: int,
    currency_code: str,
    *,
    type: str = "adjustment",
    description: str | None = None,
    metadata_: dict[str, str] | None = None,
    invoice: str | None = None,
    credit_note: str | None = None,
) -> dict[str, Any]:
    """Move the customer's balance in ``currency_code`` by ``amount`` and record the transaction."""
    store = ctx.store
    changes: dict[str, Any] = {}
    if customer["currency"] is None:
        changes["currency"] = currency_code
    if (customer["currency"] or currency_code) == currency_code:
        ending = customer["balance"] + amount
        changes["balance"] = ending
    else:
        others = store.private(customer["id"]).setdefault("invoice_credit_balance", {})
        ending = others.get(currency_code, 0) + amount
        others[currency_code] = ending
    previous = store.update(customer, changes)
    txn = record(
        store,
        customer,
        amount,
        currency_code,
        ending,
        type=type,
        description=description,
        metadata_=metadata_,
        invoice=invoice,
        credit_note=credit_note,
    )
    if previous:
        ctx.emit("customer.updated", customer, previous)
    return txn


def balance_set(ctx: Ctx, customer: dict[str, Any], old: int, initial: bool = False) -> None:
    """``balance`` was set directly on the customer (already stored): record the difference."""
    delta = customer["balance"] - old
    if delta:
        record(
            ctx.store,
            customer,
            delta,
            customer["currency"] or DEFAULT_CURRENCY,
            customer["balance"],
            type="initial" if initial else "adjustment",
        )


def _customer(ctx: Ctx) -> dict[str, Any]:
    return ctx.store.require("customer", ctx.args["customer"])


def _transaction(ctx: Ctx, customer: dict[str, Any]) -> dict[str, Any]:
    txn = ctx.store.require(TYPE, ctx.args["id"])
    if txn["customer"] != customer["id"]:
        raise errors.no_such(TYPE, txn["id"])
    return txn


@family.post("/v1/customers/{customer}/balance_transactions")
def create_transaction(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    p = ctx.validate({"amount": _amount, "currency": currency, "description": string, "metadata": metadata})
    require(p, "amount", "currency")
    return apply(
        ctx,
        customer,
        p["amount"],
        p["currency"],
        description=p.get("description") or None,
        metadata_={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
    )


@family.get("/v1/customers/{customer}/balance_transactions/{id}")
def retrieve_transaction(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    ctx.validate({})
    return _transaction(ctx, customer)


@family.post("/v1/customers/{customer}/balance_transactions/{id}")
def update_transaction(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    txn = _transaction(ctx, customer)
    p = ctx.validate({"description": nullable_string, "metadata": metadata})
    changes: dict[str, Any] = {}
    if "description" in p:
        changes["description"] = p["description"]
    if "metadata" in p:
        changes["metadata"] = merge_metadata(txn["metadata"] or {}, p["metadata"], p["metadata"] is None)
    ctx.store.update(txn, changes)  # Stripe has no event for this
    return txn


@family.get("/v1/customers/{customer}/balance_transactions")
def list_transactions(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    q = ctx.validate({**LIST_SCHEMA, "invoice": string})
    where = {"customer": customer["id"], "invoice": q.get("invoice")}
    return ctx.page(TYPE, q, where=where, url=f"/v1/customers/{customer['id']}/balance_transactions")
