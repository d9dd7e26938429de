"""The local server's fault injection, seen from the real SDK: fail before the write, drop after it, stall.

Each kind is checked for what the client sees (the SDK's exception), what Stripe's state is after
it (the object made or not, the idempotent result saved or not) and what a retry with the same key
gets, since those are what the reliability suite (tests/reliability/) relies on.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

CUSTOMERS = "/v1/customers"


def names(stripe_client) -> list[str]:
    return sorted(c.name for c in stripe_client.v1.customers.list(params={"limit": 100}).data)


def create(client, name: str = "Ada", key: str | None = "fault-key"):
    options: stripe.RequestOptions = {"idempotency_key": key} if key else {}
    return client.v1.customers.create(params={"name": name}, options=options)


def short_timeout_client(server, timeout: float = 0.4) -> stripe.StripeClient:
    """A client of the real SDK whose HTTP timeout is short (the SDK's default is 80 s)."""
    return stripe.StripeClient(
        server.api_key,
        base_addresses={"api": server.url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


# -- fail: before the write ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(429, stripe.RateLimitError), (500, stripe.APIError), (503, stripe.APIError)]
)
def test_a_failure_comes_before_the_write_and_saves_nothing_against_the_key(
    stripe_server, stripe_client, status, error
):
    stripe_server.fail_next(status, count=2, path=CUSTOMERS, method="POST")

    for _ in range(2):
        with pytest.raises(error) as raised:
            create(stripe_client)
        assert raised.value.http_status == status
    assert names(stripe_client) == []

    made = create(stripe_client)  # the same key runs normally: nothing was saved against it
    assert names(stripe_client) == ["Ada"] and stripe_server.write_requests()[-1]["replayed"] is False
    assert made.id.startswith("cus_")
    assert [m["kind"] for m in stripe_server.faults_met] == ["fail", "fail"]


def test_a_failure_matches_only_its_method_and_path(stripe_server, stripe_client):
    stripe_server.fail_next(500, path="/v1/customers/*", method="POST")
    create(stripe_client, key=None)  # POST /v1/customers: not under the prefix
    stripe_client.v1.customers.list()  # a GET: another method
    assert len(stripe_server.state.faults) == 1 and stripe_server.faults_met == []


# -- drop: the write applied, the answer lost ----------------------------------------------------


def test_a_dropped_answer_leaves_the_write_applied_and_the_client_sees_a_reset(stripe_server, stripe_client):
    stripe_server.drop_next(path=CUSTOMERS, method="POST")

    with pytest.raises(stripe.APIConnectionError, match="Connection"):
        create(stripe_client)

    assert names(stripe_client) == ["Ada"]  # Stripe made it
    (write,) = stripe_server.write_requests()
    assert (write["status"], write["replayed"]) == (200, False)
    assert stripe_server.events("customer.created")[0]["request"]["id"] == write["request_id"]
    (met,) = stripe_server.faults_met
    assert (met["kind"], met["method"], met["path"], met["request_id"]) == (
        "drop",
        "POST",
        CUSTOMERS,
        write["request_id"],
    )


def test_a_retry_of_a_dropped_write_with_its_key_is_replayed(stripe_server, stripe_client):
    stripe_server.drop_next(path=CUSTOMERS, method="POST")
    with pytest.raises(stripe.APIConnectionError):
        create(stripe_client)
    first = stripe_server.write_requests()[0]

    again = create(stripe_client)

    assert names(stripe_client) == ["Ada"] and again.id == stripe_client.v1.customers.list().data[0].id
    replay = stripe_server.write_requests()[-1]
    assert replay["replayed"] is True and replay["idempotency_key"] == first["idempotency_key"]


def test_the_sdks_own_retries_recover_a_dropped_answer_with_one_object(stripe_server):
    client = stripe_server.client(max_network_retries=2)
    stripe_server.drop_next(path=CUSTOMERS, method="POST")

    made = create(client, key=None)  # the SDK adds a key of its own, and resends it

    assert names(client) == ["Ada"] and made.name == "Ada"
    first, second = stripe_server.write_requests()
    assert first["idempotency_key"] == second["idempotency_key"] and second["replayed"] is True


def test_a_declined_payment_whose_answer_is_dropped_is_replayed_as_the_decline(stripe_server, stripe_client):
    stripe_server.drop_next(path="/v1/payment_intents", method="POST")
    params: dict = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True}
    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.payment_intents.create(params=params, options={"idempotency_key": "pay-1"})

    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_intents.create(params=params, options={"idempotency_key": "pay-1"})

    assert declined.value.code == "card_declined" and stripe_server.write_requests()[-1]["replayed"] is True
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_drops_can_let_requests_through_first_and_apply_to_several(stripe_server, stripe_client):
    stripe_server.drop_next(count=2, path=CUSTOMERS, method="POST", after=1)

    create(stripe_client, "A", key=None)
    for name in ("B", "C"):
        with pytest.raises(stripe.APIConnectionError):
            create(stripe_client, name, key=None)
    create(stripe_client, "D", key=None)

    assert names(stripe_client) == ["A", "B", "C", "D"]
    assert [m["kind"] for m in stripe_server.faults_met] == ["drop", "drop"]


# -- stall: longer than the client waits ---------------------------------------------------------


def test_a_stall_times_the_client_out_then_the_write_is_applied(stripe_server, stripe_client):
    client = short_timeout_client(stripe_server)
    stripe_server.stall_next(1.2, path=CUSTOMERS, method="POST")

    with pytest.raises(stripe.APIConnectionError, match="Timeout"):  # the client gave up first
        create(client)

    with pytest.raises(stripe.APIError) as busy:  # the key is still in use by the stalled request
        create(client)
    assert busy.value.http_status == 409 and names(stripe_client) == []

    deadline = time.monotonic() + 5
    while not names(stripe_client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert names(stripe_client) == ["Ada"]  # the server went on after the client left

    create(client)  # now the saved result
    assert stripe_server.write_requests()[-1]["replayed"] is True and names(stripe_client) == ["Ada"]
    assert [m["kind"] for m in stripe_server.faults_met] == ["stall"]


def test_a_short_stall_within_the_timeout_only_slows_the_request(stripe_server, stripe_client):
    stripe_server.stall_next(0.2, path=CUSTOMERS)
    create(stripe_client)
    assert names(stripe_client) == ["Ada"] and [m["kind"] for m in stripe_server.faults_met] == ["stall"]


# -- the controls --------------------------------------------------------------------------------


def test_a_fault_needs_a_kind_and_a_count(stripe_server):
    from airflow_stripe_automation.testing.faults import Fault

    with pytest.raises(ValueError, match="status"):
        stripe_server.state.faults.add(Fault(remaining=1))
    with pytest.raises(ValueError, match="at least one"):
        stripe_server.drop_next(count=0)


def test_a_reset_forgets_pending_and_met_faults(stripe_server, stripe_client):
    stripe_server.drop_next(path=CUSTOMERS)
    with pytest.raises(stripe.APIConnectionError):
        create(stripe_client)
    stripe_server.fail_next(500)
    stripe_server.reset()
    assert stripe_server.faults_met == [] and len(stripe_server.state.faults) == 0


def _control(server, **form) -> tuple[int, dict]:
    data = urllib.parse.urlencode(form).encode()
    try:
        with urllib.request.urlopen(f"{server.url}/_testing/fail_next", data=data, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_http_control_api_drops_too_and_refuses_an_empty_fault(stripe_server, stripe_client):
    assert _control(stripe_server, drop="true", path=CUSTOMERS, method="POST") == (200, {"status": "ok"})
    with pytest.raises(stripe.APIConnectionError):
        create(stripe_client)
    assert names(stripe_client) == ["Ada"]

    status, body = _control(stripe_server, path=CUSTOMERS)
    assert status == 400 and "needs a status" in body["error"]


def test_a_path_pattern_may_hold_a_star_anywhere(stripe_server, stripe_client):
    cus = create(stripe_client, key=None)
    stripe_server.fail_next(500, path="/v1/customers/*/balance_transactions", method="POST")
    stripe_client.v1.customers.update(cus.id, params={"name": "B"})  # not matched
    with pytest.raises(stripe.APIError):
        stripe_client.v1.customers.balance_transactions.create(cus.id, params={"amount": -100, "currency": "usd"})
    assert [m["path"] for m in stripe_server.faults_met] == [f"/v1/customers/{cus.id}/balance_transactions"]


def test_a_failure_may_carry_stripes_error_code(stripe_server, stripe_client):
    stripe_server.fail_next(400, path=CUSTOMERS, message="Invalid integer: ten", code="parameter_invalid_integer")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        create(stripe_client)
    assert refused.value.code == "parameter_invalid_integer" and refused.value.request_id.startswith("req_")
    assert names(stripe_client) == []
