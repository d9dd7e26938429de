"""The store's ordering and index bookkeeping, without HTTP."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.testing.app import AppState
from airflow_stripe_automation.testing.templates import clone


def _store():
    return AppState().store


def test_index_keeps_insertion_order_when_an_old_object_joins_late():
    store = _store()
    pms = [store.create("payment_method", customer=None) for _ in range(3)]
    store.update(pms[2], {"customer": "cus_a"})
    store.update(pms[0], {"customer": "cus_a"})  # older object joins after a newer one
    page, more = store.page("payment_method", where={"customer": "cus_a"})
    assert [p["id"] for p in page] == [pms[2]["id"], pms[0]["id"]] and more is False
    store.update(pms[2], {"customer": None})
    assert [p["id"] for p in store.page("payment_method", where={"customer": "cus_a"})[0]] == [pms[0]["id"]]


def test_cursor_from_outside_a_filtered_index():
    store = _store()
    a1 = store.create("payment_method", customer="cus_a")
    b = store.create("payment_method", customer="cus_b")
    a2 = store.create("payment_method", customer="cus_a")
    older, _ = store.page("payment_method", where={"customer": "cus_a"}, starting_after=b["id"])
    newer, _ = store.page("payment_method", where={"customer": "cus_a"}, ending_before=b["id"])
    assert [p["id"] for p in older] == [a1["id"]] and [p["id"] for p in newer] == [a2["id"]]


def test_created_bounds_with_and_without_monotonic_clock():
    store = _store()
    store.clock.set(1000)
    first = store.create("customer")
    store.clock.set(2000)
    second = store.create("customer")
    assert store.tables["customer"].monotonic
    assert [c["id"] for c in store.page("customer", low=1500)[0]] == [second["id"]]
    store.clock.set(500)
    third = store.create("customer")
    assert not store.tables["customer"].monotonic
    assert [c["id"] for c in store.page("customer", high=1000)[0]] == [third["id"], first["id"]]


def test_build_refuses_keys_stripe_does_not_have():
    store = _store()
    try:
        store.build("customer", favourite_colour="blue")
    except KeyError as exc:
        assert "favourite_colour" in str(exc)
    else:
        raise AssertionError("an unknown key was accepted")


def test_reset_clears_objects_and_clock():
    store = _store()
    store.clock.set(10)
    store.create("customer")
    store.reset()
    assert store.count("customer") == 0 and list(store.items()) == [] and store.clock.offset == 0


def test_settled_objects_come_back_equal_and_handed_out_dicts_detach():
    store = _store()
    customer = store.create("customer", email="a@example.com", metadata={"n": "1"}, preferred_locales=["en"])
    store.private(customer["id"])["note"] = ("a", 1)  # any Python value, tuples included
    snapshot = clone(customer)
    store.settle()
    customer["email"] = "changed@example.com"  # a dict kept past settle() changes nothing stored
    again = store.get("customer", customer["id"])
    assert again == snapshot and again is not customer
    assert store.get("customer", customer["id"]) is again  # one dict per object until the next settle
    assert store.private(customer["id"]) == {"note": ("a", 1)}
    store.update(again, {"name": "Ada"})
    store.settle()
    assert store.get("customer", customer["id"])["name"] == "Ada"
    assert store.page("customer", where={"email": "a@example.com"})[0][0]["name"] == "Ada"


def test_changing_a_copy_is_refused_not_lost():
    store = _store()
    customer = store.create("customer", email="a@example.com")
    store.settle()
    ((_, copy),) = store.scan("customer")  # scan() reads copies
    live = store.get("customer", customer["id"])
    with pytest.raises(RuntimeError, match="copy"):
        store.update(copy, {"name": "lost"})
    assert live.get("name") is None


def test_embedded_stored_objects_stay_the_store_s_own_dicts():
    store = _store()
    item = store.create("subscription_item", subscription="sub_x")
    sub = store.create("subscription", items={"object": "list", "data": [item], "has_more": False})
    store.settle()
    sub = store.get("subscription", sub["id"])
    item = store.get("subscription_item", item["id"])
    assert sub["items"]["data"][0] is item
    store.update(item, {"quantity": 7})
    store.settle()
    assert store.get("subscription", sub["id"])["items"]["data"][0]["quantity"] == 7


def test_deleted_objects_leave_lists_and_indexes_and_keep_their_stub():
    store = _store()
    keep = store.create("customer", email="a@example.com")
    gone = store.create("customer", email="a@example.com")
    store.delete(gone, {"id": gone["id"], "object": "customer", "deleted": True})
    store.settle()
    assert [c["id"] for c in store.page("customer", where={"email": "a@example.com"})[0]] == [keep["id"]]
    assert store.get("customer", gone["id"]) is None and store.lookup(gone["id"])["deleted"] is True
    assert store.count("customer") == 1 and store.kind_of(gone["id"]) == "customer"


def test_range_index_follows_updates():
    store = _store()
    invoices = [store.create("invoice", status="open", due_date=100 * i, customer="cus_a") for i in range(1, 6)]
    store.update(invoices[0], {"due_date": 450})
    store.update(invoices[4], {"due_date": None})
    store.update(invoices[2], {"status": "paid"})
    page, more = store.page("invoice", where={"status": "open"}, ranges={"due_date": (200, 450)})
    assert [i["due_date"] for i in page] == [400, 200, 450] and more is False
    assert store.page("invoice", ranges={"due_date": (None, None)})[0][0]["id"] == invoices[4]["id"]
