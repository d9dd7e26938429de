"""Thousands of objects: every page, cursor and filter still gives the right objects.

How fast they come (a page costs O(page), not O(objects)) is measured by
``bench/local_stripe_server.py``, not asserted here: timings depend on the machine.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse


def _get(conn, path, headers):
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    return body


def test_5000_customers_page_walk_and_filter_correctly(stripe_server, stripe_client):
    conn = http.client.HTTPConnection("127.0.0.1", stripe_server.port, timeout=10)
    headers = {"Authorization": f"Bearer {stripe_server.api_key}", "Content-Type": "application/x-www-form-urlencoded"}
    for i in range(5000):
        body = urllib.parse.urlencode({"email": f"user{i}@example.com", "metadata[n]": str(i)})
        conn.request("POST", "/v1/customers", body, headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200

    walked = [c.metadata["n"] for c in stripe_client.v1.customers.list(params={"limit": 100}).auto_paging_iter()]
    assert walked == [str(i) for i in reversed(range(5000))]  # newest first, each once

    oldest_but_one = stripe_server.state.store.ids("customer")[1]
    deep = _get(conn, f"/v1/customers?limit=10&starting_after={oldest_but_one}", headers)
    assert [c["metadata"]["n"] for c in deep["data"]] == ["0"] and deep["has_more"] is False
    by_email = _get(conn, "/v1/customers?email=user3%40example.com", headers)
    assert [c["metadata"]["n"] for c in by_email["data"]] == ["3"]
    conn.close()
