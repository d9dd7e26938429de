"""Human approval of big money moves: the threshold, a person's decisions, and the check an action makes.

A money-moving action (a charge, a refund, a credit, a cancellation) given ``approval_above``
(``{"amount": 50000, "currency": "usd"}``) acts on an object whose amount is above it only when a
person approved that object in the Airflow UI. The asking is done by
:class:`~airflow_stripe_automation.operators.approval.StripeApprovalOperator`, a human-in-the-loop
task of Airflow's standard provider placed before the action; its result (:func:`decisions_xcom`)
is what the action reads here. The action is the authority: it compares its own amount with the
threshold, so an approval task left out, answered for a smaller amount or for another currency
holds the object rather than letting it through.

An amount in another currency than the threshold's cannot be compared without an exchange rate,
so it needs approval too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.money import InvalidMoneyError, format_money, normalize_currency, validate_amount
from airflow_stripe_automation.rendered import is_unset

#: The answers of the approval form, and the one a timed-out request takes.
APPROVE, REJECT = "Approve", "Reject"


class StripeNotApproved(AirflowSkipException):
    """An object above the approval threshold that no person approved: nothing is written for it."""


@dataclass(frozen=True)
class Threshold:
    """
    Amounts above this need a person's approval.

    :param amount: minor units of ``currency``
    :param currency: lowercase ISO code
    """

    amount: int
    currency: str

    def __str__(self) -> str:
        return format_money(self.amount, self.currency)

    def needs_approval(self, amount: int, currency: str) -> bool:
        """Whether moving ``amount`` of ``currency`` waits for a person (another currency always does)."""
        return currency.lower() != self.currency or amount > self.amount


def validate_threshold(value: Any, field: str = "approval_above") -> Threshold | None:
    """
    Return ``value`` (``{"amount": …, "currency": …}``, rendered) as a :class:`Threshold`, ``None`` if unset.

    :param value: the argument; an unset one (``None``, ``""``, an unset template) means no approval
    :param field: the argument, for the message
    :raises StripeInputError: before any call to Stripe, for anything else than an amount and a currency
    """
    if is_unset(value):
        return None
    if not isinstance(value, Mapping) or set(value) - {"amount", "currency"} or "amount" not in value:
        raise StripeInputError(
            f"{field} must be a mapping of amount (minor units) and currency, e.g. "
            f'{{"amount": 50000, "currency": "usd"}}, got {value!r}'
        )
    if is_unset(value["amount"]):
        return None  # a recipe's optional threshold left empty: no approval asked
    try:
        currency = normalize_currency(value.get("currency"))
        amount = validate_amount(value["amount"], currency, field=f"{field}.amount")
    except InvalidMoneyError as err:
        raise StripeInputError(str(err)) from None
    return Threshold(amount, currency)


@dataclass(frozen=True)
class Decision:
    """
    What a person decided about one object, as the approval task hands it on.

    :param approved: whether the action may go ahead
    :param amount: the amount the person saw (minor units)
    :param currency: its currency
    :param by: who answered (``None`` when the request timed out)
    :param at: when (ISO 8601)
    :param timed_out: no answer came within the request's timeout: taken as rejected
    """

    approved: bool
    amount: int
    currency: str
    by: str | None = None
    at: str | None = None
    timed_out: bool = False

    def as_xcom(self) -> dict[str, Any]:
        return {
            "approved": self.approved,
            "amount": self.amount,
            "currency": self.currency,
            "by": self.by,
            "at": self.at,
            "timed_out": self.timed_out,
        }

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any]) -> Decision:
        return cls(
            approved=bool(value.get("approved")),
            amount=int(value.get("amount") or 0),
            currency=str(value.get("currency") or ""),
            by=value.get("by"),
            at=value.get("at"),
            timed_out=bool(value.get("timed_out")),
        )

    def why_not(self) -> str:
        """Why the action does not go ahead, in words for the log and the task's skip."""
        if self.timed_out:
            return f"no one answered the approval request by {self.at or 'its timeout'} (timed out: rejected)"
        return f"rejected by {self.by or 'a person'}" + (f" at {self.at}" if self.at else "")


def decisions_xcom(decisions: Mapping[str, Decision], held: int) -> dict[str, Any]:
    """The approval task's result: each held object's decision by its id, and the counts."""
    approved = sum(1 for d in decisions.values() if d.approved)
    return {
        "held": held,
        "approved": approved,
        "rejected": len(decisions) - approved,
        "decisions": {object_id: d.as_xcom() for object_id, d in decisions.items()},
    }


def check_approval(
    threshold: Threshold | None, amount: int | None, currency: str | None, object_id: str, approval: Any, what: str
) -> str | None:
    """
    Let an action go ahead, or raise :class:`StripeNotApproved` saying why not.

    :param threshold: the action's ``approval_above``
    :param amount: what the action moves, minor units (``None``: nothing to compare, no approval)
    :param currency: its currency
    :param object_id: what the action acts on, as the approval task names it (the run id when the
        run is the object)
    :param approval: the approval task's result (:func:`decisions_xcom`), or ``None``
    :param what: the action in words, for the message
    :returns: ``None`` when no approval is needed, else a line saying who approved it
    """
    if threshold is None or amount is None or not currency or not threshold.needs_approval(amount, currency):
        return None
    above = f"{what} is above {threshold}, the amount that needs a person's approval"
    decisions = approval.get("decisions") if isinstance(approval, Mapping) else None
    given = decisions.get(object_id) if isinstance(decisions, Mapping) else None
    if not isinstance(given, Mapping):
        raise StripeNotApproved(f"{above}, and no approval was given for {object_id}: nothing done")
    decision = Decision.from_xcom(given)
    if not decision.approved:
        raise StripeNotApproved(f"{above}: {decision.why_not()}; nothing done")
    if decision.currency != currency.lower() or decision.amount < amount:
        seen = format_money(decision.amount, decision.currency) if decision.currency else "another amount"
        raise StripeNotApproved(
            f"{above}: the approval was for {seen}, not {format_money(amount, currency)}; nothing done"
        )
    return f"approved by {decision.by or 'a person'}" + (f" at {decision.at}" if decision.at else "")
