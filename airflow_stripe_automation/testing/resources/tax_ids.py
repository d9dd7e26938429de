"""Customer tax IDs: create, retrieve, delete, list (``/v1/customers/{customer}/tax_ids``).

As at Stripe: ``type`` must be one of Stripe's tax ID types and ``value`` must look like one of
that type (checked for the common types below; Stripe's ``tax_id_invalid`` otherwise). ``country``
follows from the type (for ``eu_vat``, from the value's prefix; ``EL`` is Greece, ``XI``
Northern Ireland). Types Stripe verifies with a government service (EU VAT/VIES, UK VAT/HMRC,
Australian ABN) start ``pending``, the others ``unavailable``. Events ``customer.tax_id.created``
and ``customer.tax_id.deleted``; a deleted tax ID is gone (404). Customers accept
``tax_id_data[i][type|value]`` on create, validated with the same rules (:func:`validate_data`).
"""

from __future__ import annotations

import re
from typing import Any

from .. import errors
from ..forms import as_list
from ..params import LIST_SCHEMA, require, string
from ..registry import Ctx, ResourceFamily
from ..templates import fixture

family = ResourceFamily("tax_ids")
family.object_type("tax_id", label="tax_id", indexes=("customer",))

TYPES = (  # the SDK's list (stripe 16.1)
    "ad_nrt", "ae_trn", "al_tin", "am_tin", "ao_tin", "ar_cuit", "au_abn", "au_acn", "au_arn", "au_wpn", "aw_tin",
    "az_tin", "ba_tin", "bb_tin", "bd_bin", "bf_ifu", "bg_uic", "bh_vat", "bj_ifu", "bo_tin", "br_cnpj", "br_cpf",
    "bs_tin", "bw_vat", "by_tin", "ca_bn", "ca_gst_hst", "ca_pst_bc", "ca_pst_mb", "ca_pst_sk", "ca_qst", "cd_nif",
    "ch_uid", "ch_vat", "ci_vat", "cl_tin", "cm_niu", "cn_tin", "co_nit", "cr_tin", "cv_nif", "cz_dic", "de_stn",
    "do_rcn", "ec_ruc", "eg_tin", "es_cif", "et_tin", "eu_oss_vat", "eu_vat", "fo_vat", "fr_siren", "fr_siret",
    "fr_spi", "gb_vat", "ge_vat", "gh_tin", "gi_tin", "gn_nif", "hk_br", "hr_oib", "hu_tin", "ic_nif", "id_npwp",
    "il_vat", "in_gst", "is_kt", "is_vat", "it_cf", "jp_cn", "jp_rn", "jp_trn", "ke_pin", "kg_tin", "kh_tin",
    "kr_brn", "kz_bin", "la_tin", "li_uid", "li_vat", "lk_vat", "ma_vat", "md_cf", "md_vat", "me_pib", "mk_vat",
    "mr_nif", "mu_vat", "mx_rfc", "my_frp", "my_itn", "my_sst", "mz_nuit", "ng_tin", "no_vat", "no_voec", "np_pan",
    "nz_bn", "nz_gst", "om_vat", "pe_ruc", "ph_tin", "pl_nip", "pt_nif", "py_ruc", "ro_tin", "rs_pib", "ru_inn",
    "ru_kpp", "sa_vat", "sg_gst", "sg_uen", "si_tin", "sm_coe", "sn_ninea", "sr_fin", "sv_nit", "th_vat", "tj_tin",
    "tr_tin", "tt_bir", "tt_vat", "tw_vat", "tz_vat", "ua_vat", "ug_tin", "us_ein", "uy_ruc", "uz_tin", "uz_vat",
    "ve_rif", "vn_tin", "za_vat", "zm_tin", "zw_tin",
)  # fmt: skip

EU_PREFIXES = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE", "IT", "LT", "LU",
    "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI",
}  # fmt: skip
_EU_VAT = re.compile(r"([A-Z]{2})(?=[0-9A-Z+*]*\d)[0-9A-Z+*]{2,12}")
EU_VAT_BY_COUNTRY = {  # the national part, for the member states whose format is simple to state
    "AT": r"U\d{8}", "BE": r"[01]\d{9}", "DE": r"\d{9}", "DK": r"\d{8}", "ES": r"[0-9A-Z]\d{7}[0-9A-Z]",
    "FI": r"\d{8}", "FR": r"[0-9A-Z]{2}\d{9}", "IT": r"\d{11}", "LU": r"\d{8}", "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}", "PT": r"\d{9}", "SE": r"\d{12}",
}  # fmt: skip
FORMATS = {  # type -> pattern of the whole value (Stripe's documented examples match)
    "eu_vat": _EU_VAT,
    "gb_vat": re.compile(r"GB(\d{9}|\d{12}|GD\d{3}|HA\d{3})"),
    "us_ein": re.compile(r"\d{2}-?\d{7}"),
    "au_abn": re.compile(r"\d{11}"),
    "ca_bn": re.compile(r"\d{9}"),
    "ch_vat": re.compile(r"CHE-?\d{3}\.?\d{3}\.?\d{3} ?(MWST|TVA|IVA)"),
    "no_vat": re.compile(r"\d{9}MVA"),
    "in_gst": re.compile(r"\d{2}[A-Z]{5}\d{4}[A-Z][0-9A-Z]Z[0-9A-Z]"),
    "de_stn": re.compile(r"\d{10,11}"),
}
VERIFIED_TYPES = {"eu_vat", "gb_vat", "au_abn"}
_COUNTRY_OF_PREFIX = {"EL": "GR", "XI": "GB"}


def _invalid(type_: str, param: str) -> errors.StripeError:
    return errors.invalid(f"Invalid value for {type_}.", param, "tax_id_invalid")


def check(type_: Any, value: Any, prefix: str = "") -> tuple[str, str, str | None]:
    """``(type, value, country)`` for a valid tax ID, or Stripe's 400 (params named after ``prefix``)."""
    type_param, value_param = (f"{prefix}[type]", f"{prefix}[value]") if prefix else ("type", "value")
    if type_ in (None, ""):
        raise errors.missing_param(type_param)
    if value in (None, ""):
        raise errors.missing_param(value_param)
    type_ = string(type_, type_param)
    value = string(value, value_param)
    if type_ not in TYPES:
        raise errors.invalid(f"Invalid value for type: {type_} is not a supported tax ID type.", type_param)
    pattern = FORMATS.get(type_)
    normalized = value.strip().upper() if pattern is not None else value.strip()
    if pattern is not None and not pattern.fullmatch(normalized):
        raise _invalid(type_, value_param)
    if type_ == "eu_vat":
        head = normalized[:2]
        national = EU_VAT_BY_COUNTRY.get(head)
        if head not in EU_PREFIXES or (national and not re.fullmatch(national, normalized[2:])):
            raise _invalid(type_, value_param)
        country = _COUNTRY_OF_PREFIX.get(head, head)
    elif type_ == "eu_oss_vat":
        country = None
    else:
        country = type_.split("_")[0].upper()
    return type_, normalized, country


def validate_data(value: Any, param: str) -> list[tuple[str, str, str | None]]:
    """``tax_id_data`` on customer create: a list of ``{type, value}`` hashes, each checked."""
    items = as_list(value, param)
    checked = []
    for i, item in enumerate(items):
        name = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise errors.invalid(f"Invalid hash: {name} must be a hash", name)
        unknown = set(item) - {"type", "value"}
        if unknown:
            raise errors.unknown_param(f"{name}[{min(unknown)}]")
        checked.append(check(item.get("type"), item.get("value"), name))
    return checked


def add(ctx: Ctx, customer: dict[str, Any], checked: tuple[str, str, str | None]) -> dict[str, Any]:
    """Store a tax ID already validated by :func:`check` and emit ``customer.tax_id.created``."""
    type_, value, country = checked
    tax_id = ctx.store.create(
        "tax_id",
        country=country,
        customer=customer["id"],
        customer_account=None,
        owner={"customer": customer["id"], "type": "customer", "customer_account": None},
        type=type_,
        value=value,
        verification={
            "status": "pending" if type_ in VERIFIED_TYPES else "unavailable",
            "verified_address": None,
            "verified_name": None,
        },
    )
    ctx.emit("customer.tax_id.created", tax_id)
    return tax_id


def _customer(ctx: Ctx) -> dict[str, Any]:
    return ctx.store.require("customer", ctx.args["customer"])


def _tax_id(ctx: Ctx, customer: dict[str, Any]) -> dict[str, Any]:
    tax_id = ctx.store.require("tax_id", ctx.args["id"])
    if tax_id["customer"] != customer["id"]:
        raise errors.no_such("tax_id", tax_id["id"])
    return tax_id


@family.post("/v1/customers/{customer}/tax_ids")
def create_tax_id(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    p = ctx.validate({"type": lambda v, _: v, "value": lambda v, _: v})
    require(p, "type", "value")
    return add(ctx, customer, check(p["type"], p["value"]))


@family.get("/v1/customers/{customer}/tax_ids/{id}")
def retrieve_tax_id(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    ctx.validate({})
    return _tax_id(ctx, customer)


@family.delete("/v1/customers/{customer}/tax_ids/{id}")
def delete_tax_id(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    tax_id = _tax_id(ctx, customer)
    ctx.validate({})
    stub = fixture("deleted_tax_id") | {"id": tax_id["id"], "object": "tax_id", "deleted": True}
    ctx.store.delete(tax_id, stub)
    ctx.emit("customer.tax_id.deleted", tax_id)
    return stub


@family.get("/v1/customers/{customer}/tax_ids")
def list_tax_ids(ctx: Ctx) -> dict[str, Any]:
    customer = _customer(ctx)
    q = ctx.validate({k: v for k, v in LIST_SCHEMA.items() if k != "created"})
    return ctx.page("tax_id", q, where={"customer": customer["id"]})
