"""StripeHook: turns an Airflow connection into a ``stripe.StripeClient``; the only place that talks HTTP."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException

from airflow_stripe_automation import object_types
from airflow_stripe_automation.masking import mask_secrets
from airflow_stripe_automation.rate_budget import RateBudget, default_requests_per_second
from airflow_stripe_automation.rendered import parse_bool

if TYPE_CHECKING:
    import stripe

    from airflow_stripe_automation.hooks.http_client import BudgetedHTTPClient

_TEST_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")
_LIVE_KEY = re.compile(r"^(sk|rk)_live_[A-Za-z0-9_]+$")

DASHBOARD_URL = "https://dashboard.stripe.com"


class StripeConnectionError(AirflowFailException, ValueError):
    """
    A Stripe connection that cannot be used; the message never contains the key.

    A retry would read the same connection: the task fails at once (an ``AirflowFailException``).
    """


@dataclass(frozen=True)
class StripeConnectionSettings:
    """What the hook read from the connection, validated. ``repr`` hides the key."""

    api_key: str
    api_base: str | None = None
    stripe_account: str | None = None
    api_version: str | None = None
    max_network_retries: int = 2
    livemode: bool = False
    max_requests_per_second: float = default_requests_per_second(livemode=False)

    def __repr__(self) -> str:
        return (
            f"StripeConnectionSettings(api_key='***', api_base={mask_secrets(self.api_base or '') or None!r}, "
            f"stripe_account={self.stripe_account!r}, api_version={self.api_version!r}, "
            f"max_network_retries={self.max_network_retries}, livemode={self.livemode}, "
            f"max_requests_per_second={self.max_requests_per_second:g})"
        )


def _requests_per_second(conn_id: str, raw: Any, livemode: bool) -> float:
    """The extra ``max_requests_per_second``: a positive number; unset means Stripe's limit for the key's mode."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default_requests_per_second(livemode)
    limits = "Stripe allows about 25 requests a second in test mode and 100 in live mode"
    try:
        # bool is an int to Python, but "true" requests a second means nothing: refuse it like text
        rate = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        rate = math.nan
    if math.isnan(rate) or math.isinf(rate):
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r}: max_requests_per_second must be a number of requests a second "
            f"(e.g. 25), got {raw!r}; {limits}"
        )
    if rate <= 0:
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r}: max_requests_per_second must be positive, got {raw!r}; "
            f"leave it unset for Stripe's own limit ({limits})"
        )
    return rate


def parse_connection(conn_id: str, password: str | None, extra: dict[str, Any]) -> StripeConnectionSettings:
    """
    Validate a Stripe connection's key and extras.

    :param conn_id: the connection id, used in error messages
    :param password: the secret (``sk_…``) or restricted (``rk_…``) key
    :param extra: the connection's extras
    """
    key = (password or "").strip()
    if not key:
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r} has no API key: put the secret (sk_test_…) or restricted "
            "(rk_test_…) key in the connection's password field"
        )
    livemode = bool(_LIVE_KEY.match(key))
    try:
        # Only a live key reads the switch. Text it cannot read is an error of its own, not a quiet
        # "no": the user meant something, and a safety switch must not be guessed at.
        allow_live = livemode and parse_bool(extra.get("allow_live_mode"), default=False)
    except ValueError:
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r}: the extra 'allow_live_mode' must be true or false (yes/no, on/off, 1/0)"
        ) from None
    if livemode and not allow_live:
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r} holds a live-mode key; set the extra 'allow_live_mode' "
            "to true to use live mode deliberately"
        )
    if not livemode and not _TEST_KEY.match(key):
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r}: the password is not a Stripe secret or restricted key "
            "(expected sk_test_…, rk_test_…, or a live key with allow_live_mode)"
        )

    api_base = (extra.get("api_base") or "").strip().rstrip("/") or None
    if api_base:
        parsed = urlparse(api_base)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise StripeConnectionError(
                f"Stripe connection {conn_id!r}: api_base must be an http(s) URL, got {mask_secrets(api_base)!r}"
            )
    account = (extra.get("stripe_account") or "").strip() or None
    if account and not account.startswith("acct_"):
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r}: stripe_account must be a Connect account id (acct_…)"
        )
    retries_raw = extra.get("max_network_retries", 2)
    try:
        retries = int(retries_raw if retries_raw not in (None, "") else 2)
    except (TypeError, ValueError):
        raise StripeConnectionError(
            f"Stripe connection {conn_id!r}: max_network_retries must be an integer, got {retries_raw!r}"
        ) from None
    if not 0 <= retries <= 10:
        raise StripeConnectionError(f"Stripe connection {conn_id!r}: max_network_retries must be 0–10")
    return StripeConnectionSettings(
        api_key=key,
        api_base=api_base,
        stripe_account=account,
        api_version=(extra.get("api_version") or "").strip() or None,
        max_network_retries=retries,
        livemode=livemode,
        max_requests_per_second=_requests_per_second(conn_id, extra.get("max_requests_per_second"), livemode),
    )


class StripeHook(BaseHook):
    """
    Interact with Stripe through the official SDK.

    The connection's password holds the secret or restricted key; extras set ``api_base`` (a
    Stripe-compatible server such as the local one used in tests), ``stripe_account`` (Connect),
    ``api_version``, ``max_network_retries``, ``allow_live_mode`` and ``max_requests_per_second``.

    The client paces itself within ``max_requests_per_second`` (default: Stripe's limit for the key's
    mode, 25 test / 100 live) and retries a 429 with backoff; see :mod:`airflow_stripe_automation.rate_budget`.
    The budget belongs to this hook: to the task process that builds it, or to one trigger.

    The connection form (fields, labels, hidden fields) is declared in ``get_provider_info()``, as
    Airflow 3.2+ expects, so the UI needs no hook import.

    :param stripe_conn_id: the Airflow connection id of type ``stripe``
    """

    conn_name_attr = "stripe_conn_id"
    default_conn_name = "stripe_default"
    conn_type = "stripe"
    hook_name = "Stripe"

    def __init__(self, stripe_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stripe_conn_id = stripe_conn_id

    @cached_property
    def settings(self) -> StripeConnectionSettings:
        """The validated connection (read once per hook)."""
        conn = self.get_connection(self.stripe_conn_id)
        try:
            from airflow.sdk.log import mask_secret

            if conn.password:
                mask_secret(conn.password)
        except ImportError:  # pragma: no cover - masking is best effort outside a task
            pass
        return parse_connection(self.stripe_conn_id, conn.password, conn.extra_dejson or {})

    def get_conn(self) -> stripe.StripeClient:
        """Return the cached ``stripe.StripeClient`` for this connection."""
        return self._client

    async def aget_conn(self) -> stripe.StripeClient:
        """
        Return the same client as :meth:`get_conn`, reading the connection without blocking the event loop.

        For triggers: the triggerer hands out connections asynchronously (a synchronous read from its
        event loop can deadlock) and masks their secrets itself. The client's calls block, so a
        trigger runs them in a thread.
        """
        if "settings" not in self.__dict__:
            conn = await self.aget_connection(self.stripe_conn_id)
            extra = await conn.aextra_dejson()
            # fills the cached ``settings`` property, so ``_client`` never reads the connection again
            self.__dict__["settings"] = parse_connection(self.stripe_conn_id, conn.password, extra or {})
        return self._client

    @cached_property
    def http_client(self) -> BudgetedHTTPClient:
        """The HTTP client under :meth:`get_conn`: its ``budget``, and the 429s it met (``rate_limited``, ``retried``)."""
        from airflow_stripe_automation.hooks.http_client import BudgetedHTTPClient

        return BudgetedHTTPClient(RateBudget(self.settings.max_requests_per_second))

    @cached_property
    def _client(self) -> stripe.StripeClient:
        import stripe

        s = self.settings
        kwargs: dict[str, Any] = {"max_network_retries": s.max_network_retries, "http_client": self.http_client}
        if s.api_base:
            kwargs["base_addresses"] = {"api": s.api_base}
        if s.stripe_account:
            kwargs["stripe_account"] = s.stripe_account
        if s.api_version:
            kwargs["stripe_version"] = s.api_version
        return stripe.StripeClient(s.api_key, **kwargs)

    def close_connections(self) -> None:
        """
        Close the HTTP connections the client keeps open for the calling thread; the next call opens one again.

        The SDK's HTTP client keeps a session, with its keep-alive sockets, per thread. A trigger that
        polls from the event loop's worker threads calls this at the end of each poll, in the thread
        that polled, so a waiting trigger holds no socket. Nothing to do before the client is built.
        """
        if "http_client" in self.__dict__:
            self.http_client.close()

    def service_for(self, object_id: str) -> Any:
        """
        Return the SDK service that handles ``object_id``'s type, chosen by its prefix.

        :param object_id: a Stripe id such as ``in_123``
        """
        kind = object_types.by_id(object_id)
        if kind is None or kind.service is None:
            raise ValueError(f"cannot tell the Stripe object type of {object_id!r} from its prefix")
        service: Any = self.get_conn().v1
        for part in kind.service.split("."):
            service = getattr(service, part)
        return service

    def retrieve(self, object_id: str, expand: list[str] | None = None) -> dict[str, Any]:
        """
        Retrieve any supported object by id, as a plain dict.

        :param object_id: a Stripe id (``cus_``, ``pi_``, ``ch_``, ``in_``, ``sub_``, ``re_``, ``issfr_``…)
        :param expand: fields to expand
        """
        params = {"expand": expand} if expand else None
        return self.service_for(object_id).retrieve(object_id, params=params).to_dict()

    def update_metadata(self, object_id: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        """
        Merge ``metadata`` into an object's metadata (a key set to "" is removed, as Stripe does).

        :param object_id: the object to update
        :param metadata: the keys to set or remove
        :param idempotency_key: the key of this write
        """
        service = self.service_for(object_id)
        return service.update(
            object_id, params={"metadata": metadata}, options={"idempotency_key": idempotency_key}
        ).to_dict()

    def dashboard_url(self, path: str) -> str:
        """
        Return the Stripe dashboard URL for ``path`` (e.g. ``payments/pi_123``) in this connection's mode.

        With an ``api_base`` outside stripe.com (the local Stripe server), the link is that server's
        page of the object, ``{api_base}/_testing/dashboard/payments/pi_123``.

        :param path: the dashboard path of the object
        """
        s = self.settings
        if s.api_base and not (urlparse(s.api_base).hostname or "").endswith("stripe.com"):
            # Not Stripe (the local Stripe server of tests, demos, staging): Stripe's dashboard has no
            # such object, the server's own page of it does.
            return f"{s.api_base.rstrip('/')}/_testing/dashboard/{path.lstrip('/')}"
        account = f"/{s.stripe_account}" if s.stripe_account else ""
        mode = "" if s.livemode else "/test"
        return f"{DASHBOARD_URL}{account}{mode}/{path.lstrip('/')}"

    def test_connection(self) -> tuple[bool, str]:
        """Check the key by listing one customer (works for secret and most restricted keys)."""
        import stripe

        try:
            self.get_conn().v1.customers.list(params={"limit": 1})
        except StripeConnectionError as err:
            return False, str(err)
        except stripe.AuthenticationError:
            return False, "Stripe rejected the API key (authentication failed)"
        except stripe.StripeError as err:
            return False, f"Stripe answered {type(err).__name__}: {err.user_message or 'no message'}"
        return True, "Connection to Stripe works"
