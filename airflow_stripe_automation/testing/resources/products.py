"""Products: create (optionally with ``default_price_data``), retrieve, update, delete, list, search.

``POST /v1/products`` is in :mod:`.prices`: it may create the product's default price, and prices are
built on products (:func:`check_new` / :func:`build` serve both), not the other way round.

As at Stripe: ``name`` is required, ``type`` defaults to ``service``, a custom ``id`` must be
unique, ``default_price`` must be an active price of this product, ``updated`` moves with every
change, and a product that has prices cannot be deleted (archive it with ``active=false``). A
deleted product is gone: retrieving it is a 404, as at Stripe.
"""

from __future__ import annotations

import re
from typing import Any

from .. import errors, search
from ..params import (
    LIST_SCHEMA,
    anything,
    array,
    boolean,
    enum,
    merge_metadata,
    metadata,
    needs,
    nullable_string,
    require,
    statement_descriptor,
    string,
)
from ..registry import Ctx, ResourceFamily
from ..templates import fixture

family = ResourceFamily("products")
family.object_type("product", indexes=("active",))

SEARCH_FIELDS = {"name": "text", "description": "text", "metadata": "metadata", "created": "number", "url": "text"}

_PACKAGE = {k: anything for k in ("height", "length", "weight", "width")}


def _feature(value: Any, param: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value.get("name"):
        raise errors.missing_param(f"{param}[name]")
    if set(value) - {"name"}:
        raise errors.unknown_param(f"{param}[{min(set(value) - {'name'})}]")
    return {"name": string(value["name"], f"{param}[name]")}


_FEATURES = array(_feature)
_COMMON = {
    "active": boolean,
    "description": nullable_string,
    "images": lambda v, p: [] if v == "" else array(string)(v, p),
    "marketing_features": lambda v, p: [] if v == "" else _FEATURES(v, p),
    "metadata": metadata,
    "name": string,
    "package_dimensions": lambda v, p: None if v == "" else _package(v, p),
    "shippable": boolean,
    "statement_descriptor": statement_descriptor,
    "tax_code": nullable_string,
    "tax_details": anything,
    "unit_label": nullable_string,
    "url": nullable_string,
}
CREATE = {**_COMMON, "id": string, "type": enum("good", "service"), "default_price_data": needs(anything, "currency")}
UPDATE = {**_COMMON, "default_price": nullable_string}
_PLAIN = ("active", "description", "images", "marketing_features", "name", "package_dimensions", "shippable",
          "statement_descriptor", "tax_code", "unit_label", "url")  # fmt: skip


def _package(value: Any, param: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise errors.invalid(f"Invalid hash: {param} must be a hash", param)
    out = {}
    for key in ("height", "length", "weight", "width"):
        if key not in value:
            raise errors.missing_param(f"{param}[{key}]")
        try:
            out[key] = float(value[key])
        except (TypeError, ValueError):
            raise errors.invalid(f"Invalid decimal: {value[key]}", f"{param}[{key}]") from None
    unknown = set(value) - set(out)
    if unknown:
        raise errors.unknown_param(f"{param}[{min(unknown)}]")
    return out


def _check_descriptor(value: str | None) -> None:
    if value and (len(value) > 22 or re.search(r"[<>\\'\"*]", value)):
        raise errors.invalid(
            "The statement descriptor must be at most 22 characters and may not contain <, >, \\, ', \" or *.",
            "statement_descriptor",
        )


def check_new(store, p: dict[str, Any], prefix: str = "") -> None:
    """Validate creation fields (also for ``product_data`` on a price) without changing anything."""
    if not p.get("name"):
        raise errors.missing_param(f"{prefix}name" if not prefix else f"{prefix}[name]")
    _check_descriptor(p.get("statement_descriptor"))
    if p.get("id"):
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,255}", p["id"]):
            raise errors.invalid("Invalid product id: use letters, digits, '-' and '_'.", "id")
        if store.lookup(p["id"]) is not None:
            raise errors.invalid(f"Product already exists: '{p['id']}'", "id", "resource_already_exists")


def build(store, p: dict[str, Any]) -> dict[str, Any]:
    """A new product (not yet stored) from validated creation fields."""
    return store.build(
        "product",
        id=p.get("id"),
        active=p.get("active", True),
        default_price=None,
        description=p.get("description"),
        images=p.get("images") or [],
        marketing_features=p.get("marketing_features") or [],
        metadata={k: v for k, v in (p.get("metadata") or {}).items() if v != ""},
        name=p["name"],
        package_dimensions=p.get("package_dimensions"),
        shippable=p.get("shippable"),
        statement_descriptor=p.get("statement_descriptor"),
        tax_code=p.get("tax_code"),
        type=p.get("type", "service"),
        unit_label=p.get("unit_label"),
        updated=store.now(),
        url=p.get("url"),
    )


@family.get("/v1/products/search")
def search_products(ctx: Ctx) -> dict[str, Any]:
    return search.run(ctx, "product", "products", SEARCH_FIELDS)


@family.get("/v1/products/{id}")
def retrieve_product(ctx: Ctx) -> dict[str, Any]:
    ctx.validate({})
    return ctx.store.require("product", ctx.args["id"])


@family.post("/v1/products/{id}")
def update_product(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    product = store.require("product", ctx.args["id"])
    p = ctx.validate(UPDATE)
    if "name" in p and not p["name"]:
        raise errors.invalid("You cannot unset a product's name.", "name")
    _check_descriptor(p.get("statement_descriptor"))
    changes: dict[str, Any] = {k: p[k] for k in _PLAIN if k in p}
    if "default_price" in p:
        if p["default_price"] is not None:
            price = store.require("price", p["default_price"], "default_price")
            if price["product"] != product["id"]:
                raise errors.invalid(
                    f"The price {price['id']} does not belong to this product ({product['id']}).", "default_price"
                )
            if not price["active"]:
                raise errors.invalid("The default price of a product must be active.", "default_price")
        changes["default_price"] = p["default_price"]
    if "metadata" in p:
        changes["metadata"] = merge_metadata(product["metadata"], p["metadata"], p["metadata"] is None)
    previous = store.update(product, changes)
    if previous:
        previous.update(store.update(product, {"updated": store.now()}))
        ctx.emit("product.updated", product, previous)
    return product


@family.delete("/v1/products/{id}")
def delete_product(ctx: Ctx) -> dict[str, Any]:
    store = ctx.store
    product = store.require("product", ctx.args["id"])
    ctx.validate({})
    if store.private(product["id"]).get("prices"):
        raise errors.invalid(
            "This product cannot be deleted because it has one or more user-created prices. "
            "Archive it instead (active=false)."
        )
    stub = fixture("deleted_product") | {"id": product["id"]}
    store.delete(product, stub)
    ctx.emit("product.deleted", product)
    return stub  # retrieving it later is a 404 (``require`` skips deleted objects)


@family.get("/v1/products")
def list_products(ctx: Ctx) -> dict[str, Any]:
    q = ctx.validate(
        {
            **LIST_SCHEMA,
            "active": boolean,
            "ids": array(string),
            "shippable": boolean,
            "type": enum("good", "service"),
            "url": string,
        }
    )
    ids = set(q["ids"]) if q.get("ids") else None
    where = {k: q.get(k) for k in ("active", "shippable", "type", "url")}
    predicate = (lambda obj: obj["id"] in ids) if ids is not None else None
    return ctx.page("product", q, where=where, predicate=predicate)


def require_product(store, product_id: Any, param: str) -> dict[str, Any]:
    require({param: product_id}, param)
    return store.require("product", product_id, param)
