"""Payment links: create from prices or inline price data, line items, update/deactivate, list, refusals."""

from __future__ import annotations

import re

import pytest
import stripe

from .test_shapes import assert_shape


@pytest.fixture
def price(stripe_client):
    return stripe_client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 1500, "product_data": {"name": "T-shirt"}}
    )


@pytest.fixture
def monthly(stripe_client):
    return stripe_client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Club"},
        }
    )


def test_create_from_a_price(stripe_client, stripe_server, price, http):
    link = stripe_client.v1.payment_links.create(
        params={
            "line_items": [{"price": price.id, "quantity": 2}],
            "metadata": {"campaign": "summer"},
            "allow_promotion_codes": True,
            "payment_intent_data": {"metadata": {"order": "42"}, "description": "Summer sale"},
            "restrictions": {"completed_sessions": {"limit": 10}},
            "after_completion": {"type": "redirect", "redirect": {"url": "https://example.com/thanks"}},
        }
    )
    assert link.id.startswith("plink_") and link.active is True
    assert re.fullmatch(r"https://buy\.stripe\.com/test_[A-Za-z0-9]+", link.url)
    assert (link.currency, link.allow_promotion_codes, link.customer_creation) == ("usd", True, "if_required")
    assert link.metadata.to_dict() == {"campaign": "summer"}
    assert link.payment_intent_data.metadata.to_dict() == {"order": "42"}
    assert link.payment_intent_data.description == "Summer sale"
    assert link.restrictions.completed_sessions.to_dict() == {"count": 0, "limit": 10}
    assert link.after_completion.to_dict() == {"redirect": {"url": "https://example.com/thanks"}, "type": "redirect"}
    assert link.subscription_data is None
    assert_shape(http("GET", f"/v1/payment_links/{link.id}").body)
    (event,) = stripe_server.events("payment_link.created")
    assert event["data"]["object"]["id"] == link.id

    (item,) = stripe_client.v1.payment_links.line_items.list(link.id).data
    assert item.object == "item" and item.id.startswith("li_")
    assert (item.quantity, item.amount_subtotal, item.amount_total, item.currency) == (2, 3000, 3000, "usd")
    assert item.description == "T-shirt"
    assert item.price.id == price.id and item.price.unit_amount == 1500  # always expanded in line items
    assert_shape(http("GET", f"/v1/payment_links/{link.id}/line_items").body["data"][0], "item")


def test_inline_price_data(stripe_client, stripe_server):
    c = stripe_client.v1
    link = c.payment_links.create(
        params={
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {"currency": "eur", "unit_amount": 2500, "product_data": {"name": "Workshop seat"}},
                }
            ]
        }
    )
    assert link.currency == "eur"
    (item,) = c.payment_links.line_items.list(link.id).data
    assert (item.amount_total, item.description) == (2500, "Workshop seat")
    inline = c.prices.retrieve(item.price.id)  # a real, stored price...
    assert (inline.active, inline.unit_amount, inline.currency) == (False, 2500, "eur")  # ...created inactive
    assert c.products.retrieve(inline.product).name == "Workshop seat"
    assert item.price.id not in [p.id for p in c.prices.list().data]


def test_fractional_unit_amounts_are_rounded_per_line(stripe_client, price):
    link = stripe_client.v1.payment_links.create(
        params={
            "line_items": [
                {
                    "quantity": 3,
                    "price_data": {"currency": "usd", "unit_amount_decimal": "12.5", "product": price.product},
                }
            ]
        }
    )
    (item,) = stripe_client.v1.payment_links.line_items.list(link.id).data
    assert (item.price.unit_amount, str(item.price.unit_amount_decimal)) == (None, "12.5")
    assert (item.amount_subtotal, item.amount_total) == (38, 38)  # 37.5 rounds half to even
    stripe_client.v1.payment_links.update(link.id, params={"line_items": [{"id": item.id, "quantity": 5}]})
    assert stripe_client.v1.payment_links.line_items.list(link.id).data[0].amount_total == 62  # 62.5 -> 62


def test_subscription_link(stripe_client, monthly):
    c = stripe_client.v1
    link = c.payment_links.create(
        params={"line_items": [{"price": monthly.id, "quantity": 1}], "subscription_data": {"trial_period_days": 7}}
    )
    assert link.subscription_data.trial_period_days == 7 and link.payment_intent_data is None
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.payment_links.create(
            params={"line_items": [{"price": monthly.id, "quantity": 1}], "payment_intent_data": {"description": "x"}}
        )
    assert info.value.param == "payment_intent_data"


def test_deactivate_update_and_list(stripe_client, stripe_server, price):
    links = stripe_client.v1.payment_links
    first = links.create(params={"line_items": [{"price": price.id, "quantity": 1}], "metadata": {"a": "1", "b": "2"}})
    second = links.create(params={"line_items": [{"price": price.id, "quantity": 3}]})
    off = links.update(first.id, params={"active": False, "inactive_message": "Sold out", "metadata": {"a": ""}})
    assert (off.active, off.inactive_message, off.metadata.to_dict()) == (False, "Sold out", {"b": "2"})
    (event,) = stripe_server.events("payment_link.updated")
    assert event["data"]["previous_attributes"] == {
        "active": True,
        "inactive_message": None,
        "metadata": {"a": "1"},
    }
    assert [link.id for link in links.list().data] == [second.id, first.id]
    assert [link.id for link in links.list(params={"active": True}).data] == [second.id]
    assert [link.id for link in links.list(params={"active": False}).data] == [first.id]
    assert links.retrieve(first.id).active is False

    item = links.line_items.list(second.id).data[0]
    links.update(second.id, params={"line_items": [{"id": item.id, "quantity": 5}]})
    item = links.line_items.list(second.id).data[0]
    assert (item.quantity, item.amount_total) == (5, 7500)
    with pytest.raises(stripe.InvalidRequestError) as info:
        links.update(second.id, params={"line_items": [{"id": "li_other", "quantity": 1}]})
    assert info.value.param == "line_items[0][id]"
    with pytest.raises(stripe.InvalidRequestError) as info:
        links.update(second.id, params={"currency": "eur"})
    assert info.value.code == "parameter_unknown"


def test_line_items_pagination(stripe_client, price):
    other = stripe_client.v1.prices.create(params={"currency": "usd", "unit_amount": 500, "product": price.product})
    link = stripe_client.v1.payment_links.create(
        params={
            "line_items": [
                {"price": price.id, "quantity": 1},
                {"price": other.id, "quantity": 4},
                {"price": price.id, "quantity": 2},
            ]
        }
    )
    line_items = stripe_client.v1.payment_links.line_items
    everything = line_items.list(link.id).data
    assert [(i.price.id, i.quantity, i.amount_total) for i in everything] == [
        (price.id, 1, 1500),
        (other.id, 4, 2000),
        (price.id, 2, 3000),
    ]  # in the order given, not newest first
    page = line_items.list(link.id, params={"limit": 2})
    assert page.has_more is True and [i.id for i in page.data] == [i.id for i in everything[:2]]
    rest = line_items.list(link.id, params={"limit": 2, "starting_after": page.data[-1].id})
    assert rest.has_more is False and [i.id for i in rest.data] == [everything[2].id]
    before = line_items.list(link.id, params={"ending_before": everything[2].id, "limit": 1})
    assert [i.id for i in before.data] == [everything[1].id] and before.has_more is True


def _refused(client, params) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_links.create(params=params)
    assert info.value.http_status == 400
    return info.value


def test_refusals(stripe_client, stripe_server, price):
    c = stripe_client.v1
    eur = c.prices.create(params={"currency": "eur", "unit_amount": 100, "product": price.product})
    archived = c.prices.create(params={"currency": "usd", "unit_amount": 100, "product": price.product})
    c.prices.update(archived.id, params={"active": False})
    assert _refused(stripe_client, {"metadata": {"a": "b"}}).param == "line_items"
    err = _refused(stripe_client, {"line_items": [{"price": "price_missing", "quantity": 1}]})
    assert (err.code, err.param) == ("resource_missing", "line_items[0][price]")
    assert _refused(stripe_client, {"line_items": [{"price": price.id}]}).param == "line_items[0][quantity]"
    assert "inactive" in _refused(stripe_client, {"line_items": [{"price": archived.id, "quantity": 1}]}).user_message
    err = _refused(
        stripe_client, {"line_items": [{"price": price.id, "quantity": 1}, {"price": eur.id, "quantity": 1}]}
    )
    assert err.param == "line_items[1][price]"
    err = _refused(
        stripe_client, {"line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 100}}]}
    )
    assert err.param == "line_items[0][price_data][product_data]"
    err = _refused(
        stripe_client, {"line_items": [{"price": price.id, "quantity": 1}], "after_completion": {"type": "redirect"}}
    )
    assert err.param == "after_completion[redirect][url]"
    err = _refused(stripe_client, {"line_items": [{"price": price.id, "quantity": 1}] * 21})
    assert err.param == "line_items"
    err = _refused(stripe_client, {"line_items": [{"price": price.id, "quantity": 1}], "transfer_data": {"x": "y"}})
    assert err.param == "transfer_data"  # Connect is not supported: said so, not ignored
    assert stripe_server.state.store.count("payment_link") == 0
    assert stripe_server.events("payment_link.created") == []


# -- "customer chooses what to pay" prices (custom_unit_amount) --------------------------------


def _custom_price(client, **custom):
    return client.v1.prices.create(
        params={
            "currency": "usd",
            "product_data": {"name": "Donation"},
            "custom_unit_amount": {"enabled": True, **custom},
        }
    )


def test_custom_amount_price_shape(stripe_client, stripe_server, http):
    chosen = _custom_price(stripe_client, minimum=500, maximum=50000, preset=2500)
    assert chosen.custom_unit_amount.to_dict() == {"maximum": 50000, "minimum": 500, "preset": 2500}
    assert (chosen.unit_amount, chosen.unit_amount_decimal) == (None, None)
    assert (chosen.billing_scheme, chosen.type, chosen.recurring, chosen.active) == ("per_unit", "one_time", None, True)
    body = http("GET", f"/v1/prices/{chosen.id}").body
    assert_shape(body)
    assert "enabled" not in body["custom_unit_amount"]  # a request field: the price shows maximum/minimum/preset
    bare = _custom_price(stripe_client)
    assert bare.custom_unit_amount.to_dict() == {"maximum": None, "minimum": None, "preset": None}
    fixed = stripe_client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 100, "product_data": {"name": "Fixed"}}
    )
    assert fixed.custom_unit_amount is None
    assert [e["data"]["object"]["id"] for e in stripe_server.events("price.created")] == [chosen.id, bare.id, fixed.id]


def test_custom_amount_price_refusals(stripe_client, stripe_server):
    def refused(**extra):
        params = {"currency": "usd", "product_data": {"name": "Donation"}, **extra}
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.prices.create(params=params)
        assert info.value.http_status == 400
        return info.value

    err = refused(unit_amount=1000, custom_unit_amount={"enabled": True})
    assert err.param == "custom_unit_amount"
    assert "You may only specify one of these parameters: unit_amount, custom_unit_amount." in err.user_message
    err = refused(custom_unit_amount={"enabled": True, "minimum": 1000, "maximum": 5000, "preset": 6000})
    assert err.param == "custom_unit_amount[preset]"
    err = refused(custom_unit_amount={"enabled": True, "minimum": 1000, "preset": 500})
    assert err.param == "custom_unit_amount[preset]"
    err = refused(custom_unit_amount={"enabled": True}, recurring={"interval": "month"})
    assert err.param == "recurring"
    assert refused(custom_unit_amount={"minimum": 1000}).param == "custom_unit_amount[enabled]"
    assert stripe_server.state.store.count("price") == 0 and stripe_server.state.store.count("product") == 0


def test_link_with_a_custom_amount_price(stripe_client, price):
    chosen = _custom_price(stripe_client, minimum=500, maximum=50000, preset=2500)
    link = stripe_client.v1.payment_links.create(params={"line_items": [{"price": chosen.id, "quantity": 1}]})
    assert link.currency == "usd"
    (item,) = stripe_client.v1.payment_links.line_items.list(link.id).data
    assert (item.quantity, item.amount_subtotal, item.amount_total, item.description) == (1, 2500, 2500, "Donation")
    assert item.adjustable_quantity is None
    assert item.price.id == chosen.id and item.price.custom_unit_amount.preset == 2500

    bare = _custom_price(stripe_client)
    link = stripe_client.v1.payment_links.create(params={"line_items": [{"price": bare.id, "quantity": 1}]})
    (item,) = stripe_client.v1.payment_links.line_items.list(link.id).data
    assert (item.amount_subtotal, item.amount_total) == (0, 0)  # no preset: the customer starts from nothing

    assert _refused(stripe_client, {"line_items": [{"price": chosen.id, "quantity": 2}]}).param == (
        "line_items[0][quantity]"
    )
    err = _refused(
        stripe_client,
        {"line_items": [{"price": chosen.id, "quantity": 1, "adjustable_quantity": {"enabled": True}}]},
    )
    assert err.param == "line_items[0][adjustable_quantity]"
    err = _refused(
        stripe_client, {"line_items": [{"price": price.id, "quantity": 1}, {"price": chosen.id, "quantity": 1}]}
    )
    assert err.param == "line_items"  # a custom-amount price must be the link's only line item
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payment_links.update(link.id, params={"line_items": [{"id": item.id, "quantity": 3}]})
    assert info.value.param == "line_items[0][quantity]"


def test_invoice_items_and_subscriptions_refuse_custom_amount_prices(stripe_client):
    from .billing_helpers import customer

    chosen = _custom_price(stripe_client, preset=2500)
    cus = customer(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoice_items.create(params={"customer": cus.id, "pricing": {"price": chosen.id}})
    assert info.value.http_status == 400 and info.value.param == "pricing[price]"
    assert "custom_unit_amount" in info.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": chosen.id}]})
    assert info.value.http_status == 400 and info.value.param == "items[0][price]"
    assert "custom_unit_amount" in info.value.user_message
    assert stripe_client.v1.invoice_items.list().data == []
    assert stripe_client.v1.subscriptions.list().data == []
