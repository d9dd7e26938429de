"""Lists: newest first, cursors both ways, limit bounds, created filters, per-resource filters, auto paging."""

from __future__ import annotations

import pytest


def _customers(client, n, **params):
    return [client.v1.customers.create(params={"name": f"c{i}", **params}).id for i in range(n)]


def test_auto_paging_walks_every_page_newest_first(stripe_client, stripe_server):
    ids = _customers(stripe_client, 23)
    walked = [c.id for c in stripe_client.v1.customers.list(params={"limit": 5}).auto_paging_iter()]
    assert walked == list(reversed(ids))
    pages = [r for r in stripe_server.requests if r["method"] == "GET" and r["path"] == "/v1/customers"]
    assert len(pages) == 5  # 5 + 5 + 5 + 5 + 3
    assert pages[1]["params"]["starting_after"] == walked[4]


def test_has_more_and_default_limit(stripe_client):
    _customers(stripe_client, 12)
    page = stripe_client.v1.customers.list()
    assert len(page.data) == 10 and page.has_more is True
    last = stripe_client.v1.customers.list(params={"starting_after": page.data[-1].id})
    assert len(last.data) == 2 and last.has_more is False


def test_ending_before_returns_the_newer_neighbours(stripe_client):
    ids = list(reversed(_customers(stripe_client, 10)))  # newest first
    page = stripe_client.v1.customers.list(params={"ending_before": ids[6], "limit": 3})
    assert [c.id for c in page.data] == ids[3:6]
    assert page.has_more is True
    top = stripe_client.v1.customers.list(params={"ending_before": ids[2], "limit": 3})
    assert [c.id for c in top.data] == ids[0:2] and top.has_more is False


def test_unknown_cursor_is_an_error(stripe_client):
    import stripe

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.list(params={"starting_after": "cus_unknown"})
    assert info.value.param == "starting_after"


def test_created_filters_follow_the_server_clock(stripe_client, stripe_server):
    start = stripe_server.set_clock(1_800_000_000)
    early = _customers(stripe_client, 2)
    stripe_server.advance_clock(seconds=100)
    middle = _customers(stripe_client, 2)
    stripe_server.advance_clock(days=1)
    late = _customers(stripe_client, 2)

    def ids(created):
        return [c.id for c in stripe_client.v1.customers.list(params={"created": created}).auto_paging_iter()]

    assert ids({"lt": start + 100}) == early[::-1]
    assert ids({"gte": start + 100, "lte": start + 200}) == middle[::-1]
    assert ids({"gt": start + 200}) == late[::-1]
    exact = stripe_client.v1.customers.retrieve(early[0]).created
    assert early[0] in ids(exact) and set(ids(exact)) <= set(early)  # created=<exact>
    assert stripe_client.v1.customers.retrieve(late[0]).created >= start + 86400 + 100


def test_created_filter_still_works_after_the_clock_went_back(stripe_client, stripe_server):
    stripe_server.set_clock(1_900_000_000)
    newer = _customers(stripe_client, 1)
    stripe_server.set_clock(1_800_000_000)
    older = _customers(stripe_client, 1)
    found = stripe_client.v1.customers.list(params={"created": {"gte": 1_850_000_000}})
    assert [c.id for c in found.data] == newer and older


def test_email_filter(stripe_client):
    _customers(stripe_client, 3, email="a@example.com")
    _customers(stripe_client, 2, email="b@example.com")
    found = stripe_client.v1.customers.list(params={"email": "b@example.com"})
    assert len(found.data) == 2 and {c.email for c in found.data} == {"b@example.com"}


def test_payment_intents_and_charges_filter_by_customer(stripe_client):
    c = stripe_client.v1
    one, two = (c.customers.create().id for _ in range(2))
    for customer, n in ((one, 3), (two, 2)):
        pm = c.payment_methods.attach("pm_card_visa", params={"customer": customer})
        for _ in range(n):
            c.payment_intents.create(
                params={
                    "amount": 500,
                    "currency": "usd",
                    "customer": customer,
                    "payment_method": pm.id,
                    "confirm": True,
                }
            )
    intents = list(c.payment_intents.list(params={"customer": two, "limit": 1}).auto_paging_iter())
    assert len(intents) == 2 and {pi.customer for pi in intents} == {two}
    charges = list(c.charges.list(params={"customer": one}).auto_paging_iter())
    assert len(charges) == 3 and {ch.customer for ch in charges} == {one}
    by_intent = c.charges.list(params={"payment_intent": intents[0].id})
    assert [ch.id for ch in by_intent.data] == [intents[0].latest_charge]


def test_payment_methods_list_by_customer_and_type(stripe_client):
    c = stripe_client.v1
    customer = c.customers.create()
    other = c.customers.create()
    attached = [
        c.payment_methods.attach(t, params={"customer": customer.id}).id for t in ("pm_card_visa", "pm_card_mastercard")
    ]
    c.payment_methods.attach("pm_card_visa", params={"customer": other.id})
    listed = c.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert [pm.id for pm in listed.data] == attached[::-1]
    nested = c.customers.payment_methods.list(customer.id)
    assert [pm.id for pm in nested.data] == attached[::-1]
    assert nested.url == f"/v1/customers/{customer.id}/payment_methods"
    assert c.payment_methods.list(params={"customer": customer.id, "type": "sepa_debit"}).data == []
    one = c.customers.payment_methods.retrieve(customer.id, attached[0])
    assert one.card.last4 == "4242"


def test_auto_paging_backwards_from_ending_before(stripe_client):
    ids = _customers(stripe_client, 7)  # oldest first
    walked = [
        c.id for c in stripe_client.v1.customers.list(params={"limit": 2, "ending_before": ids[0]}).auto_paging_iter()
    ]
    assert walked == ids[1:]


async def test_async_client_pages(stripe_client):
    ids = [(await stripe_client.v1.customers.create_async(params={"name": str(i)})).id for i in range(5)]
    page = await stripe_client.v1.customers.list_async(params={"limit": 2})
    assert [c.id async for c in page.auto_paging_iter()] == ids[::-1]


def test_detached_payment_methods_leave_the_customer_list(stripe_client):
    customer = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe_client.v1.payment_methods.detach(pm.id)
    assert stripe_client.v1.customers.payment_methods.list(customer.id).data == []
    assert stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data == []
