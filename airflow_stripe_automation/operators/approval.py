"""A person approves big money moves before they happen: Airflow's human-in-the-loop form, for Stripe objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_stripe_automation.approval import (
    APPROVE,
    REJECT,
    Decision,
    Threshold,
    decisions_xcom,
    validate_threshold,
)
from airflow_stripe_automation.batches import BATCH_POSITION, object_label
from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.money import InvalidMoneyError, format_money, normalize_currency, parse_minor_units
from airflow_stripe_automation.object_types import dashboard_path
from airflow_stripe_automation.operators.base import StripeBaseOperator
from airflow_stripe_automation.rendered import OBJECT_NAME, is_unset

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How long a request waits for an answer by default; no answer counts as a rejection.
DEFAULT_RESPONSE_TIMEOUT = timedelta(days=1)


class StripeApprovalOperator(StripeBaseOperator, HITLOperator):
    """
    Ask a person, in the Airflow UI, to approve what an action would do above a threshold.

    Placed before a money-moving action (a charge, a refund, a credit, a cancellation) and given the
    same ``stripe_object`` and ``condition``: the objects the action would act on whose amount is
    above ``approval_above`` (or in another currency) are shown in one request of Airflow's
    human-in-the-loop form (Airflow's *Required actions*), each with its amount formatted and its
    Stripe dashboard link, to approve or reject. The task waits in the ``awaiting_input`` state
    until someone answers; no answer within ``response_timeout`` counts as a rejection. When no
    object is above the threshold the task finishes at once and asks nobody.

    Its result is each held object's decision (:func:`~airflow_stripe_automation.approval.decisions_xcom`),
    which the action reads through its ``approval`` argument: an approved object is acted on once, with
    the action's usual key; a rejected or unanswered one is not written at all, and the action's log
    and the run's summary say so. A batch is one request: its held objects are approved or rejected
    together (a batch size of 1 asks per object).

    :param approval_above: ``{"amount": minor units, "currency": "usd"}``; above it a person decides (templated)
    :param amount: the amount the action moves, minor units, per object (templated; default the object's ``amount``)
    :param currency: its currency (templated; default the object's ``currency``)
    :param object_id: what the action acts on, as the action names it: the charge a refund is of, the
        customer credited, the subscription canceled, or ``{{ run_id }}`` when the run is the object
        (a lead's charge) (templated; default the object's ``id``)
    :param what: the action in words for the form, per object (templated; default
        ``"<action_name> of <amount> on <object_id>"``)
    :param customer: the customer the form names and links (templated; default the object's ``customer``)
    :param action_name: what the action does, for the form's subject ("refund", "charge")
    :param response_timeout: how long to wait for an answer; then rejected (default one day)
    :param subject: the form's title; by default it names what is held ("Approve a refund of $900.00 on ch_…?")
    """

    template_fields: Sequence[str] = (
        *StripeBaseOperator.template_fields,
        "approval_above",
        "amount",
        "currency",
        "object_id",
        "what",
        "customer",
    )
    template_fields_renderers = {**StripeBaseOperator.template_fields_renderers, "approval_above": "json"}
    ui_color = "#f5a623"
    operator_extra_links = ()  # type: ignore[assignment]  # no link of its own: the form shows each object's
    #: the form's answers, which this operator gives Airflow's HITLOperator itself (a recipe gives neither)
    supplied_arguments: ClassVar[frozenset[str]] = frozenset({"options", "defaults", "multiple"})

    def __init__(
        self,
        *,
        approval_above: Mapping[str, Any] | str | None,
        amount: int | str | None = None,
        currency: str | None = None,
        object_id: str | None = None,
        what: str | None = None,
        customer: str | None = None,
        action_name: str = "action",
        response_timeout: timedelta | None = DEFAULT_RESPONSE_TIMEOUT,
        subject: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            subject=subject or "",  # empty: written when the task knows what it holds
            options=[APPROVE, REJECT],
            defaults=[REJECT],  # what a request that times out takes: nothing is done
            response_timeout=response_timeout,
            **kwargs,
        )
        self.approval_above = approval_above
        self.amount = amount
        self.currency = currency
        self.object_id = object_id
        self.what = what
        self.customer = customer
        self.action_name = action_name

    def pre_execute(self, context: Any) -> None:
        # Not the Stripe operators' skip on an unmet condition: the action after this task must run for
        # the objects below the threshold, so an object the action would not act on is simply not asked about.
        HITLOperator.pre_execute(self, context)

    # -- asking ------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Finish at once when nothing is above the threshold, else write the request and wait for a person."""
        held, threshold = self._held(context)
        if threshold is None or not held:
            self.log.info(
                "Nothing to approve: %s.",
                "no approval_above given" if threshold is None else f"no {self.action_name} above {threshold}",
            )
            return decisions_xcom({}, 0)
        subject, self.body = self._request(held, threshold)
        self.subject = self.subject or subject
        for one in held:
            self.log.info("%s: waiting for a person's approval of %s.", one["label"], one["what"])
        return HITLOperator.execute(self, context)  # parks the task in awaiting_input

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """A person answered (or the request timed out): each held object's decision, logged one line each."""
        held, _ = self._held(context)  # the same objects as asked about: the same XComs, rendered again
        answer = HITLOperator.execute_complete(self, context, event)  # a timeout without an answer raises
        approved = APPROVE in answer["chosen_options"]
        user = answer.get("responded_by_user")
        by = (user.get("name") or user.get("id")) if isinstance(user, Mapping) else None
        responded = answer.get("responded_at")
        at = responded.isoformat() if hasattr(responded, "isoformat") else (str(responded) if responded else None)
        timed_out = bool(event.get("timedout"))
        decisions = {}
        for one in held:
            decision = Decision(approved, one["amount"], one["currency"], by=by, at=at, timed_out=timed_out)
            decisions[one["object_id"]] = decision
            self.log.info(
                "%s: %s %s.",
                one["label"],
                one["what"],
                "approved by " + (by or "a person") if approved else decision.why_not(),
            )
        return decisions_xcom(decisions, len(held))

    # -- what is held --------------------------------------------------------------------------

    def _held(self, context: Context) -> tuple[list[dict[str, Any]], Threshold | None]:
        """The objects the action would act on whose amount needs approval (what the form shows), and the threshold."""
        batch = self._batch_objects()
        if batch is None:
            threshold = validate_threshold(self.approval_above)
            obj = self.stripe_object if isinstance(self.stripe_object, Mapping) else {}
            if threshold is None or not self.condition_holds(obj):
                return [], threshold
            one = self._hold_one(threshold, obj, 0)
            return ([one] if one else []), threshold

        # A batch's templates are rendered per object, the threshold's too: it is read with each object.
        thresholds: list[Threshold | None] = []

        def hold(one: Any) -> dict[str, Any]:  # one object's context, with obj and its batch position
            threshold = validate_threshold(self.approval_above)
            thresholds.append(threshold)
            if threshold is None:
                _not_held()
            return self._hold_one(threshold, one[OBJECT_NAME], one[BATCH_POSITION]) or _not_held()

        report = self._act_on_batch(context, batch, hold)
        if report.failures:
            raise StripeInputError(report.failure_message())
        given = next((t for t in thresholds if t is not None), None)
        return [one for one in report.results if one], given

    def _hold_one(self, threshold: Threshold, obj: Mapping[str, Any], position: int) -> dict[str, Any] | None:
        """One object (its templates rendered): what the form shows of it, or ``None`` when it is not above."""
        # Unset: the object's own (a charge's amount, currency and id), as a refund of it in full moves.
        given_id = obj.get("id") if self.object_id is None else self.object_id
        if is_unset(given_id):
            raise StripeInputError("object_id rendered empty: the approval must name what the action acts on")
        try:
            currency = normalize_currency(obj.get("currency") if self.currency is None else self.currency)
            amount = parse_minor_units(obj.get("amount") if self.amount is None else self.amount)
        except InvalidMoneyError as err:
            raise StripeInputError(str(err)) from None
        if not threshold.needs_approval(amount, currency):
            return None
        object_id = str(given_id).strip()
        what = (
            str(self.what)
            if not is_unset(self.what)
            else f"{self.action_name} of {format_money(amount, currency)} on {object_id}"
        )
        return {
            "object_id": object_id,
            "amount": amount,
            "currency": currency,
            "what": what,
            "label": object_label(obj, position) if obj else object_id,
            "stripe_id": obj.get("id") if obj else None,
            "customer": (obj.get("customer") if obj else None)
            if is_unset(self.customer)
            else str(self.customer).strip(),
        }

    def _request(self, held: list[dict[str, Any]], threshold: Threshold) -> tuple[str, str]:
        """The form's subject and body (Markdown): the objects, their amounts formatted and dashboard links."""
        if len(held) == 1:
            subject = f"Approve {held[0]['what']}?"
        else:
            subject = f"Approve {len(held)} Stripe {self.action_name}s above {threshold}?"
        rows = []
        for one in held:
            path = dashboard_path(one["stripe_id"]) if one["stripe_id"] else None
            link = f"[{one['stripe_id']}]({self.hook.dashboard_url(path)})" if path else (one["stripe_id"] or "—")
            customer = one["customer"]
            customer_path = dashboard_path(customer) if customer and str(customer).startswith("cus_") else None
            if customer_path:
                customer = f"[{customer}]({self.hook.dashboard_url(customer_path)})"
            rows.append(
                f"| {one['what']} | {format_money(one['amount'], one['currency'])} | {customer or '—'} | {link} |"
            )
        timeout = _duration(self.response_timeout) if self.response_timeout else "no time limit"
        body = "\n".join(
            [
                f"Above **{threshold}** a person approves each Stripe {self.action_name} before it is made.",
                f"**{APPROVE}**: what is listed below is done, once. **{REJECT}**, or no answer within "
                f"{timeout}: nothing listed is written.",
                "",
                "| What | Amount | Customer | Stripe dashboard |",
                "| --- | --- | --- | --- |",
                *rows,
            ]
        )
        return subject, body


def _not_held() -> NoReturn:
    raise AirflowSkipException("not above the threshold: no approval needed")


def _duration(span: timedelta) -> str:
    """A timeout in words: ``1 day``, ``2 hours``, ``90 minutes``."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
