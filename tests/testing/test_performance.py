"""Thousands of objects stay cheap: a page costs O(page), not O(objects) (the PyPI fake went quadratic)."""

from __future__ import annotations

import http.client
import time
import urllib.parse


def _time_get(conn, path, headers):
    start = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return time.perf_counter() - start


def test_5000_customers_create_and_page_quickly(stripe_server, stripe_client):
    conn = http.client.HTTPConnection("127.0.0.1", stripe_server.port, timeout=10)
    headers = {"Authorization": f"Bearer {stripe_server.api_key}", "Content-Type": "application/x-www-form-urlencoded"}
    start = time.perf_counter()
    for i in range(5000):
        body = urllib.parse.urlencode({"email": f"user{i}@example.com", "metadata[n]": str(i)})
        conn.request("POST", "/v1/customers", body, headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    created = time.perf_counter() - start

    start = time.perf_counter()
    walked = sum(1 for _ in stripe_client.v1.customers.list(params={"limit": 100}).auto_paging_iter())
    paged = time.perf_counter() - start
    assert walked == 5000

    oldest = stripe_server.state.store.tables["customer"].all.ids[1]
    first = min(_time_get(conn, "/v1/customers?limit=10", headers) for _ in range(20))
    deep = min(_time_get(conn, f"/v1/customers?limit=10&starting_after={oldest}", headers) for _ in range(20))
    by_email = min(_time_get(conn, "/v1/customers?email=user3%40example.com", headers) for _ in range(20))
    conn.close()
    assert created < 30 and paged < 15, (created, paged)
    assert deep < first * 5 + 0.005 and by_email < first * 5 + 0.005, (first, deep, by_email)
