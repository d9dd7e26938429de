"""How a resource family plugs into the server: object types, routes, clock and event hooks.

A family is one module in ``testing/resources/`` with a module-level ``family = ResourceFamily(...)``;
the package finds it by itself (no list to edit). It declares the object types it stores (id prefix
and fixture come from Stripe's fixtures), registers handlers with ``@family.get/post/delete(path)``
and may react to the server clock (``@family.on_clock``) or to every new event
(``@family.on_event``, e.g. webhook delivery). A handler is a plain function ``(ctx) -> dict`` run
under the store lock; it raises :class:`~.errors.StripeError` for Stripe errors and must validate
everything before changing the store (only 402s leave changes behind, as at Stripe).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors, params
from .store import EventListener, ObjectType, Store, StoreListener
from .templates import fixture

Handler = Callable[["Ctx"], Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # aiohttp pattern, e.g. "/v1/customers/{id}"
    handler: Handler


@dataclass
class ResourceFamily:
    name: str
    types: list[ObjectType] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    clock_listeners: list[Callable] = field(default_factory=list)
    event_listeners: list[EventListener] = field(default_factory=list)
    control_routes: list[Route] = field(default_factory=list)

    def object_type(
        self,
        name: str,
        *,
        label: str | None = None,
        prefix: str | None = None,
        indexes: tuple[str, ...] = (),
        fixture_name: str | None = None,
        ranges: tuple[str, ...] = (),
        embeds: tuple[str, ...] = (),
        frozen: bool = False,
    ) -> ObjectType:
        """Declare a stored type; prefix and id length default to those of Stripe's fixture id.

        :param name: the type (``object`` value and fixture name)
        :param label: how Stripe's errors name it ("No such PaymentMethod")
        :param prefix: the id prefix, if not the fixture id's
        :param indexes: top-level fields lists filter by equality (a page costs O(log n + page))
        :param fixture_name: the fixture to build from, if not ``name``
        :param ranges: top-level integer fields lists filter by range (e.g. ``due_date``)
        :param embeds: top-level lists (``{"data": [...]}``) holding other stored objects themselves
            (a subscription's ``items``): they stay the same dicts as the stored ones
        :param frozen: objects never change once stored (events), so a request that only read them
            does not have to check them for changes
        """
        example_id = str(fixture(fixture_name or name).get("id", ""))
        head, _, tail = example_id.partition("_")
        otype = ObjectType(
            name=name,
            label=label or name,
            prefix=prefix or head,
            id_length=len(tail) if prefix is None and len(tail) >= 14 else 24,
            indexes=indexes,
            fixture=fixture_name or name,
            ranges=ranges,
            embeds=embeds,
            frozen=frozen,
        )
        self.types.append(otype)
        return otype

    def _route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self._route("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self._route("POST", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self._route("DELETE", path)

    def control(self, method: str, path: str) -> Callable[[Handler], Handler]:
        """A test-control endpoint under ``/_testing/`` (no API key, not in the request log): what
        Stripe does on its own (an early fraud warning arriving), for tests that cannot call Python.
        The handler gets a :class:`Ctx` of the form fields (``request_id`` None, as for events Stripe
        emits by itself); a :class:`~.errors.StripeError` it raises is answered with its status."""

        def register(handler: Handler) -> Handler:
            self.control_routes.append(Route(method, path, handler))
            return handler

        return register

    def on_clock(self, listener: Callable[[Store, int, int], None]) -> Callable:
        """``listener(store, before, after)`` runs under the lock whenever server time is moved."""
        self.clock_listeners.append(listener)
        return listener

    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> Callable:
        self.event_listeners.append(listener)
        return listener

    def on_store_event(self, listener: Callable[[Store, dict[str, Any]], None]) -> Callable:
        """``listener(store, event)`` runs under the lock after every new event (to react to other
        families' changes, e.g. an invoice's PaymentIntent succeeding); it may change the store and emit."""
        self.event_listeners.append(StoreListener(listener))
        return listener


class Ctx:
    """What a handler sees of its request: decoded params, path arguments, and the store."""

    def __init__(
        self,
        store: Store,
        params_: dict[str, Any],
        args: dict[str, str],
        *,
        request_id: str | None,
        idempotency_key: str | None,
        path: str,
        expand: list[str] | None = None,
    ) -> None:
        self.store = store
        self.expand = expand or []
        self.params = params_
        self.args = args
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.path = path

    def validate(self, schema: params.Schema) -> dict[str, Any]:
        return params.validate(self.params, schema)

    def emit(self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        request = {"id": self.request_id, "idempotency_key": self.idempotency_key}
        return self.store.emit(event_type, obj, previous, request)

    def page(
        self,
        type_name: str,
        query: dict[str, Any],
        *,
        url: str | None = None,
        where: dict[str, Any] | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        created_floor: int | None = None,
        ranges: dict[str, tuple[int | None, int | None]] | None = None,
    ) -> dict[str, Any]:
        """A Stripe list envelope for ``query`` (validated with ``params.LIST_SCHEMA`` keys).

        :param type_name: the table
        :param query: the validated list parameters (``limit``, cursors, ``created``)
        :param url: the envelope's ``url`` (default: the request path)
        :param where: fields that must equal a value (None values are left out; a set: any of them)
        :param predicate: a further test on each object
        :param created_floor: the oldest ``created`` listed (events' retention)
        :param ranges: inclusive bounds on integer fields, as :func:`.params.timestamp_range` gives them
        """
        if query.get("starting_after") and query.get("ending_before"):
            raise errors.invalid("You may only specify one of these parameters: ending_before, starting_after.")
        low, high = params.created_range(query.get("created"))
        if created_floor is not None:
            low = created_floor if low is None else max(low, created_floor)
        data, has_more = self.store.page(
            type_name,
            where={k: v for k, v in (where or {}).items() if v is not None},
            low=low,
            high=high,
            ranges=ranges,
            starting_after=query.get("starting_after"),
            ending_before=query.get("ending_before"),
            limit=query.get("limit", 10),
            predicate=predicate,
        )
        return {"object": "list", "data": data, "has_more": has_more, "url": url or self.path}
