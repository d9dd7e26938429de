"""Dunning: retry the payment of an unpaid invoice up to N attempts spread over a window (R5)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_stripe_automation.batches import BatchReport
from airflow_stripe_automation.errors import StripeActionFailed, StripeInputError, retryable_errors, translate
from airflow_stripe_automation.idempotency import ActionKey, action_key
from airflow_stripe_automation.operators.base import StripeWriteOperator, plain, validate_count, validate_id
from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context
    from stripe.params import InvoicePayParams


class StripeInvoiceRetryOperator(StripeWriteOperator):
    """
    Retry the payment of an open invoice, Smart-Retries style, deferring between attempts.

    Attempt *k* of ``max_attempts`` is due ``window * k / max_attempts`` after the schedule starts:
    with the defaults (8 attempts, 60 days) on days 7.5, 15, 22.5, … 60, so the last attempt lands at
    the end of the window. The schedule starts at ``schedule_start``, the moment the payment failed
    (R5 passes the finder's ``failed_at``), on Stripe's clock, or when the task starts if none is
    given. The first attempt waits one interval because Stripe's own attempt has just failed. A
    task that starts late (a backfill of an old failure, a queue that waited) does not make the
    attempts whose time has passed one after another: it makes one attempt now, in the slot of the
    latest of them (``missed`` counts the others), and keeps the schedule for the rest. Between attempts the task is deferred (``WaitUntilTrigger``: no worker slot held); on
    waking it re-reads the invoice and stops as soon as it is paid — by a retry, by the customer or
    by anyone else — or closed (void, uncollectible).

    A decline is not a task failure: it is logged and the next attempt is scheduled. After the last
    decline the task succeeds with ``outcome="exhausted"``; downstream tasks branch on the result:
    ``{"outcome": "paid" | "exhausted" | "closed", "attempts": n, "paid_by_retry": bool,
    "last_decline_code": …, "status": …, "amount_remaining": …}``.

    Never pays twice: a paid invoice is never paid again, and attempt *k* always sends the key
    (DAG, task, invoice, attempt *k*), so a repeated call, a retried task or a second run over the
    same invoice within Stripe's 24 hours replays the attempt instead of making another. The count
    of attempts lives in the deferral (its kwargs and the trigger's event), not on the operator;
    clearing the task starts a new schedule.

    ``execute()`` reads the invoice and defers until attempt 1 is due (or returns at once if the
    invoice is not open); each ``execute_complete()`` makes one attempt, then returns or defers
    until the next one is due.

    Given a batch of invoices (a sensor's ``batch_size``), each invoice keeps its own schedule and
    keys, and the task holds one deferral for them all: it wakes when the earliest attempt is due,
    makes every attempt due by then (one log line per invoice), and defers again until the next.
    The schedules and the results so far travel in the deferral. An invoice whose attempt fails
    for good (or meets outages 3 times in a row) is reported and the others go on; the task fails
    at the end, naming it. It returns the results in the batch's order.

    :param invoice_id: the open invoice to collect, ``in_…`` (templated)
    :param max_attempts: how many payment attempts at most, 1–25 (templated)
    :param window: the time over which the attempts are spread: a ``timedelta``, or a number of
        days (templated)
    :param payment_method: pay with this ``pm_…`` instead of the invoice's default (templated)
    :param schedule_start: when the schedule starts, on Stripe's clock: unix seconds or an ISO 8601
        moment, e.g. ``"{{ obj.failed_at }}"`` (templated); empty: when the task starts
    :param transient_retry_delay: the wait before repeating an attempt that met a connection error,
        a rate limit or a 5xx (the same attempt, with the same key); after 3 in a row the task fails
    """

    template_fields: Sequence[str] = (
        *StripeWriteOperator.template_fields,
        "invoice_id",
        "max_attempts",
        "window",
        "payment_method",
        "schedule_start",
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
        schedule_start: float | str | None = None,
        transient_retry_delay: timedelta = timedelta(minutes=5),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.invoice_id = invoice_id
        self.max_attempts = max_attempts
        self.window = window
        self.payment_method = payment_method
        self.schedule_start = schedule_start
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
            "schedule_start": _moment(self.schedule_start),
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

    def execute_one(self, context: Context) -> dict[str, Any]:
        started = time.time()
        first = self._begin(context, started)
        if not isinstance(first, _Waiting):
            return first
        # Stripe's own attempt has just failed: attempt 1 waits its turn in the schedule like the rest.
        self._defer_until(first.due, first.progress)

    def _begin(self, context: Context, started: float) -> dict[str, Any] | _Waiting:
        """
        Read the invoice and plan its schedule: the result if there is nothing to do, else the first wait.

        :param context: the task's context (a batch: the object's own)
        :param started: when the task started (unix seconds): the schedule's start unless ``schedule_start`` says
        """
        inputs = self.validate()
        key = action_key(context, object_id=inputs["invoice"], explicit=self.idempotency_key, action_id=self.action_id)
        invoice = self._read(inputs)
        if invoice["status"] == "draft":
            raise StripeActionFailed(f"invoice {invoice['id']} is a draft: finalize it before retrying its payment")
        if inputs["schedule_start"] is not None:
            # Stripe's moment on our clock: the invoice's read told how far Stripe's clock is from ours.
            started = inputs["schedule_start"] - (self.hook.http_client.stripe_lead or 0.0)
        if self.is_dry_run:
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
        progress = _Progress(started=started)
        if invoice["status"] != "open":
            return self._finish(invoice, progress)
        schedule = self.schedule(inputs, started)
        self.log.info(
            "Retrying the payment of invoice %s: %s.",
            invoice["id"],
            ", ".join(f"attempt {k} at {_iso(t)}" for k, t in enumerate(schedule, 1)),
        )
        passed = sum(1 for due in schedule if due <= time.time())
        if passed > 1:
            # Making each passed attempt now would decline the same card again and again within a
            # minute (card networks frown on that): one attempt, in the latest passed slot.
            self.log.info(
                "The schedule started %s: %d attempts were due before this task ran; making attempt %d now.",
                _iso(started),
                passed,
                passed,
            )
            progress = replace(progress, attempts=passed - 1, missed=passed - 1)
        explicit = None if self.idempotency_key in (None, "") else str(self.idempotency_key)
        return _Waiting(inputs=inputs, explicit_key=explicit, progress=progress, due=schedule[max(passed, 1) - 1])

    def execute_complete(self, context: Context, event: Any = None, **kwargs: Any) -> Any:
        """Wake up for the next attempt: re-read the invoice, pay it if still open, then finish or defer."""
        carried = (event.get("state") or {}) if isinstance(event, dict) else {}
        if "batch" in kwargs or "batch" in carried:
            moment = float(event.get("moment", 0)) if isinstance(event, dict) else 0.0
            return self._resume_batch(context, carried.get("batch") or kwargs["batch"], moment)
        progress = _Progress.resumed(kwargs, event)
        inputs = self.validate()
        key = action_key(context, object_id=inputs["invoice"], explicit=self.idempotency_key, action_id=self.action_id)
        try:
            invoice = self._read(inputs)
            # The trigger fired for the attempt that is due now, whatever this host's clock says.
            if invoice["status"] == "open" and progress.attempts < inputs["max_attempts"]:
                invoice, progress = self._attempt(inputs, key, invoice, progress)
            result = self._finish_or_defer(inputs, invoice, progress)
        except Exception:  # a deferral to the next attempt is no Exception: the tally waits for the end
            self.push_tally(context, failed=1)
            raise
        self.push_tally(context, [result])
        return result

    # -- one attempt, then finish or wait for the next -------------------------------------------

    def _next(self, inputs: dict[str, Any], invoice: dict[str, Any], progress: _Progress) -> dict[str, Any] | float:
        """The result if nothing is left to do, else when the next attempt is due (unix seconds)."""
        if invoice["status"] != "open":
            return self._finish(invoice, progress)
        if progress.attempts >= inputs["max_attempts"]:
            self.log.warning(
                "Invoice %s is still unpaid after %d attempts: retries exhausted.", invoice["id"], progress.attempts
            )
            # The policy ended when its window did (the last slot), not when this task got to it: in a
            # backfill or a late run the grace period after it is then already partly or wholly over.
            ended = min(self.schedule(inputs, progress.started)[-1], time.time())
            return self._finish(invoice, progress, outcome="exhausted", ended=ended)
        if progress.transient:
            # The attempt met an outage or a rate limit: the same attempt again soon, not the next slot.
            return time.time() + self.transient_retry_delay.total_seconds()
        return self.schedule(inputs, progress.started)[progress.attempts]

    def _finish_or_defer(self, inputs: dict[str, Any], invoice: dict[str, Any], progress: _Progress) -> dict[str, Any]:
        """Return the result if nothing is left to do, else defer until the next attempt is due."""
        moment = self._next(inputs, invoice, progress)
        if isinstance(moment, dict):
            return moment
        self._defer_until(moment, progress)

    def _defer_until(self, moment: float, progress: _Progress) -> NoReturn:
        """Defer one invoice's schedule until its next attempt is due."""
        self.log.info("Deferring until %s for attempt %d.", _iso(moment), progress.attempts + 1)
        state = progress.as_state()
        # The state goes both ways: the scheduler resumes with the kwargs, dag.test() with the event only.
        self.defer(trigger=WaitUntilTrigger(moment=moment, state=state), method_name="execute_complete", kwargs=state)
        raise AssertionError("defer() does not return")  # pragma: no cover

    # -- a batch: one schedule per invoice, one deferral for them all ----------------------------

    def _execute_batch(self, context: Context, batch: list[Any]) -> list[Any]:
        """Plan each invoice's schedule (those with nothing to do finish now), then wait for the first attempt due."""
        started = time.time()
        report = self._act_on_batch(context, batch, lambda one: self._begin(one, started))
        waiting: dict[int, _Waiting] = {}
        for position, result in enumerate(report.results):
            if isinstance(result, _Waiting):
                waiting[position] = result
                report.settle(position, None)  # its result comes when its schedule ends
        return self._wait_or_finish(context, batch, report, waiting)

    def _resume_batch(self, context: Context, state: dict[str, Any], moment: float) -> list[Any]:
        """Make every attempt due by now (each invoice in turn, one log line each), then wait for the next or finish."""
        report = BatchReport.from_state(state["report"])
        waiting = {int(p): _Waiting.from_state(w) for p, w in state["waiting"].items()}
        # The trigger fired for the earliest attempt due; what this host's clock says cannot make it early.
        now = max(moment, time.time())
        for position, one in sorted(waiting.items()):
            if one.due > now:
                continue
            invoice_id = one.inputs["invoice"]
            try:
                outcome = self._wake(context, one)
            except Exception as err:  # one invoice's failure must neither stop nor hide the others
                self.log.error("%s: failed: %s: %s", invoice_id, type(err).__name__, err)
                report.fail(position, invoice_id, err)
                del waiting[position]
                continue
            if isinstance(outcome, _Waiting):
                waiting[position] = outcome
            else:
                report.settle(position, outcome)
                del waiting[position]
        batch = self._batch_objects()
        return self._wait_or_finish(context, batch if batch is not None else [], report, waiting)

    def _wake(self, context: Context, one: _Waiting) -> dict[str, Any] | _Waiting:
        """One invoice's due attempt: re-read it, pay it if still open; its result, or its next wait."""
        inputs = one.inputs
        key = action_key(context, object_id=inputs["invoice"], explicit=one.explicit_key, action_id=self.action_id)
        invoice = self._read(inputs)
        progress = one.progress
        if invoice["status"] == "open" and progress.attempts < inputs["max_attempts"]:
            invoice, progress = self._attempt(inputs, key, invoice, progress)
        moment = self._next(inputs, invoice, progress)
        return moment if isinstance(moment, dict) else replace(one, progress=progress, due=moment)

    def _wait_or_finish(
        self, context: Context, batch: list[Any], report: BatchReport, waiting: dict[int, _Waiting]
    ) -> list[Any]:
        """Finish the batch when no invoice waits, else defer until the earliest attempt due, carrying the batch."""
        if not waiting:
            return self._finish_batch(context, batch, report)
        moment = min(one.due for one in waiting.values())
        due_then = [one.inputs["invoice"] for one in waiting.values() if one.due <= moment]
        self.log.info(
            "Deferring until %s: the next attempt on %s; %d invoices of the batch still in their schedule.",
            _iso(moment),
            ", ".join(due_then),
            len(waiting),
        )
        state = {
            "batch": {"report": report.as_state(), "waiting": {str(p): one.as_state() for p, one in waiting.items()}}
        }
        self.defer(trigger=WaitUntilTrigger(moment=moment, state=state), method_name="execute_complete", kwargs=state)
        raise AssertionError("defer() does not return")  # pragma: no cover

    def _attempt(
        self, inputs: dict[str, Any], key: ActionKey, invoice: dict[str, Any], progress: _Progress
    ) -> tuple[dict[str, Any], _Progress]:
        """Make attempt ``progress.attempts + 1``; return the invoice after it and the progress made."""
        import stripe

        number = progress.attempts + 1
        try:
            paid = self._pay(inputs, key, number)
        except stripe.CardError as err:
            progress = replace(progress, attempts=number, transient=0, last_decline_code=_decline_code(err))
            self.log.warning(
                "Attempt %d of %d on invoice %s was declined: %s.",
                number,
                inputs["max_attempts"],
                inputs["invoice"],
                progress.last_decline_code,
            )
            return self._read(inputs), progress
        except retryable_errors() as err:
            if progress.transient >= self.MAX_TRANSIENT_ERRORS:
                raise
            self.log.warning(
                "Attempt %d on invoice %s met %s; trying it again later with the same key.",
                number,
                inputs["invoice"],
                type(err).__name__,
            )
            # The request changed nothing: the invoice is as it was read, and the attempt is not counted.
            return invoice, replace(progress, transient=progress.transient + 1)
        except stripe.InvalidRequestError as err:
            invoice = self._read(inputs)
            if invoice["status"] != "open":  # paid or closed between our read and the attempt
                return invoice, progress
            # e.g. no usable payment method: the customer may still fix it before the next attempt
            self.log.warning(
                "Attempt %d of %d on invoice %s was refused: %s.",
                number,
                inputs["max_attempts"],
                inputs["invoice"],
                getattr(err, "user_message", None) or err,
            )
            code = getattr(err, "code", None) or "invalid_request"
            return invoice, replace(progress, attempts=number, transient=0, last_decline_code=code)
        except stripe.StripeError as err:
            raise translate(err, f"attempt {number} to pay invoice {inputs['invoice']}") from err
        if paid["status"] == "paid":
            self.log.info("Attempt %d paid invoice %s.", number, paid["id"])
            return paid, replace(progress, attempts=number, transient=0, paid_by_retry=True)
        self.log.warning("Attempt %d left invoice %s %s.", number, paid["id"], paid["status"])
        return paid, replace(progress, attempts=number, transient=0, last_decline_code=paid["status"])

    def _pay(self, inputs: dict[str, Any], key: ActionKey, number: int) -> dict[str, Any]:
        params: InvoicePayParams = {"off_session": True}
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

    def _finish(
        self, invoice: dict[str, Any], progress: _Progress, outcome: str | None = None, ended: float | None = None
    ) -> dict[str, Any]:
        self._link(invoice)
        if outcome is None:
            outcome = "paid" if invoice["status"] == "paid" else "closed"
        if outcome == "paid" and not progress.paid_by_retry:
            self.log.info("Invoice %s is paid (not by this task's attempts): stopping.", invoice["id"])
        elif outcome == "closed":
            self.log.info("Invoice %s is %s: nothing left to collect, stopping.", invoice["id"], invoice["status"])
        return {
            "invoice": invoice["id"],
            "outcome": outcome,
            # when the policy ended, on this host's clock as the deferrals are: a grace period starts here
            "finished_at": int(time.time() if ended is None else ended),
            "attempts": progress.attempts,
            "missed": progress.missed,
            "paid_by_retry": progress.paid_by_retry,
            "last_decline_code": progress.last_decline_code,
            "status": invoice["status"],
            "amount_due": invoice.get("amount_due"),
            "amount_remaining": invoice.get("amount_remaining"),
            "currency": invoice.get("currency"),
            "customer": invoice.get("customer"),
        }


@dataclass(frozen=True)
class _Progress:
    """
    Where a retry schedule stands between two wake-ups; travels in the deferral, never on the operator.

    :param started: when the schedule started (unix seconds, our clock); attempt *k* is due relative to it
    :param attempts: the schedule's attempts used so far: made (declined or refused ones included) or missed
    :param missed: attempts whose time had passed when the task started, not made (one was made in their stead)
    :param transient: outage or rate-limit errors in a row on the next attempt
    :param last_decline_code: why the last attempt did not pay
    :param paid_by_retry: whether one of this task's attempts paid the invoice
    """

    started: float
    attempts: int = 0
    missed: int = 0
    transient: int = 0
    last_decline_code: str | None = None
    paid_by_retry: bool = False

    def as_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def resumed(cls, kwargs: dict[str, Any], event: Any) -> _Progress:
        """The progress a wake-up carries: the deferral's kwargs, overlaid with the event's copy."""
        state = {**kwargs, **((event.get("state") or {}) if isinstance(event, dict) else {})}
        if "started" not in state:
            raise StripeActionFailed("resumed without the retry schedule's state; clear the task to start again")
        # Deferrals made before this version also carry a "woken" flag: not needed any more.
        return cls(**{f.name: state[f.name] for f in fields(cls) if f.name in state})


@dataclass(frozen=True)
class _Waiting:
    """
    One invoice of a batch between two wake-ups: what its attempts need, where its schedule stands.

    :param inputs: the invoice's validated inputs (rendered once, when the schedule started)
    :param explicit_key: the rendered ``idempotency_key``, if one was given
    :param progress: where the schedule stands
    :param due: when its next attempt is due (unix seconds)
    """

    inputs: dict[str, Any]
    explicit_key: str | None
    progress: _Progress
    due: float

    def as_state(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "explicit_key": self.explicit_key,
            "progress": self.progress.as_state(),
            "due": self.due,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _Waiting:
        return cls(
            inputs=dict(state["inputs"]),
            explicit_key=state.get("explicit_key"),
            progress=_Progress(**state["progress"]),
            due=float(state["due"]),
        )


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
    if not math.isfinite(seconds):
        raise StripeInputError(f"window must be a finite number of days, got {window!r}")
    return seconds


def _moment(value: Any) -> float | None:
    """``schedule_start`` as unix seconds: a number, digits, or an ISO 8601 moment; None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise StripeInputError(f"schedule_start must be unix seconds or an ISO 8601 moment, got {value!r}")


def _decline_code(err: Any) -> str | None:
    error = getattr(err, "error", None)
    return getattr(error, "decline_code", None) or getattr(err, "code", None) or getattr(error, "code", None)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds")
