"""Products and prices through the real SDK: create, update, archive, lookup keys, lists, search, errors."""

from __future__ import annotations

import pytest
import stripe

from .billing_helpers import event_types, price


def test_product_crud(stripe_client, stripe_server):
    c = stripe_client.v1.products
    product = c.create(params={"name": "Gold", "description": "Gold tier", "metadata": {"sku": "g1"}})
    assert product.id.startswith("prod_") and product.type == "service" and product.active is True
    assert product.default_price is None and product.updated == product.created
    stripe_server.advance_clock(seconds=30)
    updated = c.update(product.id, params={"name": "Gold+", "metadata": {"sku": ""}})
    assert updated.name == "Gold+" and updated.metadata.to_dict() == {} and updated.updated > product.updated
    event = stripe_client.v1.events.list(params={"type": "product.updated"}).data[0]
    assert event.data.previous_attributes.to_dict() == {
        "name": "Gold", "metadata": {"sku": "g1"}, "updated": product.updated,
    }  # fmt: skip
    assert c.delete(product.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.retrieve(product.id)
    assert info.value.http_status == 404
    assert event_types(stripe_server, "product.") == ["product.created", "product.updated", "product.deleted"]


def test_custom_product_id_and_default_price_data(stripe_client):
    product = stripe_client.v1.products.create(
        params={
            "id": "gold-plan",
            "name": "Gold",
            "default_price_data": {"currency": "eur", "unit_amount": 999, "recurring": {"interval": "month"}},
        }
    )
    assert product.id == "gold-plan"
    default = stripe_client.v1.prices.retrieve(product.default_price)
    assert (default.product, default.unit_amount, default.currency, default.type) == (
        "gold-plan",
        999,
        "eur",
        "recurring",
    )
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.products.create(params={"id": "gold-plan", "name": "Again"})
    assert info.value.code == "resource_already_exists"
    with pytest.raises(stripe.InvalidRequestError) as info:  # a product with prices cannot be deleted
        stripe_client.v1.products.delete("gold-plan")
    assert "prices" in info.value.user_message
    assert stripe_client.v1.products.retrieve("gold-plan").active is True


def test_product_list_filters(stripe_client):
    c = stripe_client.v1.products
    a = c.create(params={"name": "A"})
    b = c.create(params={"name": "B", "type": "good", "shippable": True})
    archived = c.create(params={"name": "C"})
    c.update(archived.id, params={"active": False})

    def ids(**params):
        return [p.id for p in c.list(params=params).auto_paging_iter()]

    assert ids() == [archived.id, b.id, a.id]
    assert ids(active=True) == [b.id, a.id]
    assert ids(active=False) == [archived.id]
    assert ids(type="good") == [b.id]
    assert ids(ids=[a.id, archived.id]) == [archived.id, a.id]
    assert [p.id for p in c.search(params={"query": "name:'B'"}).data] == [b.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.create(params={"description": "no name"})
    assert info.value.param == "name"


def test_price_create_shapes(stripe_client, stripe_server):
    monthly = price(stripe_client, amount=1500, lookup_key="pro_monthly", nickname="Pro")
    assert monthly.id.startswith("price_") and monthly.type == "recurring"
    assert monthly.recurring.to_dict() == {
        "interval": "month", "interval_count": 1, "meter": None, "usage_type": "licensed", "trial_period_days": None,
    }  # fmt: skip
    assert (monthly.unit_amount, str(monthly.unit_amount_decimal), monthly.billing_scheme) == (1500, "1500", "per_unit")
    assert stripe_client.v1.products.retrieve(monthly.product).name == "Pro plan"
    one_time = stripe_client.v1.prices.create(
        params={"currency": "usd", "unit_amount_decimal": "12.5", "product": monthly.product}
    )
    assert one_time.type == "one_time" and one_time.recurring is None
    assert (one_time.unit_amount, str(one_time.unit_amount_decimal)) == (None, "12.5")
    assert event_types(stripe_server, "price.") == ["price.created", "price.created"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"unit_amount": 100, "product_data": {"name": "x"}}, "currency"),
        ({"currency": "usd", "product_data": {"name": "x"}}, "unit_amount"),
        ({"currency": "usd", "unit_amount": 100}, "product"),
        ({"currency": "usd", "unit_amount": 100, "product": "prod_missing"}, "product"),
        ({"currency": "usd", "unit_amount": -1, "product_data": {"name": "x"}}, "unit_amount"),
        ({"currency": "usd", "unit_amount": 1, "unit_amount_decimal": "1", "product_data": {"name": "x"}},
         "unit_amount_decimal"),
        ({"currency": "usd", "unit_amount": 1, "product_data": {"name": "x"}, "recurring": {"interval": "fortnight"}},
         "recurring[interval]"),
        ({"currency": "usd", "unit_amount": 1, "product_data": {"name": "x"},
          "recurring": {"interval": "month", "interval_count": 37}}, "recurring[interval_count]"),
        ({"currency": "usd", "unit_amount": 1, "product_data": {"name": "x"},
          "recurring": {"interval": "month", "usage_type": "metered"}}, "recurring[usage_type]"),
        ({"currency": "usd", "product_data": {"name": "x"}, "billing_scheme": "tiered"}, "billing_scheme"),
        ({"currency": "usd", "unit_amount": 1, "product_data": {"active": True}}, "product_data[name]"),
    ],
)  # fmt: skip
def test_price_validation(stripe_client, stripe_server, params, param):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.prices.create(params=params)
    assert info.value.http_status == 400 and info.value.param == param, info.value.user_message
    assert stripe_server.state.store.count("price") == 0 and stripe_server.state.store.count("product") == 0


def test_lookup_keys_are_unique_unless_transferred(stripe_client, stripe_server):
    first = price(stripe_client, lookup_key="standard")
    with pytest.raises(stripe.InvalidRequestError) as info:
        price(stripe_client, lookup_key="standard")
    assert info.value.param == "lookup_key" and first.id in info.value.user_message
    second = price(stripe_client, lookup_key="standard", transfer_lookup_key=True)
    assert stripe_client.v1.prices.retrieve(first.id).lookup_key is None
    found = stripe_client.v1.prices.list(params={"lookup_keys": ["standard"]}).data
    assert [p.id for p in found] == [second.id]
    moved = stripe_client.v1.events.list(params={"type": "price.updated"}).data[0]
    assert moved.data.object.id == first.id and moved.data.previous_attributes.lookup_key == "standard"


def test_price_update_and_immutable_amounts(stripe_client):
    p = price(stripe_client)
    archived = stripe_client.v1.prices.update(p.id, params={"active": False, "nickname": "old", "metadata": {"v": "1"}})
    assert (archived.active, archived.nickname, archived.metadata.v) == (False, "old", "1")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.prices.update(p.id, params={"unit_amount": 5})
    assert info.value.code == "parameter_unknown"
    stripe_client.v1.prices.update(p.id, params={"tax_behavior": "exclusive"})
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.prices.update(p.id, params={"tax_behavior": "inclusive"})


def test_price_list_filters(stripe_client):
    monthly = price(stripe_client, amount=1000)
    yearly = price(stripe_client, amount=10000, interval="year")
    once = price(stripe_client, amount=500, interval=None)
    eur = stripe_client.v1.prices.create(
        params={"currency": "eur", "unit_amount": 900, "product": monthly.product, "recurring": {"interval": "month"}}
    )
    archived = price(stripe_client, amount=1)
    stripe_client.v1.prices.update(archived.id, params={"active": False})

    def ids(**params):
        return [p.id for p in stripe_client.v1.prices.list(params=params).auto_paging_iter()]

    assert ids() == [eur.id, once.id, yearly.id, monthly.id]  # active ones by default
    assert ids(active=False) == [archived.id]
    assert ids(type="one_time") == [once.id]
    assert ids(recurring={"interval": "month"}) == [eur.id, monthly.id]
    assert ids(recurring={"interval": "year"}) == [yearly.id]
    assert ids(product=monthly.product) == [eur.id, monthly.id]
    assert ids(currency="eur") == [eur.id]
    page = stripe_client.v1.prices.list(params={"limit": 2})
    assert len(page.data) == 2 and page.has_more is True
    found = stripe_client.v1.prices.search(params={"query": f"product:'{monthly.product}' AND currency:'usd'"})
    assert [p.id for p in found.data] == [monthly.id]


def test_inactive_prices_cannot_be_subscribed(stripe_client):
    from .billing_helpers import customer

    p = price(stripe_client)
    stripe_client.v1.prices.update(p.id, params={"active": False})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.subscriptions.create(
            params={"customer": customer(stripe_client).id, "items": [{"price": p.id}]}
        )
    assert info.value.param == "items[0][price]" and "inactive" in info.value.user_message
