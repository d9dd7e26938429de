"""The store's ordering and index bookkeeping, without HTTP."""

from __future__ import annotations

from airflow_stripe_automation.testing.app import AppState


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
    assert store.count("customer") == 0 and store.objects == {} and store.clock.offset == 0
