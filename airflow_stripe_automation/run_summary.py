"""What a DAG run did to Stripe, at a glance: each task's tally, and the run's summary made of them.

Every Stripe task that acts (charges, refunds, credits, mails, …) pushes a *tally* under the XCom
key :data:`TALLY_KEY` when it ends, whether it acted on one object or on a batch: how many objects
it did, found already done, skipped and failed, and the amounts it moved per currency.
:class:`~airflow_stripe_automation.operators.summary.StripeRunSummaryOperator` adds up the tallies
of a run into a :class:`RunSummary` (XCom :data:`SUMMARY_KEY`), and the provider's listener
(:mod:`airflow_stripe_automation.run_note`) writes its text as the DAG run's note, which the run
page of the UI shows.

A tally is a few hundred bytes whatever the batch size, so a 100,000-object sweep adds one small
XCom per task, not per object. Amounts are minor units, summed per currency, never across.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The XCom key of one task's tally.
TALLY_KEY = "stripe_tally"
#: The XCom key of the run's summary, pushed by the summary task; the run note is made from it.
SUMMARY_KEY = "stripe_run_summary"

_COUNTS = ("done", "already_done", "skipped", "not_approved", "failed")


@dataclass
class Tally:
    """
    What one task did, by outcome, for one kind of action.

    :param action: what the task does ("charge", "refund", "mail", …)
    :param done: objects acted on in this run
    :param already_done: objects an earlier try or run had acted on (a mark, or Stripe's key replay)
    :param skipped: objects left alone by design (a condition, an earlier step's skip)
    :param not_approved: objects above the action's approval threshold that a person rejected or left unanswered
    :param failed: objects whose action failed
    :param amounts: minor units moved by the objects ``done``, per lowercase currency code
    """

    action: str
    done: int = 0
    already_done: int = 0
    skipped: int = 0
    not_approved: int = 0
    failed: int = 0
    amounts: dict[str, int] = field(default_factory=dict)

    def add_result(self, result: Any) -> None:
        """Count one object's result (what the action returned) as done or already done, with its amount."""
        if not isinstance(result, Mapping) or result.get("dry_run"):
            self.skipped += 1
            return
        if result.get("already_done"):
            self.already_done += 1
            return
        self.done += 1
        amount, currency = result.get("amount"), result.get("currency")
        if isinstance(amount, int) and not isinstance(amount, bool) and isinstance(currency, str) and currency:
            code = currency.lower()
            self.amounts[code] = self.amounts.get(code, 0) + amount

    def as_xcom(self) -> dict[str, Any]:
        """The tally as the small JSON dict pushed under :data:`TALLY_KEY`."""
        return {"action": self.action, **{k: getattr(self, k) for k in _COUNTS}, "amounts": dict(self.amounts)}


@dataclass
class RunSummary:
    """
    The run's tallies added up per action, in the order the actions were first seen.

    :param actions: action -> its summed tally
    """

    actions: dict[str, Tally] = field(default_factory=dict)

    @classmethod
    def of(cls, tallies: Iterable[Any]) -> RunSummary:
        """Add up the tallies the run's tasks pushed (``None`` and foreign values are ignored)."""
        summary = cls()
        for one in tallies:
            if not isinstance(one, Mapping) or not isinstance(one.get("action"), str):
                continue
            total = summary.actions.setdefault(one["action"], Tally(one["action"]))
            for name in _COUNTS:
                setattr(total, name, getattr(total, name) + int(one.get(name) or 0))
            for code, amount in (one.get("amounts") or {}).items():
                total.amounts[code] = total.amounts.get(code, 0) + int(amount)
        return summary

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.actions.values())

    def as_xcom(self) -> dict[str, Any]:
        """The summary as JSON: per action its counts and sums, and the text."""
        return {"actions": {a: t.as_xcom() for a, t in self.actions.items()}, "text": self.text()}

    def text(self) -> str:
        """One line per action, as the run note shows it: ``charge: 3 done ($45.00), 1 already done``."""
        if not self.actions:
            return "Stripe: nothing to act on in this run."
        return "\n".join(f"- {_line(t)}" for t in self.actions.values())


def _line(tally: Tally) -> str:
    from airflow_stripe_automation.money import money_or_text

    sums = ", ".join(money_or_text(amount, code) for code, amount in sorted(tally.amounts.items()))
    parts = [f"{tally.done} done" + (f" ({sums})" if sums else "")]
    parts += [f"{getattr(tally, k)} {k.replace('_', ' ')}" for k in _COUNTS[1:] if getattr(tally, k)]
    return f"{tally.action}: {', '.join(parts)}"
