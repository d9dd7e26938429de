"""StripeCreatePaymentLinkOperator against the local Stripe server: the link, once per order, dry run, bad input."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.errors import StripeInputError
from airflow_stripe_automation.operators.payment_links import StripeCreatePaymentLinkOperator
from tests.operators.conftest import writes


def _link_posts(server):
    return [r for r in writes(server, "/v1/payment_links") if r["path"] == "/v1/payment_links"]


def _lines(stripe_client, link_id):
    return list(stripe_client.v1.payment_links.line_items.list(link_id).auto_paging_iter())


@pytest.fixture
def price(stripe_client):
    product = stripe_client.v1.products.create(params={"name": "Workshop seat"})
    return stripe_client.v1.prices.create(params={"product": product.id, "unit_amount": 12000, "currency": "eur"})


def test_an_ad_hoc_amount_becomes_a_link_for_the_order(stripe_client, make_context):
    out = StripeCreatePaymentLinkOperator(task_id="link", order_id="deal-881", amount="25000", currency="usd").execute(
        make_context()
    )

    link = stripe_client.v1.payment_links.retrieve(out["id"])
    assert out["url"] == link.url and link.url.startswith("https://buy.stripe.com/")
    assert (link.active, link.metadata["order_id"], out["order_id"]) == (True, "deal-881", "deal-881")
    (line,) = _lines(stripe_client, link.id)
    assert (line.amount_total, line.currency, line.quantity, line.description) == (25000, "usd", 1, "Order deal-881")
    assert out["already_done"] is False


def test_a_price_with_partial_payment_lets_the_customer_lower_the_quantity(stripe_client, make_context, price):
    out = StripeCreatePaymentLinkOperator(
        task_id="link", order_id="deal-9", price_id=price.id, quantity=4, allow_partial="True"
    ).execute(make_context())

    (line,) = _lines(stripe_client, out["id"])
    assert (line.price.id, line.quantity, line.amount_total) == (price.id, 4, 48000)
    assert (line.adjustable_quantity.enabled, line.adjustable_quantity.minimum, line.adjustable_quantity.maximum) == (
        True,
        1,
        4,
    )


def test_an_ad_hoc_amount_with_partial_payment_is_a_capped_customer_chosen_price(stripe_client, make_context):
    out = StripeCreatePaymentLinkOperator(
        task_id="link",
        order_id="deal-5",
        amount=30000,
        currency="usd",
        allow_partial=True,
        minimum_amount=5000,
    ).execute(make_context())

    (line,) = _lines(stripe_client, out["id"])
    custom = line.price.custom_unit_amount
    assert (custom.preset, custom.maximum, custom.minimum) == (30000, 30000, 5000)


def test_one_link_per_order_across_retries_runs_and_days(stripe_client, stripe_server, make_context):
    op = StripeCreatePaymentLinkOperator(task_id="link", order_id="deal-42", amount=9900, currency="usd")
    first = op.execute(make_context(run_id="run_1"))
    retry = op.execute(make_context(run_id="run_1"))
    other_run = op.execute(make_context(run_id="run_2"))
    stripe_server.advance_clock(days=2)  # past Stripe's 24 h key window: only the mark can find it
    late = op.execute(make_context(run_id="run_3"))

    assert len(_link_posts(stripe_server)) == 1
    assert {retry["id"], other_run["id"], late["id"]} == {first["id"]}
    assert retry["already_done"] and other_run["already_done"] and late["already_done"]
    assert late["url"] == first["url"]
    # another order gets its own link
    StripeCreatePaymentLinkOperator(task_id="link", order_id="deal-43", amount=9900).execute(make_context())
    assert len(_link_posts(stripe_server)) == 2


def test_a_deactivated_link_of_the_order_is_returned_not_replaced(stripe_client, stripe_server, make_context):
    op = StripeCreatePaymentLinkOperator(task_id="link", order_id="deal-7", amount=1500)
    first = op.execute(make_context())
    stripe_client.v1.payment_links.update(first["id"], params={"active": False})

    again = op.execute(make_context(run_id="later"))
    assert (again["id"], again["active"], again["already_done"]) == (first["id"], False, True)
    assert len(_link_posts(stripe_server)) == 1


def test_dry_run_sends_no_write(stripe_server, make_context):
    out = StripeCreatePaymentLinkOperator(
        task_id="link", order_id="deal-1", amount=2500, currency="eur", dry_run=True
    ).execute(make_context())

    assert out["dry_run"] is True and "€25.00" in out["would"] and "deal-1" in out["would"]
    assert stripe_server.write_requests() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order_id": "", "amount": 100}, "order_id is required"),
        ({"order_id": "o1"}, "exactly one of price_id"),
        ({"order_id": "o1", "amount": 100, "price_id": "price_1"}, "exactly one of price_id"),
        ({"order_id": "o1", "price_id": "prod_1"}, "starting with 'price_'"),
        ({"order_id": "o1", "amount": 0}, "greater than zero"),
        ({"order_id": "o1", "amount": "9.99"}, "integer number of minor units"),
        ({"order_id": "o1", "amount": 100, "currency": "zzz"}, "not a currency Stripe supports"),
        ({"order_id": "o1", "price_id": "price_1", "quantity": 0}, "quantity must be greater than zero"),
        ({"order_id": "o1", "price_id": "price_1", "allow_partial": True}, "quantity ≥ 2"),
        ({"order_id": "o1", "amount": 100, "allow_partial": "maybe"}, "allow_partial must be true or false"),
        ({"order_id": "o1", "amount": 100, "allow_partial": True, "minimum_amount": 200}, "not be above amount"),
        ({"order_id": "o1", "amount": 100, "metadata": {"order_id": "x"}}, "set by the operator"),
    ],
)
def test_bad_input_is_refused_without_any_request(stripe_server, make_context, kwargs, message):
    with pytest.raises(StripeInputError, match=message):
        StripeCreatePaymentLinkOperator(task_id="link", **kwargs).execute(make_context())
    assert stripe_server.requests == []


def test_a_batch_reads_the_accounts_links_once_for_all_its_orders(stripe_client, stripe_server, make_context):
    """Stripe finds payment links by no metadata: a batch of 5 orders reads the 3 pages of links once (13 reads order by order)."""
    for n in range(230):  # links of the account made elsewhere, and by this action for other orders
        StripeCreatePaymentLinkOperator(task_id="link", order_id=f"old-{n}", amount=500).execute(make_context())
    done_before = StripeCreatePaymentLinkOperator(task_id="link", order_id="deal-3", amount=700).execute(make_context())
    stripe_server.advance_clock(days=2)  # past Stripe's 24 h key window: only the mark can find deal-3's link
    seen = len(stripe_server.requests)

    op = StripeCreatePaymentLinkOperator(
        task_id="link", order_id="{{ obj.order }}", amount="{{ obj.amount }}", stripe_object=[]
    )
    op.stripe_object = [{"id": f"deal-{n}", "order": f"deal-{n}", "amount": 700} for n in range(1, 6)]
    context = make_context()
    op.render_template_fields(context)
    results = op.execute(context)

    during = stripe_server.requests[seen:]
    lists = [r for r in during if r["method"] == "GET" and r["path"] == "/v1/payment_links"]
    assert len(lists) == 3  # 231 links, 100 a page: one reading for the batch
    assert [r["already_done"] for r in results] == [False, False, True, False, False]
    assert results[2]["id"] == done_before["id"]
    assert len([r for r in during if r["method"] == "POST" and r["path"] == "/v1/payment_links"]) == 4
