"""Dunning: retry the payment of an unpaid invoice up to N attempts spread over a window (R5)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_stripe_automation.errors import StripeActionFailed, StripeInputError, retryable_errors, translate
from airflow_stripe_automation.idempotency import ActionKey, action_key
from airflow_stripe_automation.operators.base import StripeWriteOperator, plain, validate_count, validate_id

if TYPE_CHECKING:
    from airflow.sdk import Context


class StripeInvoiceRetryOperator(StripeWriteOperator):
    """
    Retry the payment of an open invoice, Smart-Retries style, deferring between attempts.

    Attempt *k* of ``max_attempts`` is due ``window * k / max_attempts`` after the task starts: with
    the defaults (8 attempts, 60 days) on days 7.5, 15, 22.5, … 60, so the last attempt lands at the
    end of the window. The first attempt waits one interval because Stripe's own attempt has just
    failed. Between attempts the task is deferred (``WaitUntilTrigger``: no worker slot held); on
    waking it re-reads the invoice and stops as soon as it is paid — by a retry, by the customer or
    by anyone else — or closed (void, uncollectible).

    A decline is not a task failure: it is logged and the next attempt is scheduled. After the last
    decline the task succeeds with ``outcome="exhausted"``; downstream tasks branch on the result:
    ``{"outcome": "paid" | "exhausted" | "closed", "attempts": n, "paid_by_retry": bool,
    "last_decline_code": …, "status": …, "amount_remaining": …}``.

    Never pays twice: a paid invoice is never paid again, and attempt *k* always sends the key
    (DAG, task, invoice, attempt *k*), so a repeated call, a retried task or a second run over the
    same invoice within Stripe's 24 hours replays the attempt instead of making another. The count
    of attempts lives in the deferral's kwargs; clearing the task starts a new schedule.

    :param invoice_id: the open invoice to collect, ``in_…`` (templated)
    :param max_attempts: how many payment attempts at most, 1–25 (templated)
    :param window: the time over which the attempts are spread: a ``timedelta``, or a number of
        days (templated)
    :param payment_method: pay with this ``pm_…`` instead of the invoice's default (templated)
    :param transient_retry_delay: the wait before repeating an attempt that met a connection error,
        a rate limit or a 5xx (the same attempt, with the same key); after 3 in a row the task fails
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "invoice_id",
        "max_attempts",
        "window",
        "payment_method",
    )
    action = "invoice payment retry"

    MAX_TRANSIENT_ERRORS = 3

    def __init__(
        self,
        *,
        invoice_id: str,
        max_attempts: int | str = 8,
        window: timedelta | float | str = timedelta(days=60),
        payment_method: str | None = None,
        transient_retry_delay: timedelta = timedelta(minutes=5),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.invoice_id = invoice_id
        self.max_attempts = max_attempts
        self.window = window
        self.payment_method = payment_method
        self.transient_retry_delay = transient_retry_delay

    def validate(self) -> dict[str, Any]:
        invoice = validate_id(self.invoice_id, "in_", "invoice_id")
        attempts = validate_count(self.max_attempts, "max_attempts")
        if attempts > 25:
            raise StripeInputError(f"max_attempts must be at most 25, got {attempts}")
        return {
            "invoice": invoice,
            "max_attempts": attempts,
            "window_seconds": _window_seconds(self.window),
            "payment_method": validate_id(self.payment_method, "pm_", "payment_method", required=False),
        }

    def object_id(self, inputs: dict[str, Any]) -> str:
        return inputs["invoice"]

    def describe(self, inputs: dict[str, Any]) -> str:
        days = inputs["window_seconds"] / 86400
        return f"up to {inputs['max_attempts']} payment attempts on invoice {inputs['invoice']} over {days:g} days"

    def schedule(self, inputs: dict[str, Any], started: float) -> list[float]:
        """The due times (epoch seconds) of the attempts, the last one at the end of the window."""
        n, window = inputs["max_attempts"], inputs["window_seconds"]
        return [started + window * k / n for k in range(1, n + 1)]

    def execute(self, context: Context) -> dict[str, Any]:
        inputs = self.validate()
        started = time.time()
        key = action_key(context, object_id=inputs["invoice"], explicit=self.idempotency_key)
        invoice = self._read(inputs)
        if invoice["status"] == "draft":
            raise StripeActionFailed(f"invoice {invoice['id']} is a draft: finalize it before retrying its payment")
        if self.dry_run:
            due = [_iso(t) for t in self.schedule(inputs, started)]
            self.log.info(
                "Dry run: would make %s (invoice is %s), at %s; nothing sent.",
                self.describe(inputs),
                invoice["status"],
                ", ".join(due),
            )
            return {
                "dry_run": True,
                "action": self.action,
                "would": self.describe(inputs),
                "schedule": due,
                "status": invoice["status"],
                "idempotency_key": key.step("attempt", "1").idempotency_key,
            }
        self.log.info(
            "Retrying the payment of invoice %s: %s.",
            invoice["id"],
            ", ".join(f"attempt {k} at {_iso(t)}" for k, t in enumerate(self.schedule(inputs, started), 1)),
        )
        return self._continue(inputs, key, invoice, {"attempts": 0, "started": started})

    def execute_complete(self, context: Context, event: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Wake up for the next attempt: re-read the invoice, pay it if still open, defer or finish."""
        # The state comes back in the kwargs (scheduler) and in the event (dag.test() drops the kwargs).
        state = {**kwargs, **((event.get("state") or {}) if isinstance(event, dict) else {})}
        if "started" not in state:
            raise StripeActionFailed("resumed without the retry schedule's state; clear the task to start again")
        inputs = self.validate()
        key = action_key(context, object_id=inputs["invoice"], explicit=self.idempotency_key)
        return self._continue(inputs, key, self._read(inputs), state)

    # -- the loop --------------------------------------------------------------------------------

    def _continue(
        self, inputs: dict[str, Any], key: ActionKey, invoice: dict[str, Any], state: dict[str, Any]
    ) -> dict[str, Any]:
        import stripe

        state = {"attempts": 0, "transient": 0, "last_decline_code": None, "paid_by_retry": False, **state}
        # Woken by the trigger: the attempt it waited for is due now (whatever this host's clock says).
        woken = state.pop("woken", False)
        due = self.schedule(inputs, state["started"])
        while True:
            if invoice["status"] != "open":
                return self._finish(invoice, state)
            if state["attempts"] >= inputs["max_attempts"]:
                self.log.warning(
                    "Invoice %s is still unpaid after %d attempts: retries exhausted.", invoice["id"], state["attempts"]
                )
                return self._finish(invoice, state, outcome="exhausted")
            number = state["attempts"] + 1
            if not woken and due[number - 1] > time.time():
                self._sleep_until(due[number - 1], state, f"attempt {number}")
            woken = False
            try:
                invoice = self._attempt(inputs, key, number)
            except stripe.CardError as err:
                state.update(attempts=number, transient=0, last_decline_code=_decline_code(err))
                self.log.warning(
                    "Attempt %d of %d on invoice %s was declined: %s.",
                    number,
                    inputs["max_attempts"],
                    inputs["invoice"],
                    state["last_decline_code"],
                )
                invoice = self._read(inputs)
                continue
            except retryable_errors() as err:
                state["transient"] += 1
                if state["transient"] > self.MAX_TRANSIENT_ERRORS:
                    raise
                self.log.warning(
                    "Attempt %d on invoice %s met %s; trying it again later with the same key.",
                    number,
                    inputs["invoice"],
                    type(err).__name__,
                )
                self._sleep_until(time.time() + self.transient_retry_delay.total_seconds(), state, f"attempt {number}")
            except stripe.InvalidRequestError as err:
                invoice = self._read(inputs)
                if invoice["status"] != "open":  # paid or closed between our read and the attempt
                    continue
                # e.g. no usable payment method: the customer may still fix it before the next attempt
                state.update(
                    attempts=number, transient=0, last_decline_code=getattr(err, "code", None) or "invalid_request"
                )
                self.log.warning(
                    "Attempt %d of %d on invoice %s was refused: %s.",
                    number,
                    inputs["max_attempts"],
                    inputs["invoice"],
                    getattr(err, "user_message", None) or err,
                )
                continue
            except stripe.StripeError as err:
                raise translate(err, f"attempt {number} to pay invoice {inputs['invoice']}") from err
            state.update(attempts=number, transient=0)
            if invoice["status"] == "paid":
                state["paid_by_retry"] = True
                self.log.info("Attempt %d paid invoice %s.", number, invoice["id"])
            else:
                self.log.warning("Attempt %d left invoice %s %s.", number, invoice["id"], invoice["status"])
                state["last_decline_code"] = invoice["status"]

    def _sleep_until(self, moment: float, state: dict[str, Any], what: str) -> None:
        from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

        self.log.info("Deferring until %s for %s.", _iso(moment), what)
        woken = {**state, "woken": True}
        self.defer(
            trigger=WaitUntilTrigger(moment=moment, state=woken),
            method_name="execute_complete",
            kwargs=woken,
        )

    def _attempt(self, inputs: dict[str, Any], key: ActionKey, number: int) -> dict[str, Any]:
        params: dict[str, Any] = {"off_session": True}
        if inputs["payment_method"]:
            params["payment_method"] = inputs["payment_method"]
        attempt_key = key.step("attempt", str(number))
        self.log.info(
            "Attempt %d of %d to pay invoice %s (idempotency key %s).",
            number,
            inputs["max_attempts"],
            inputs["invoice"],
            attempt_key.idempotency_key,
        )
        return plain(
            self.hook.get_conn().v1.invoices.pay(
                inputs["invoice"], params=params, options={"idempotency_key": attempt_key.idempotency_key}
            )
        )

    def _read(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import stripe

        try:
            return plain(self.hook.get_conn().v1.invoices.retrieve(inputs["invoice"]))
        except stripe.StripeError as err:
            raise translate(err, f"reading invoice {inputs['invoice']}") from err

    def _finish(self, invoice: dict[str, Any], state: dict[str, Any], outcome: str | None = None) -> dict[str, Any]:
        self._link(invoice)
        if outcome is None:
            outcome = "paid" if invoice["status"] == "paid" else "closed"
        if outcome == "paid" and not state["paid_by_retry"]:
            self.log.info("Invoice %s is paid (not by this task's attempts): stopping.", invoice["id"])
        elif outcome == "closed":
            self.log.info("Invoice %s is %s: nothing left to collect, stopping.", invoice["id"], invoice["status"])
        return {
            "invoice": invoice["id"],
            "outcome": outcome,
            # when the policy ended: a grace period after it starts here
            "finished_at": int(time.time()),
            "attempts": state["attempts"],
            "paid_by_retry": state["paid_by_retry"],
            "last_decline_code": state["last_decline_code"],
            "status": invoice["status"],
            "amount_due": invoice.get("amount_due"),
            "amount_remaining": invoice.get("amount_remaining"),
            "currency": invoice.get("currency"),
            "customer": invoice.get("customer"),
        }


# -- input helpers -----------------------------------------------------------------------------


def _window_seconds(window: Any) -> float:
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window) * 86400
    elif isinstance(window, str):
        try:
            seconds = float(window.strip()) * 86400
        except ValueError:
            raise StripeInputError(f"window must be a timedelta or a number of days, got {window!r}") from None
    else:
        raise StripeInputError(f"window must be a timedelta or a number of days, got {window!r}")
    if not seconds > 0:
        raise StripeInputError(f"window must be longer than zero, got {window!r}")
    return seconds


def _decline_code(err: Any) -> str | None:
    error = getattr(err, "error", None)
    return getattr(error, "decline_code", None) or getattr(err, "code", None) or getattr(error, "code", None)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds")
