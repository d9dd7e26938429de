"""The aiohttp application: Stripe's request pipeline in front of the resource families' handlers.

Every ``/v1`` request goes through the same steps Stripe's API applies, in this order: a
``Request-Id``; form decoding; test-mode key check (401); route lookup (Stripe's 404 for unknown
URLs); injected failures (tests' 429/500/503, :mod:`.faults`); the idempotency key (replay, mismatch, in
progress); an injected stall; the handler, run synchronously under the store lock; ``expand[]``; the
JSON response — or, for an injected drop, the connection reset once the result is saved. Each request
is recorded (method, path, params, idempotency key, status, replayed) for tests to inspect.
``/_testing/*`` is the control API (health, reset, clock, request log, failures, and families' own
controls such as ``/_testing/early_fraud_warnings``), without auth.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import socket
import string
import struct
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any

from aiohttp import web

from . import errors, expand
from .faults import Fault, FaultQueue
from .forms import as_list, decode, encode
from .idempotency import IdempotencyCache
from .rate_limit import RateLimiter
from .registry import Ctx, ResourceFamily, Route
from .request_log import RequestLog
from .resources import load_families
from .store import API_VERSION, Store
from .templates import clone

log = logging.getLogger(__name__)

_ID_CHARS = string.ascii_letters + string.digits
_TEST_KEY = re.compile(r"(sk|rk)_test_[A-Za-z0-9_]+")
_LIVE_KEY = re.compile(r"(sk|rk)_live_")
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")


class AppState:
    """Everything one server holds: the store, idempotency keys, pending faults, the request log."""

    def __init__(self, families: list[ResourceFamily] | None = None, rate_limit: float | None = None) -> None:
        self.families = load_families() if families is None else families
        self.store = Store(t for f in self.families for t in f.types)
        for family in self.families:
            self.store.clock_listeners.extend(family.clock_listeners)
            self.store.event_listeners.extend(family.event_listeners)
        self.lock = self.store.lock
        self.idempotency = IdempotencyCache()
        self.faults = FaultQueue()
        self.requests = RequestLog()
        self.default_rate_limit = rate_limit  # the server's setting; a reset returns to it
        self.limiter = RateLimiter(rate_limit)
        self.routes = ordered_routes(r for f in self.families for r in f.routes)
        self._patterns = [(r, _path_pattern(r.path)) for r in self.routes]

    def reset(self) -> None:
        with self.lock:
            self.store.reset()
            self.idempotency.clear()
            self.faults.clear()
            self.requests.clear()
            self.limiter = RateLimiter(self.default_rate_limit)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route serving ``method path`` and its path arguments, as the HTTP router would find them.

        :param method: ``GET``, ``POST`` or ``DELETE``
        :param path: the URL path, e.g. ``/v1/invoices/in_123/finalize``
        """
        for route, pattern in self._patterns:
            if route.method == method:
                match = pattern.fullmatch(path)
                if match:
                    return route, match.groupdict()
        raise errors.unrecognized_url(method, path)

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """Run the endpoint for ``method path`` in this thread, as a request would, without HTTP.

        The same validation, objects, events and ``expand[]`` as over HTTP (the params go through
        the SDK's form encoding and back), but no API key, rate limit, injected failure,
        idempotency key or request-log entry: the fastest way to seed thousands of objects. Raises
        :class:`~.errors.StripeError` as the endpoint would answer it; returns a copy of the body.

        :param method: ``GET``, ``POST`` or ``DELETE``
        :param path: the URL path, e.g. ``/v1/customers``
        :param params: the request parameters as Python values, as given to the SDK
        """
        route, args = self.resolve(method, path)
        return run_handler(self, route, decode(encode(params or {})), args, request_id(), None, path)


STATE = web.AppKey("state", AppState)
META = web.RequestKey("stripe", dict)  # what the pipeline hands to the endpoint


def request_id() -> str:
    return "req_" + "".join(secrets.choice(_ID_CHARS) for _ in range(14))


def mask_key(key: str) -> str:
    """Stripe never echoes a full key: keep the mode prefix and the last 4 characters."""
    prefix = re.match(r"[a-z]+_(test|live)_", key)
    head = prefix.group(0) if prefix else ""
    tail = key[-4:] if len(key) >= len(head) + 12 else ""
    return head + "*" * max(len(key) - len(head) - len(tail), 3) + tail


def authenticate(header: str | None) -> str:
    """The API key from ``Authorization`` (Bearer, or Basic with the key as user name)."""
    if not header:
        raise errors.authentication(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#"
            "authentication for details, or we can help at https://support.stripe.com/."
        )
    scheme, _, value = header.partition(" ")
    key = value.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key).decode().partition(":")[0]
        except ValueError:
            key = ""
    elif scheme.lower() != "bearer":
        raise errors.authentication(
            "Invalid Authorization header: use Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    if _LIVE_KEY.match(key):
        raise errors.authentication(
            f"Live mode keys are refused: this local Stripe server runs in test mode only ({mask_key(key)}). "
            "Use a test key (sk_test_... or rk_test_...)."
        )
    if not _TEST_KEY.fullmatch(key):
        raise errors.authentication(f"Invalid API Key provided: {mask_key(key)}")
    return key


def _json(body: Any) -> bytes:
    return json.dumps(body, indent=2).encode()


@web.middleware
async def stripe_pipeline(request: web.Request, handler):
    rid = request_id()
    if request.path.startswith("/_testing/") and request.match_info.http_exception is None:
        response = await handler(request)
        response.headers["Request-Id"] = rid
        return response
    state = request.app[STATE]
    method, path = request.method, request.path
    idem_key = request.headers.get("Idempotency-Key") if method == "POST" else None
    record: dict[str, Any] = {
        "method": method,
        "path": path,
        "params": {},
        "idempotency_key": idem_key,
        "status": None,
        "replayed": False,
        "request_id": rid,
        "stripe_version": request.headers.get("Stripe-Version"),
        "stripe_account": request.headers.get("Stripe-Account"),
    }
    headers = {"Request-Id": rid, "Stripe-Version": request.headers.get("Stripe-Version") or API_VERSION}
    scope = None
    fault: Fault | None = None
    try:
        raw = request.query_string
        params = decode(raw) if raw else {}
        if method == "POST":
            params.update(decode(await request.text()))
        record["params"] = params
        api_key = authenticate(request.headers.get("Authorization"))
        if record["stripe_version"] and not _VERSION.fullmatch(record["stripe_version"]):
            raise errors.invalid(f"Invalid Stripe API version: {record['stripe_version']}")
        if request.match_info.http_exception is not None:
            raise errors.unrecognized_url(method, path)
        with state.lock:
            record["time"] = state.store.now()
            admitted = state.limiter.admit()
            fault = state.faults.take(method, path, rid) if admitted else None
        if not admitted:
            # As at Stripe: no Stripe-Should-Retry header, nothing stored against the idempotency key.
            raise errors.injected(429)
        if fault is not None and fault.status:
            injected = errors.injected(fault.status, fault.message, fault.should_retry)
            if fault.code:
                injected.fields.update(code=fault.code, doc_url=f"https://stripe.com/docs/error-codes/{fault.code}")
            raise injected
        if idem_key is not None:
            headers["Idempotency-Key"] = idem_key
            with state.lock:
                saved = state.idempotency.begin(api_key, idem_key, method, path, params, state.store.now(), rid)
                saved_body = state.idempotency.body(saved) if saved is not None else b""
            if saved is not None:
                record["replayed"] = True
                headers.update({"Idempotent-Replayed": "true", "Original-Request": saved.request_id})
                return _finish(state, record, saved.status, saved_body, headers)
            scope = api_key
            headers["Original-Request"] = rid
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        request[META] = {"params": params, "request_id": rid, "idempotency_key": idem_key}
        response = await handler(request)
        status, body = response.status, response.body
    except errors.StripeError as exc:
        status, body = exc.status, _json(exc.body(rid))
        headers.update(exc.headers)
    except Exception:  # a bug here must look like Stripe's 500, not hang the client
        log.exception("local Stripe server: unhandled error on %s %s", method, path)
        status, body = 500, _json(errors.StripeError(500, "api_error", "An unknown error occurred").body(rid))
    if scope is not None and idem_key is not None:  # a key was reserved for this request
        with state.lock:
            state.idempotency.finish(scope, idem_key, status, body)
    if fault is not None and fault.drop:
        # The write is done and its result saved; the answer is lost on the way back.
        _finish(state, record, status, body, headers)
        return _drop(request)
    return _finish(state, record, status, body, headers)


def _drop(request: web.Request) -> web.StreamResponse:
    """
    Reset the request's connection (RST, no answer) and give aiohttp a response that writes nothing.

    The client reads no status line: requests/urllib3 raise ``ConnectionError``, which the SDK
    turns into ``stripe.APIConnectionError`` (or retries, as for any connection error).
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER 0: close() sends a reset, as a dropped connection or a crashed proxy does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return _Dropped()


class _Dropped(web.StreamResponse):
    """What the pipeline returns for a dropped connection: aiohttp has nothing left to send."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def _finish(state: AppState, record: dict[str, Any], status: int, body: bytes, headers: dict[str, str]):
    record["status"] = status
    with state.lock:
        state.requests.append(record)
        # Stripe's Date header is Stripe's clock; here the server's own, moved or pinned by tests.
        headers["Date"] = formatdate(state.store.now(), usegmt=True)
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


def _endpoint(route: Route):
    """Wrap a family's synchronous handler: build its Ctx, run it under the lock, expand, encode."""

    async def handle(request: web.Request) -> web.Response:
        state = request.app[STATE]
        meta = request[META]
        body = run_handler(
            state,
            route,
            clone(meta["params"]),
            dict(request.match_info),
            meta["request_id"],
            meta["idempotency_key"],
            request.path,
            _json,
        )
        return web.Response(body=body, content_type="application/json")

    return handle


def run_handler(
    state: AppState,
    route: Route,
    params: dict[str, Any],
    args: dict[str, str],
    rid: str | None,
    idempotency_key: str | None,
    path: str,
    encode_body: Callable[[Any], Any] | None = None,
) -> Any:
    """Run a family's handler under the lock and apply ``expand[]``: the response body (encoded if asked).

    :param state: the server's state
    :param route: the route matched
    :param params: the decoded parameters (the handler may change them)
    :param args: the path arguments
    :param rid: the request id (events carry it)
    :param idempotency_key: the request's key, if any (events carry it)
    :param path: the URL path
    :param encode_body: turn the body into bytes while the lock is still held (it may hold stored objects)
    """
    paths = [str(p) for p in as_list(params.pop("expand"), "expand")] if "expand" in params else []
    ctx = Ctx(state.store, params, args, request_id=rid, idempotency_key=idempotency_key, path=path, expand=paths)
    with state.lock:
        try:
            body = expand.apply(route.handler(ctx), ctx.expand, state.store)
            return encode_body(body) if encode_body is not None else clone(body)
        finally:
            state.store.settle()  # what the handler changed is packed, even when it raised (a 402 keeps it)


def _path_pattern(path: str) -> re.Pattern[str]:
    """``/v1/customers/{id}`` as a regular expression with a named group per placeholder."""
    parts = [f"(?P<{seg[1:-1]}>[^/]+)" if seg.startswith("{") else re.escape(seg) for seg in path.split("/")]
    return re.compile("/".join(parts))


def ordered_routes(routes: Iterable[Route]) -> list[Route]:
    """Literal segments before ``{placeholders}``: ``/v1/customers/search`` must win over ``/v1/customers/{id}``."""
    return sorted(routes, key=lambda r: [seg.startswith("{") for seg in r.path.split("/")])


def create_app(state: AppState | None = None) -> web.Application:
    app = web.Application(middlewares=[stripe_pipeline], client_max_size=8 * 1024 * 1024)
    app[STATE] = state or AppState()
    for route in app[STATE].routes:
        app.router.add_route(route.method, route.path, _endpoint(route))
    for route in (r for f in app[STATE].families for r in f.control_routes):
        app.router.add_route(route.method, route.path, _control_endpoint(route))
    app.router.add_routes(control_routes())
    return app


def _control_endpoint(route: Route):
    """A family's ``/_testing/`` handler: form fields in, JSON out, Stripe errors with their status."""

    async def handle(request: web.Request) -> web.Response:
        state = request.app[STATE]
        form = await _form(request)
        ctx = Ctx(state.store, form, dict(request.match_info), request_id=None, idempotency_key=None, path=request.path)
        try:
            with state.lock:
                try:
                    return web.Response(body=_json(route.handler(ctx)), content_type="application/json")
                finally:
                    state.store.settle()
        except errors.StripeError as exc:
            return web.Response(body=_json(exc.body()), status=exc.status, content_type="application/json")

    return handle


# -- control API ------------------------------------------------------------------------------


async def _form(request: web.Request) -> dict[str, Any]:
    merged = decode(request.query_string) if request.query_string else {}
    if request.method == "POST":
        merged.update(decode(await request.text()))
    return merged


def _number(form: dict[str, Any], name: str, default: float = 0) -> float:
    try:
        return float(form.get(name, default))
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be a number"}), content_type="application/json"
        ) from None


def control_routes() -> list[web.AbstractRouteDef]:
    routes = web.RouteTableDef()

    @routes.get("/_testing/health")
    async def health(request: web.Request) -> web.Response:
        state = request.app[STATE]
        with state.lock:
            return web.json_response({"status": "ok", "now": state.store.now(), "api_version": API_VERSION})

    @routes.post("/_testing/reset")
    async def reset(request: web.Request) -> web.Response:
        request.app[STATE].reset()
        return web.json_response({"status": "ok"})

    @routes.get("/_testing/clock")
    async def clock(request: web.Request) -> web.Response:
        state = request.app[STATE]
        with state.lock:
            return web.json_response({"now": state.store.now(), "offset": state.store.clock.offset})

    @routes.post("/_testing/clock/advance")
    async def advance(request: web.Request) -> web.Response:
        form = await _form(request)
        seconds = int(_number(form, "seconds") + 86400 * _number(form, "days"))
        if seconds < 0:
            raise web.HTTPBadRequest(text='{"error": "the clock only moves forward"}', content_type="application/json")
        state = request.app[STATE]
        with state.lock:
            state.store.move_clock(state.store.now() + seconds)
            state.store.settle()
            return web.json_response({"now": state.store.now()})

    @routes.post("/_testing/clock/set")
    async def set_clock(request: web.Request) -> web.Response:
        form = await _form(request)
        state = request.app[STATE]
        with state.lock:
            state.store.move_clock(int(_number(form, "timestamp", state.store.now())))
            state.store.settle()
            return web.json_response({"now": state.store.now()})

    @routes.get("/_testing/dashboard/{section}/{object_id}")
    async def dashboard(request: web.Request) -> web.Response:
        # What the provider's "Stripe dashboard" link opens when its api_base is this server: the
        # object as stored (deleted ones as their stub), under the dashboard's own path.
        state = request.app[STATE]
        object_id = request.match_info["object_id"]
        with state.lock:
            obj = state.store.lookup(object_id)
            body = None if obj is None else clone(obj)
        if body is None:
            return web.json_response({"error": f"no object {object_id!r} on this server"}, status=404)
        return web.json_response(body, dumps=lambda o: json.dumps(o, indent=2))

    @routes.get("/_testing/requests")
    async def requests(request: web.Request) -> web.Response:
        state = request.app[STATE]
        with state.lock:
            data = state.requests.records()
        if request.query.get("writes") == "true":
            data = [r for r in data if r["method"] != "GET"]
        return web.json_response({"object": "list", "data": data})

    @routes.post("/_testing/fail_next")
    async def fail_next(request: web.Request) -> web.Response:
        form = await _form(request)
        retry = form.get("should_retry")
        fault = Fault(
            remaining=int(_number(form, "count", 1)),
            status=int(_number(form, "status", 0)) or None,
            delay=_number(form, "delay", 0),
            method=form.get("method") or None,
            path=form.get("path") or None,
            message=form.get("message") or None,
            code=form.get("code") or None,
            should_retry=None if retry in (None, "") else retry == "true",
            after=int(_number(form, "after", 0)),
            drop=form.get("drop") == "true",
        )
        state = request.app[STATE]
        with state.lock:
            try:
                state.faults.add(fault)
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"status": "ok"})

    return list(routes)
