"""``LocalStripeServer.call``: an endpoint run in-process gives what the same request over HTTP gives."""

from __future__ import annotations

import pytest

from airflow_stripe_automation.testing import errors
from airflow_stripe_automation.testing.forms import decode, encode


def test_encode_is_what_decode_reads_back():
    params = {"metadata": {"n": 1}, "items": [{"price": "p1", "quantity": 2}], "confirm": True, "gone": None, "e": ""}
    assert decode(encode(params)) == {
        "metadata": {"n": "1"},
        "items": {"0": {"price": "p1", "quantity": "2"}},
        "confirm": "true",
        "e": "",
    }


def test_call_makes_the_objects_and_events_a_request_makes(stripe_server, http):
    customer = stripe_server.call("POST", "/v1/customers", {"email": "a@example.com", "metadata": {"n": 1}})
    invoice = stripe_server.call(
        "POST", "/v1/invoices", {"customer": customer["id"], "collection_method": "send_invoice", "days_until_due": 3}
    )
    stripe_server.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 500, "currency": "usd"},
    )
    finalized = stripe_server.call("POST", f"/v1/invoices/{invoice['id']}/finalize", {"expand": ["customer"]})
    assert finalized["status"] == "open" and finalized["amount_due"] == 500
    assert finalized["customer"]["metadata"] == {"n": "1"}  # expand[] as over HTTP
    over_http = http("GET", f"/v1/invoices/{invoice['id']}")
    assert over_http.body == {**finalized, "customer": customer["id"]}
    assert [e["type"] for e in stripe_server.events()][:2] == ["customer.created", "invoice.created"]
    assert stripe_server.requests == [stripe_server.requests[0]]  # only the HTTP retrieve is logged


def test_call_raises_what_the_endpoint_answers(stripe_server):
    with pytest.raises(errors.StripeError) as missing:
        stripe_server.call("GET", "/v1/customers/cus_nope")
    assert missing.value.status == 404
    with pytest.raises(errors.StripeError) as unknown:
        stripe_server.call("GET", "/v1/nothing_here")
    assert unknown.value.status == 404 and "Unrecognized request URL" in str(unknown.value)
    with pytest.raises(errors.StripeError) as invalid:
        stripe_server.call("POST", "/v1/customers", {"balance": "lots"})
    assert invalid.value.status == 400
