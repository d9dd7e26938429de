"""Every writing action of the provider, as the reliability suite runs it: seed, operator, fault target, effects.

An :class:`Action` is one thing the provider does to Stripe (a charge, a refund, the "send" step of
an invoice…): how to seed the objects it acts on, how to build its real operator, which request is
its write (where a test injects a fault), and how to count its effects on the local Stripe server
(objects made, events of state changes, mails). The suite's files (one per concern) run every
action through one kind of fault and check that the effects are exactly :attr:`Action.once`.

Only the task context is synthetic (``make_context``); a "retry" is what Airflow does: a fresh
operator, the same run, ``try_number`` + 1. Every Stripe call goes through the real SDK.

At the end of a run the suite says how many faults it injected and in how many cases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_stripe_automation.operators.charges import StripeOneTimeChargeOperator
from airflow_stripe_automation.operators.credits import StripeCustomerCreditOperator
from airflow_stripe_automation.operators.customers import (
    StripeUpdateCustomerMetadataOperator,
    StripeUpdateCustomerOperator,
)
from airflow_stripe_automation.operators.dunning import StripeInvoiceRetryOperator
from airflow_stripe_automation.operators.email import StripeSendEmailOperator
from airflow_stripe_automation.operators.invoices import (
    StripeCreateInvoiceOperator,
    StripeMarkInvoiceUncollectibleOperator,
)
from airflow_stripe_automation.operators.payment_links import StripeCreatePaymentLinkOperator
from airflow_stripe_automation.operators.refunds import StripeRefundOperator
from airflow_stripe_automation.operators.subscriptions import (
    StripeCancelSubscriptionOperator,
    StripeCreateSubscriptionOperator,
)
from tests.testing.billing_helpers import customer, price, subscribe

DAY = 86400
RUN = "scheduled__2026-03-01T00:00:00+00:00"
OTHER_RUN = "scheduled__2026-03-02T00:00:00+00:00"  # a later run whose window overlaps RUN's

Seed = dict[str, Any]


@dataclass(frozen=True)
class Action:
    """
    One writing action, ready for the suite.

    :param name: the test id
    :param seed: make what the action acts on; returns the ids the other callables use
    :param operator: the real operator for the seeded objects (a fresh one per try, as Airflow builds)
    :param write: the request that is the action's write: ``(method, path pattern)`` from the seed
    :param effects: what the action did on Stripe, counted (objects, events, mails)
    :param once: :attr:`effects` after exactly one action
    :param first_write: the action's first write, where a refusal leaves nothing behind (default: ``write``)
    :param keyed_by_run: the run is the object (a charge per lead): an overlap is two tries of one run
    :param defers: the operator defers between steps (dunning): a test resumes it until it returns
    :param handles_transient: the operator keeps going after a lost answer or a 5xx on its write
        (dunning repeats the attempt after a pause) instead of failing the try
    :param primary: the action's first entry (several entries may fault different writes of one operator)
    """

    name: str
    seed: Callable[[Any, Any], Seed]
    operator: Callable[[Seed], Any]
    write: Callable[[Seed], tuple[str, str]]
    effects: Callable[[Any, Any, Any, Seed], dict[str, int]]
    once: dict[str, int]
    first_write: Callable[[Seed], tuple[str, str]] | None = None
    keyed_by_run: bool = False
    defers: bool = False
    handles_transient: bool = False
    primary: bool = True
    task_id: str = field(default="act")

    def __str__(self) -> str:
        return self.name

    def first(self, seed: Seed) -> tuple[str, str]:
        return (self.first_write or self.write)(seed)


# -- seeds ---------------------------------------------------------------------------------------


def _customer(client, server) -> Seed:
    return {"customer": customer(client, card="pm_card_visa", name="Ada").id}


def _paid_charge(client, server) -> Seed:
    cus = customer(client, card="pm_card_visa").id
    intent = client.v1.payment_intents.create(
        params={"amount": 5000, "currency": "usd", "customer": cus, "payment_method": "pm_card_visa", "confirm": True}
    )
    return {"customer": cus, "charge": intent.latest_charge}


def _priced_customer(client, server) -> Seed:
    return {**_customer(client, server), "price": price(client, 2500).id}


def _subscription(client, server) -> Seed:
    seed = _priced_customer(client, server)
    return {**seed, "subscription": subscribe(client, seed["customer"], seed["price"]).id}


def _open_invoice(client, server) -> Seed:
    cus = customer(client, card="pm_card_visa").id
    invoice = client.v1.invoices.create(
        params={"customer": cus, "collection_method": "charge_automatically", "auto_advance": False}
    )
    client.v1.invoice_items.create(
        params={"customer": cus, "invoice": invoice.id, "amount": 120000, "currency": "usd", "description": "Plan"}
    )
    client.v1.invoices.finalize_invoice(invoice.id, params={"auto_advance": False})
    return {"customer": cus, "invoice": invoice.id}


# -- effects -------------------------------------------------------------------------------------


def _events(server, kind: str, object_id: str) -> int:
    return sum(1 for e in server.events(kind) if e["data"]["object"]["id"] == object_id)


def _intents(client, server, smtp, seed) -> dict[str, int]:
    listing = client.v1.payment_intents.list(params={"customer": seed["customer"], "limit": 100})
    return {"payment_intents": len(listing.data), "charges": len(server.events("charge.succeeded"))}


def _refunds(client, server, smtp, seed) -> dict[str, int]:
    return {"refunds": len(client.v1.refunds.list(params={"charge": seed["charge"], "limit": 100}).data)}


def _credits(client, server, smtp, seed) -> dict[str, int]:
    listing = client.v1.customers.balance_transactions.list(seed["customer"], params={"limit": 100})
    return {"balance_transactions": len(listing.data)}


def _customer_updates(client, server, smtp, seed) -> dict[str, int]:
    return {"customer.updated": _events(server, "customer.updated", seed["customer"])}


def _subscriptions(client, server, smtp, seed) -> dict[str, int]:
    listing = client.v1.subscriptions.list(params={"customer": seed["customer"], "status": "all", "limit": 100})
    return {"subscriptions": len(listing.data)}


def _cancellations(client, server, smtp, seed) -> dict[str, int]:
    return {"customer.subscription.deleted": _events(server, "customer.subscription.deleted", seed["subscription"])}


def _write_offs(client, server, smtp, seed) -> dict[str, int]:
    return {"invoice.marked_uncollectible": _events(server, "invoice.marked_uncollectible", seed["invoice"])}


def _order_invoices(client, server, smtp, seed) -> dict[str, int]:
    invoices = client.v1.invoices.list(params={"customer": seed["customer"], "limit": 100}).data
    ids = [i.id for i in invoices]
    items = client.v1.invoice_items.list(params={"customer": seed["customer"], "limit": 100}).data
    return {
        "invoices": len(ids),
        "invoice_items": len(items),
        "invoice.finalized": sum(_events(server, "invoice.finalized", i) for i in ids),
        "invoice.sent": sum(_events(server, "invoice.sent", i) for i in ids),
    }


def _links(client, server, smtp, seed) -> dict[str, int]:
    links = client.v1.payment_links.list(params={"limit": 100}).data
    prices = client.v1.prices.list(params={"limit": 100}).data
    return {"payment_links": len(links), "prices": len(prices)}


def _payments(client, server, smtp, seed) -> dict[str, int]:
    return {"invoice.paid": _events(server, "invoice.paid", seed["invoice"]), "charges": _charges(client, seed)}


def _charges(client, seed) -> int:
    listing = client.v1.charges.list(params={"customer": seed["customer"], "limit": 100})
    return sum(1 for c in listing.data if c.status == "succeeded")


def _mails(client, server, smtp, seed) -> dict[str, int]:
    # A mail is one Message-ID: the mail operator's stated worst case is the same mail delivered
    # twice (a retry that finds "sending" cannot know whether it went out), which receivers show
    # once. Deliveries are counted apart (REDELIVERIES) so the suite can report them.
    ids = [m.header("Message-ID") for m in smtp.messages]
    REDELIVERIES.update(i for i in ids if ids.count(i) > 1)
    return {"mails": len(set(ids))}


#: Message-IDs delivered more than once during the run (the mail operator's documented worst case)
REDELIVERIES: set[str] = set()


# -- the actions ---------------------------------------------------------------------------------

ITEMS = [
    {"description": "Consulting", "quantity": 2, "unit_amount": 15000},
    {"description": "Travel", "unit_amount": 4250},
]
INVOICE_ONCE = {"invoices": 1, "invoice_items": 2, "invoice.finalized": 1, "invoice.sent": 1}


def _invoice_operator(seed: Seed) -> StripeCreateInvoiceOperator:
    return StripeCreateInvoiceOperator(task_id="act", customer_id=seed["customer"], order_id="order-17", items=ITEMS)


def _invoice_action(name: str, write: Callable[[Seed], tuple[str, str]], *, primary: bool = False) -> Action:
    return Action(
        name,
        _customer,
        _invoice_operator,
        write,
        _order_invoices,
        INVOICE_ONCE,
        first_write=lambda s: ("POST", "/v1/invoices"),
        primary=primary,
    )


def _link_operator(seed: Seed, **kwargs: Any) -> StripeCreatePaymentLinkOperator:
    return StripeCreatePaymentLinkOperator(task_id="act", order_id="order-9", amount=4900, **kwargs)


def _mail_operator(seed: Seed) -> StripeSendEmailOperator:
    return StripeSendEmailOperator(
        task_id="act",
        to="ops@example.com",
        subject="Overdue",
        stripe_object={"id": seed["customer"], "object": "customer"},
    )


ACTIONS: list[Action] = [
    Action(
        "charge",
        _customer,
        lambda s: StripeOneTimeChargeOperator(task_id="act", customer_id=s["customer"], amount=1500),
        lambda s: ("POST", "/v1/payment_intents"),
        _intents,
        {"payment_intents": 1, "charges": 1},
        keyed_by_run=True,
    ),
    Action(
        "refund",
        _paid_charge,
        lambda s: StripeRefundOperator(task_id="act", charge_id=s["charge"], amount=1000),
        lambda s: ("POST", "/v1/refunds"),
        _refunds,
        {"refunds": 1},
    ),
    Action(
        "credit",
        _customer,
        lambda s: StripeCustomerCreditOperator(task_id="act", customer_id=s["customer"], amount=500),
        lambda s: ("POST", f"/v1/customers/{s['customer']}/balance_transactions"),
        _credits,
        {"balance_transactions": 1},
    ),
    Action(
        "metadata",
        _customer,
        lambda s: StripeUpdateCustomerMetadataOperator(
            task_id="act", customer_id=s["customer"], metadata={"tier": "VIP"}
        ),
        lambda s: ("POST", f"/v1/customers/{s['customer']}"),
        _customer_updates,
        {"customer.updated": 1},
    ),
    Action(
        "customer details",
        _customer,
        lambda s: StripeUpdateCustomerOperator(
            task_id="act",
            customer_id=s["customer"],
            phone="+49 30 1234567",
            address={"city": "Berlin", "country": "de"},
        ),
        lambda s: ("POST", f"/v1/customers/{s['customer']}"),
        _customer_updates,
        {"customer.updated": 1},
    ),
    Action(
        "subscription create",
        _priced_customer,
        lambda s: StripeCreateSubscriptionOperator(task_id="act", customer_id=s["customer"], price_id=s["price"]),
        lambda s: ("POST", "/v1/subscriptions"),
        _subscriptions,
        {"subscriptions": 1},
    ),
    Action(
        "subscription cancel",
        _subscription,
        lambda s: StripeCancelSubscriptionOperator(task_id="act", subscription_id=s["subscription"]),
        lambda s: ("DELETE", f"/v1/subscriptions/{s['subscription']}"),
        _cancellations,
        {"customer.subscription.deleted": 1},
    ),
    Action(
        "uncollectible",
        _open_invoice,
        lambda s: StripeMarkInvoiceUncollectibleOperator(task_id="act", invoice_id=s["invoice"]),
        lambda s: ("POST", f"/v1/invoices/{s['invoice']}/mark_uncollectible"),
        _write_offs,
        {"invoice.marked_uncollectible": 1},
    ),
    _invoice_action("invoice create", lambda s: ("POST", "/v1/invoices"), primary=True),
    _invoice_action("invoice line", lambda s: ("POST", "/v1/invoiceitems")),
    _invoice_action("invoice finalize", lambda s: ("POST", "/v1/invoices/*/finalize")),
    _invoice_action("invoice send", lambda s: ("POST", "/v1/invoices/*/send")),
    Action(
        "payment link",
        _customer,
        _link_operator,
        lambda s: ("POST", "/v1/payment_links"),
        _links,
        {"payment_links": 1, "prices": 0},  # the link's price_data is the link's own, not a listed price
    ),
    Action(
        "partial payment link's price",
        _customer,
        lambda s: _link_operator(s, allow_partial=True),
        lambda s: ("POST", "/v1/prices"),
        _links,
        {"payment_links": 1, "prices": 1},
    ),
    Action(
        "partial payment link",
        _customer,
        lambda s: _link_operator(s, allow_partial=True),
        lambda s: ("POST", "/v1/payment_links"),
        _links,
        {"payment_links": 1, "prices": 1},
        first_write=lambda s: ("POST", "/v1/prices"),
        primary=False,
    ),
    Action(
        "retry-policy attempt",
        _open_invoice,
        lambda s: StripeInvoiceRetryOperator(
            task_id="act", invoice_id=s["invoice"], max_attempts=2, window=timedelta(days=2)
        ),
        lambda s: ("POST", f"/v1/invoices/{s['invoice']}/pay"),
        _payments,
        {"invoice.paid": 1, "charges": 1},
        defers=True,
        handles_transient=True,
    ),
    Action(
        "mail (sending mark)",
        _customer,
        _mail_operator,
        lambda s: ("POST", f"/v1/customers/{s['customer']}"),
        _mails,
        {"mails": 1},
    ),
    Action(
        "mail (sent mark)",
        _customer,
        _mail_operator,
        # the second write to the customer: the "sent" mark, after the mail went out
        lambda s: ("POST", f"/v1/customers/{s['customer']}#sent"),
        _mails,
        {"mails": 1},
        first_write=lambda s: ("POST", f"/v1/customers/{s['customer']}"),
        primary=False,
    ),
]

PRIMARY = [a for a in ACTIONS if a.primary]


def fault_target(action: Action, seed: Seed, *, first: bool = False) -> dict[str, Any]:
    """The ``method``/``path``/``after`` of a fault on the action's write (``first``: its first write)."""
    method, path = action.first(seed) if first else action.write(seed)
    path, _, which = path.partition("#")
    return {"method": method, "path": path, "after": 1 if which == "sent" else 0}


# -- running a task as Airflow would ---------------------------------------------------------------


@dataclass
class Task:
    """One action's task instance over its seeded objects: tries, each with a fresh operator."""

    action: Action
    seed: Seed
    make_context: Callable[..., Any]
    server: Any
    run_id: str = RUN
    tries: int = 0
    #: called after each deferral of a deferring operator (e.g. to move the clock between attempts)
    between_wakes: Callable[[], None] | None = None
    #: when the run started (Airflow's clock; here the server's when the task is made, unless a test skews it)
    run_after: datetime | None = None
    #: the HTTP timeout of the task's Stripe client, seconds (None: the SDK's 80 s)
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.run_after is None:
            self.run_after = datetime.fromtimestamp(self.server.now(), UTC)

    def context(self, try_number: int) -> Any:
        context = self.make_context(run_id=self.run_id, task_id=self.action.task_id)
        context["ti"].try_number = try_number
        context["dag_run"].run_after = self.run_after  # the run's, the same for every try
        return context

    def run(self) -> Any:
        """One try (``try_number`` counts up); a deferring operator is resumed until it returns or raises."""
        self.tries += 1
        context = self.context(self.tries)
        op = self.action.operator(self.seed)
        if self.timeout is not None:
            import stripe

            # The SDK's own HTTP client, under the hook's rate budget, only with a shorter timeout.
            op.hook.http_client.inner = stripe.RequestsClient(timeout=self.timeout)
        try:
            return op.execute(context)
        except TaskDeferred as deferred:
            return self._resume(op, context, deferred)

    def _resume(self, op: Any, context: Any, deferred: TaskDeferred) -> Any:
        for _ in range(10):
            if self.between_wakes is not None:
                self.between_wakes()
            try:
                return op.execute_complete(context, event=None, **deferred.kwargs)
            except TaskDeferred as again:
                deferred = again
        raise AssertionError("the task kept deferring")


@pytest.fixture(params=ACTIONS, ids=str)
def action(request) -> Action:
    return request.param


@pytest.fixture(params=PRIMARY, ids=str)
def primary_action(request) -> Action:
    return request.param


@pytest.fixture
def world(stripe_server, stripe_client, smtp_connection, make_context):
    """``world(action)`` -> a :class:`Task` over freshly seeded objects, and ``world.effects(task)``."""

    class World:
        server = stripe_server
        client = stripe_client
        smtp = smtp_connection

        def __call__(self, action: Action, run_id: str = RUN, seed: Seed | None = None) -> Task:
            if seed is None:
                seed = action.seed(stripe_client, stripe_server)
                seed["baseline"] = action.effects(stripe_client, stripe_server, smtp_connection, seed)
            return Task(action, seed, make_context, stripe_server, run_id=run_id)

        def effects(self, task: Task) -> dict[str, int]:
            """What the action did since its objects were seeded: each count minus the seed's own."""
            now = task.action.effects(stripe_client, stripe_server, smtp_connection, task.seed)
            return {k: v - task.seed["baseline"].get(k, 0) for k, v in now.items()}

        def applied(self) -> list[int]:
            """The statuses Stripe gave the requests whose answers a fault dropped (the writes applied)."""
            dropped = {m["request_id"] for m in stripe_server.faults_met if m["kind"] == "drop"}
            return [r["status"] for r in stripe_server.requests if r["request_id"] in dropped]

        def inject(self, task: Task, kind: str, *, first: bool = False, **kwargs: Any) -> None:
            target = {**fault_target(task.action, task.seed, first=first), **kwargs}
            if kind == "drop":
                stripe_server.drop_next(**target)
            elif kind == "stall":
                stripe_server.stall_next(**target)
            else:
                stripe_server.fail_next(**target)

    return World()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``call`` in a thread; the dict gets its ``result`` or ``error``."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = call()
        except BaseException as err:  # handed to the test
            out["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


# -- the counts the suite reports ------------------------------------------------------------------

_COUNTS = {"faults": 0, "cases": 0}


@pytest.fixture(autouse=True)
def _count_faults(request, local_stripe_server):
    redelivered = len(REDELIVERIES)
    yield
    _COUNTS["cases"] += 1
    _COUNTS["faults"] += len(local_stripe_server.faults_met)
    if len(REDELIVERIES) > redelivered:
        _REDELIVERED_IN.append(request.node.name)


_REDELIVERED_IN: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if _COUNTS["cases"]:
        terminalreporter.write_line(
            f"reliability: {_COUNTS['faults']} faults injected over {_COUNTS['cases']} cases; "
            f"{len(REDELIVERIES)} mails delivered twice with one Message-ID (the mail operator's worst case)"
            + (f": {', '.join(_REDELIVERED_IN)}" if _REDELIVERED_IN else "")
        )


# -- holes the suite found, until they are fixed ---------------------------------------------------

#: (concern, action name) -> what goes wrong; the case is a strict xfail until the package is fixed
KNOWN_HOLES: dict[tuple[str, str], str] = {}


def known_hole(request, concern: str, action: Action) -> None:
    """Mark this case a strict xfail when it is a known hole of the package (it must fail, until fixed)."""
    why = KNOWN_HOLES.get((concern, action.name))
    if why:
        request.applymarker(pytest.mark.xfail(strict=True, reason=why))
