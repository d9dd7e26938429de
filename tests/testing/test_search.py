"""Search API subset for customers, payment intents and charges."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def people(stripe_client):
    c = stripe_client.v1.customers
    return {
        "ann": c.create(params={"email": "ann@example.com", "name": "Ann Lee", "metadata": {"tier": "gold"}}).id,
        "bob": c.create(params={"email": "bob@example.com", "name": "Bob", "metadata": {"tier": "gold"}}).id,
        "cid": c.create(params={"email": "cid@other.org", "name": "Cid", "metadata": {"tier": "silver"}}).id,
    }


def _ids(result):
    return [obj.id for obj in result.data]


def test_customer_search_by_email_metadata_and(stripe_client, people):
    search = stripe_client.v1.customers.search
    assert _ids(search(params={"query": "email:'bob@example.com'"})) == [people["bob"]]
    assert _ids(search(params={"query": "metadata['tier']:'gold'"})) == [people["bob"], people["ann"]]
    assert _ids(search(params={"query": "metadata['tier']:'gold' AND email:\"ann@example.com\""})) == [people["ann"]]
    assert _ids(search(params={"query": "name:'Cid' OR name:'Bob'"})) == [people["cid"], people["bob"]]
    assert _ids(search(params={"query": "-metadata['tier']:'gold'"})) == [people["cid"]]
    assert _ids(search(params={"query": "email~'example'"})) == [people["bob"], people["ann"]]


def test_search_pages_and_total_count(stripe_client, people):
    first = stripe_client.v1.customers.search(params={"query": "created>0", "limit": 2, "expand": ["total_count"]})
    assert first.object == "search_result" and first.has_more is True and first.next_page
    assert first.total_count == 3
    walked = [
        c.id for c in stripe_client.v1.customers.search(params={"query": "created>0", "limit": 1}).auto_paging_iter()
    ]
    assert walked == [people["cid"], people["bob"], people["ann"]]


def test_payment_intent_search(stripe_client, people):
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": people["ann"]})
    paid = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1234,
            "currency": "usd",
            "customer": people["ann"],
            "payment_method": pm.id,
            "confirm": True,
            "metadata": {"order": "A1"},
        }  # fmt: skip
    )
    open_ = stripe_client.v1.payment_intents.create(
        params={"amount": 999, "currency": "usd", "customer": people["ann"]}
    )
    search = stripe_client.v1.payment_intents.search
    assert _ids(search(params={"query": f"customer:'{people['ann']}' AND status:'succeeded'"})) == [paid.id]
    assert _ids(search(params={"query": "metadata['order']:'A1'"})) == [paid.id]
    assert _ids(search(params={"query": "amount<1000"})) == [open_.id]
    charges = stripe_client.v1.charges.search(params={"query": f"payment_intent:'{paid.id}'"})
    assert _ids(charges) == [paid.latest_charge]


@pytest.mark.parametrize(
    "query",
    ["", "email", "email:bob", "colour:'red'", "email:'a' AND name:'b' OR name:'c'", "amount:'12'", "email~'ab'"],
)
def test_invalid_queries_are_400s_on_query(stripe_client, query):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.search(params={"query": query})
    assert info.value.param == "query"
