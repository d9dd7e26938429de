"""Billing over time, as Stripe's test clocks show it: renewals, dunning, trials, cancellations, due dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .billing_helpers import customer, draft_invoice, event_types, past_renewal, price, subscribe

HOUR = 3600
DAY = 86400


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def _switch_card(client, customer_id: str, token: str) -> str:
    pm = client.v1.payment_methods.attach(token, params={"customer": customer_id})
    client.v1.customers.update(customer_id, params={"invoice_settings": {"default_payment_method": pm.id}})
    return pm.id


def _invoices(client, sub_id: str):
    return list(client.v1.invoices.list(params={"subscription": sub_id, "limit": 100}).data)[::-1]  # oldest first


def test_monthly_renewals_follow_the_calendar_one_per_period(stripe_client, stripe_server):
    stripe_server.set_clock(ts(2031, 1, 31, 12), pin=True)  # the subscription starts exactly then
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client, amount=1000).id)
    assert sub["items"].data[0].current_period_end == ts(2031, 2, 28, 12)  # Jan 31 -> Feb 28
    stripe_server.set_clock(ts(2031, 5, 1))  # three periods crossed in one move
    invoices = _invoices(stripe_client, sub.id)
    assert [i.billing_reason for i in invoices] == ["subscription_create"] + ["subscription_cycle"] * 3
    assert [i.status for i in invoices] == ["paid"] * 4 and all(i.amount_paid == 1000 for i in invoices)
    assert [i.created for i in invoices[1:]] == [ts(2031, 2, 28, 12), ts(2031, 3, 31, 12), ts(2031, 4, 30, 12)]
    assert [i.lines.data[0].period.start for i in invoices[1:]] == [i.created for i in invoices[1:]]
    # each renewal happened at its own time: the draft an hour before its payment
    assert [i.status_transitions.paid_at - i.created for i in invoices[1:]] == [HOUR] * 3
    now = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert now.status == "active" and now.latest_invoice == invoices[-1].id
    item = now["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (ts(2031, 4, 30, 12), ts(2031, 5, 31, 12))
    created = {e["data"]["object"]["id"]: e["created"] for e in stripe_server.events("invoice.created")}
    assert [created[i.id] for i in invoices[1:]] == [i.created for i in invoices[1:]]
    renewals = [e for e in stripe_server.events("customer.subscription.updated") if "items" in
                e["data"].get("previous_attributes", {})]  # fmt: skip
    assert [e["created"] for e in renewals] == [ts(2031, 2, 28, 12), ts(2031, 3, 31, 12), ts(2031, 4, 30, 12)]
    assert renewals[0]["data"]["previous_attributes"]["items"]["data"][0]["current_period_end"] == ts(2031, 2, 28, 12)


def test_yearly_price_renews_yearly(stripe_client, stripe_server):
    # Pinned: on a busy machine a second could pass before the subscription starts, moving its renewals.
    stripe_server.set_clock(ts(2032, 2, 29), pin=True)
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client, amount=12000, interval="year").id)
    stripe_server.set_clock(ts(2033, 2, 27))
    assert len(_invoices(stripe_client, sub.id)) == 1
    stripe_server.set_clock(ts(2034, 1, 1))
    invoices = _invoices(stripe_client, sub.id)
    assert len(invoices) == 2 and invoices[1].created == ts(2033, 2, 28)  # Feb 29 -> Feb 28 next year
    assert invoices[1].amount_paid == 12000
    assert invoices[1].lines.data[0].description == "1 × Pro plan (at $120.00 / year)"
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_end == ts(2034, 2, 28)


def test_renewal_invoice_is_a_draft_for_an_hour(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    end = sub["items"].data[0].current_period_end
    stripe_server.set_clock(end + 60)
    renewal = stripe_client.v1.invoices.retrieve(stripe_client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert (renewal.status, renewal.auto_advance, renewal.automatically_finalizes_at) == ("draft", True, end + HOUR)
    assert renewal.next_payment_attempt == end + HOUR
    # an invoice item added now (as in reaction to invoice.created) lands on it
    stripe_client.v1.invoice_items.create(
        params={"customer": cus.id, "invoice": renewal.id, "amount": 500, "currency": "usd", "description": "Extra"}
    )
    stripe_server.set_clock(end + HOUR + 1)
    paid = stripe_client.v1.invoices.retrieve(renewal.id)
    assert (paid.status, paid.amount_paid, paid.status_transitions.finalized_at) == ("paid", 2500, end + HOUR)


def test_pending_items_go_on_the_next_renewal(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    stripe_client.v1.invoice_items.create(params={"customer": cus.id, "amount": 300, "currency": "usd"})
    past_renewal(stripe_server, stripe_client, sub.id)
    renewal = _invoices(stripe_client, sub.id)[-1]
    assert renewal.total == 2300 and renewal.status == "paid"


def test_failed_renewal_goes_past_due_then_retries_then_cancels(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    end = sub["items"].data[0].current_period_end
    _switch_card(stripe_client, cus.id, "pm_card_chargeCustomerFail")
    stripe_server.set_clock(end + 2 * HOUR)
    renewal = _invoices(stripe_client, sub.id)[-1]
    assert (renewal.status, renewal.attempt_count, renewal.amount_paid) == ("open", 1, 0)
    assert renewal.next_payment_attempt == end + HOUR + 3 * DAY
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    failed = stripe_server.events("invoice.payment_failed")
    assert len(failed) == 1 and failed[0]["created"] == end + HOUR
    went_past_due = [e for e in stripe_server.events("customer.subscription.updated")
                     if e["data"]["object"]["status"] == "past_due"]  # fmt: skip
    assert went_past_due[0]["data"]["previous_attributes"] == {"status": "active"}

    stripe_server.set_clock(end + 20 * DAY)  # retries at +3, +8 and +15 days, then Stripe gives up
    failed = stripe_server.events("invoice.payment_failed")
    assert [e["created"] - end - HOUR for e in failed] == [0, 3 * DAY, 8 * DAY, 15 * DAY]
    final = stripe_client.v1.invoices.retrieve(renewal.id)
    assert (final.status, final.attempt_count, final.next_payment_attempt) == ("open", 4, None)
    canceled = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert canceled.status == "canceled" and canceled.cancellation_details.reason == "payment_failed"
    assert canceled.ended_at == end + HOUR + 15 * DAY
    assert len(_invoices(stripe_client, sub.id)) == 2  # no renewal after the cancellation


def test_past_due_subscription_recovers_when_the_invoice_is_paid(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    _switch_card(stripe_client, cus.id, "pm_card_chargeCustomerFail")
    past_renewal(stripe_server, stripe_client, sub.id)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    visa = _switch_card(stripe_client, cus.id, "pm_card_visa")
    invoice = stripe_client.v1.invoices.pay(_invoices(stripe_client, sub.id)[-1].id)
    assert invoice.status == "paid" and invoice.attempt_count == 2
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert stripe_client.v1.charges.list(params={"customer": cus.id}).data[0].payment_method == visa


def test_automatic_retry_succeeds_after_the_card_is_fixed(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    end = sub["items"].data[0].current_period_end
    _switch_card(stripe_client, cus.id, "pm_card_chargeCustomerFail")
    stripe_server.set_clock(end + 2 * HOUR)
    _switch_card(stripe_client, cus.id, "pm_card_visa")
    stripe_server.set_clock(end + 4 * DAY)
    renewal = _invoices(stripe_client, sub.id)[-1]
    assert (renewal.status, renewal.attempt_count) == ("paid", 2)
    assert renewal.status_transitions.paid_at == end + HOUR + 3 * DAY
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_invoices_become_overdue_by_state_only(stripe_client, stripe_server):
    cus = customer(stripe_client)
    invoice = stripe_client.v1.invoices.finalize_invoice(
        draft_invoice(stripe_client, cus.id, collection_method="send_invoice", days_until_due=7).id
    )
    stripe_server.set_clock(invoice.due_date - HOUR)
    now = stripe_server.now()
    overdue = stripe_client.v1.invoices.list(params={"status": "open", "due_date": {"lt": now}}).data
    assert overdue == []
    stripe_server.set_clock(invoice.due_date + HOUR)
    now = stripe_server.now()
    overdue = stripe_client.v1.invoices.list(params={"status": "open", "due_date": {"lt": now}}).data
    assert [i.id for i in overdue] == [invoice.id]
    assert overdue[0].status == "open" and overdue[0].due_date < now
    assert not any("overdue" in t for t in event_types(stripe_server))  # needs Billing automations at Stripe


def test_send_invoice_subscription_goes_past_due_at_the_due_date(stripe_client, stripe_server):
    cus = customer(stripe_client, card=None)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id, collection_method="send_invoice",
                    days_until_due=10)  # fmt: skip
    due = stripe_client.v1.invoices.retrieve(sub.latest_invoice).due_date
    stripe_server.set_clock(due - DAY)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    stripe_server.set_clock(due + HOUR)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    stripe_client.v1.invoices.pay(sub.latest_invoice, params={"paid_out_of_band": True})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_cancel_at_period_end_ends_it_at_the_period_end(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    end = sub["items"].data[0].current_period_end
    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    stripe_server.set_clock(end - 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    stripe_server.set_clock(end + 10 * DAY)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at, ended.cancellation_details.reason) == (
        "canceled", end, "cancellation_requested",
    )  # fmt: skip
    deleted = stripe_server.events("customer.subscription.deleted")
    assert len(deleted) == 1 and deleted[0]["created"] == end
    assert len(_invoices(stripe_client, sub.id)) == 1  # no renewal invoice


def test_cancel_at_a_given_time(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client).id)
    at = stripe_server.now() + 10 * DAY
    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at": at})
    stripe_server.set_clock(at + HOUR)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == at


def test_trial_ends_into_a_paid_period(stripe_client, stripe_server):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client, amount=900).id, trial_period_days=7)
    stripe_server.set_clock(sub.trial_end - 2 * DAY)  # the warning comes three days before the end
    warned = stripe_server.events("customer.subscription.trial_will_end")
    assert len(warned) == 1 and warned[0]["created"] == sub.trial_end - 3 * DAY
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "trialing"
    stripe_server.set_clock(sub.trial_end + 2 * HOUR)
    now = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert now.status == "active"
    first_paid = _invoices(stripe_client, sub.id)[-1]
    assert (first_paid.billing_reason, first_paid.amount_paid, first_paid.created) == (
        "subscription_cycle", 900, sub.trial_end,
    )  # fmt: skip
    assert now["items"].data[0].current_period_start == sub.trial_end


def test_auto_advancing_manual_invoice_is_finalized_and_charged(stripe_client, stripe_server):
    cus = customer(stripe_client)
    invoice = draft_invoice(stripe_client, cus.id, auto_advance=True)
    assert invoice.automatically_finalizes_at == invoice.created + HOUR
    stripe_server.advance_clock(seconds=HOUR + 5)
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    manual = draft_invoice(stripe_client, cus.id)
    stripe_server.advance_clock(days=3)
    assert stripe_client.v1.invoices.retrieve(manual.id).status == "draft"  # auto_advance defaults to false


@pytest.mark.parametrize("interval", ["day", "week"])
def test_short_intervals(stripe_client, stripe_server, interval):
    cus = customer(stripe_client)
    sub = subscribe(stripe_client, cus.id, price(stripe_client, interval=interval).id)
    length = {"day": DAY, "week": 7 * DAY}[interval]
    stripe_server.advance_clock(seconds=3 * length + 2 * HOUR)
    invoices = _invoices(stripe_client, sub.id)
    assert len(invoices) == 4 and [i.created - sub.start_date for i in invoices[1:]] == [length, 2 * length, 3 * length]
