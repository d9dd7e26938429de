"""Mail a team member or the customer about a Stripe object, once per object, over Airflow's SMTP connection."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import pendulum

from airflow_stripe_automation import object_types
from airflow_stripe_automation.errors import StripeInputError, translate
from airflow_stripe_automation.idempotency import action_key
from airflow_stripe_automation.objects import ref_id
from airflow_stripe_automation.operators.base import StripeBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

# Metadata key prefix of the "mail sent" mark left on the object the mail is about.
MAIL_MARK_PREFIX = "airflow_mail_"

_T = TypeVar("_T")


def refuse_control_characters(value: str, field: str) -> str:
    """
    Return ``value`` if it holds no control character (CR, LF, NUL, tab, line separators…), else raise.

    Such characters in a header would let a template (``{{ obj.email }}`` from a customer's own data)
    end the header and forge others (``Bcc:``).

    :param value: a subject, address or header value
    :param field: the operator argument, for the message
    """
    bad = sorted({repr(c) for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")})
    if bad:
        raise StripeInputError(
            f"{field} holds control characters ({', '.join(bad)}), which could forge mail headers: "
            f"{value!r}; nothing was sent"
        )
    return value


class StripeSendEmailOperator(StripeBaseOperator):
    """
    Send a mail about a Stripe object through the SMTP provider's hook, at most once per object.

    ``subject``, ``body`` and ``fields`` are Jinja templates rendered with the usual Airflow context
    plus ``obj`` (the ``stripe_object`` given, e.g. a sensor's match or a retrieve's result) and the
    ``money`` helper/filter (``{{ obj.amount | money(obj.currency) }}`` -> ``$1,500.00``). ``fields``
    (label -> value) are appended as a table, as Stripe Workflows' "append text" does.

    A mail is an action too: after sending, the operator leaves a mark in the metadata of the object
    the mail is about (by default ``stripe_object``'s id; for an early fraud warning its charge, for a
    canceled subscription its customer — they take no metadata), and skips the mail when a replay
    finds that mark.

    :param to: recipient address(es); may come from the object, e.g. ``{{ obj.customer_email }}`` (templated)
    :param subject: the subject (templated)
    :param body: the text of the mail (templated)
    :param fields: label -> value rows appended below the body (templated)
    :param stripe_object: the Stripe object the mail is about, a dict (templated; XComArgs resolve)
    :param mark_object_id: the object that carries the "mail sent" mark; default ``stripe_object``'s id;
        empty string to send without de-duplication (templated)
    :param cc: carbon copy address(es) (templated)
    :param from_email: the sender; default: the SMTP connection's ``from_email``
    :param smtp_conn_id: the Airflow SMTP connection (templated)
    :param stripe_conn_id: the Stripe connection, used to read and leave the mark (templated)
    :param dry_run: render and log the mail, send nothing and leave no mark (stored as ``is_dry_run``)
    """

    template_fields: Sequence[str] = (
        *StripeBaseOperator.template_fields,
        "to",
        "subject",
        "body",
        "fields",
        "mark_object_id",
        "cc",
        "smtp_conn_id",
    )
    template_fields_renderers = {"body": "jinja", "fields": "json", "stripe_object": "json"}
    action = "mail"

    def __init__(
        self,
        *,
        to: str | list[str],
        subject: str,
        body: str = "",
        fields: Mapping[str, Any] | None = None,
        mark_object_id: str | None = None,
        cc: str | list[str] | None = None,
        from_email: str | None = None,
        smtp_conn_id: str = "smtp_default",
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.body = body
        self.fields = fields
        self.mark_object_id = mark_object_id
        self.cc = cc
        self.from_email = from_email
        self.smtp_conn_id = smtp_conn_id
        self.is_dry_run = dry_run

    def _recipients(self, value: Any, field: str, required: bool) -> list[str]:
        items = [value] if isinstance(value, str) else list(value or [])
        out = [a.strip() for item in items for a in str(item).replace(";", ",").split(",") if a.strip()]
        if required and not out:
            raise StripeInputError(f"{field} is required: no recipient address after rendering")
        for address in out:
            refuse_control_characters(address, field)
        bad = [a for a in out if "@" not in a or a in ("None", "null")]
        if bad:
            raise StripeInputError(f"{field} has addresses that are not email addresses: {bad}")
        return out

    def _mark_target(self) -> tuple[str | None, str | None]:
        """Return (the object the mail is about, the object that carries its "sent" mark)."""
        if self.mark_object_id is not None:
            target = str(self.mark_object_id).strip() or None
            return target, target
        obj = self.stripe_object if isinstance(self.stripe_object, Mapping) else {}
        object_id = obj.get("id") if isinstance(obj.get("id"), str) else None
        if not object_id:
            return None, None
        # Some objects take no metadata: early fraud warnings never, canceled subscriptions no more.
        # Their mark goes on the charge / the customer, still keyed on the object itself.
        if object_id.startswith("issfr_"):
            return object_id, _id(obj.get("charge"))
        if object_id.startswith("sub_") and obj.get("status") in ("canceled", "incomplete_expired"):
            return object_id, _id(obj.get("customer"))
        return object_id, object_id

    def render_html(self) -> str:
        """The HTML body: the text, then the appended fields as a table."""
        text = html.escape(str(self.body or "")).replace("\n", "<br>\n")
        rows = "".join(
            f'<tr><th align="left">{html.escape(str(label))}</th><td>{html.escape(str(value))}</td></tr>\n'
            for label, value in (self.fields or {}).items()
        )
        table = f"<table>\n{rows}</table>\n" if rows else ""
        return f"<div>{text}</div>\n{table}"

    def _validate(self) -> dict[str, Any]:
        """The mail's recipients, subject and mark target, checked before any call to Stripe or the SMTP server."""
        to = self._recipients(self.to, "to", required=True)
        cc = self._recipients(self.cc, "cc", required=False)
        subject = str(self.subject or "").strip()
        if not subject:
            raise StripeInputError("subject is required")
        refuse_control_characters(subject, "subject")
        if self.from_email:
            refuse_control_characters(str(self.from_email), "from_email")
        if self.fields is not None and not isinstance(self.fields, Mapping):
            raise StripeInputError("fields must be a mapping of label -> value")
        target, carrier = self._mark_target()
        where = "mark_object_id" if self.mark_object_id is not None else "stripe_object's id"
        if target:  # it goes into the X-Airflow-Stripe-Object header
            refuse_control_characters(target, where)
        if carrier:
            refuse_control_characters(carrier, where)
            kind = object_types.by_id(carrier)
            if kind is None or kind.service is None:
                raise StripeInputError(
                    f"cannot mark the mail on {carrier!r}: not the id of a Stripe object this provider can "
                    "update (give mark_object_id, or mark_object_id='' to send without de-duplication)"
                )
        return {"to": to, "cc": cc, "subject": subject, "target": target, "carrier": carrier}

    def execute_one(self, context: Context) -> dict[str, Any]:
        checked = self._validate()
        to, cc, subject, target, carrier = (checked[k] for k in ("to", "cc", "subject", "target", "carrier"))
        key = action_key(context, object_id=target) if target else None
        mark = f"{MAIL_MARK_PREFIX}{key.mark[:24]}" if key and carrier else None
        summary = {"to": to, "subject": subject, "about": target}
        if self.is_dry_run:
            self.log.info("Dry run: would mail %s about %s: %r; nothing sent.", to, target, subject)
            return {**summary, "dry_run": True, "sent": False}

        if carrier and mark:
            current = self._stripe(
                lambda: self.hook.retrieve(carrier), f"reading {carrier} before mailing about {target}"
            )
            self._link(current)
            if (current.get("metadata") or {}).get(mark):
                self.log.info(
                    "Mail about %s was already sent (%s); not sending again.", target, current["metadata"][mark]
                )
                return {**summary, "sent": False, "already_done": True}

        mail = {
            "to": to,
            "cc": cc or None,
            "subject": subject,
            "html_content": self.render_html(),
            "from_email": self.from_email,
            "custom_headers": {"X-Airflow-Stripe-Object": target or ""},
        }
        self._send(mail)
        self.log.info("Mailed %s about %s: %r.", ", ".join(to), target or "no object", subject)
        if carrier and key and mark:
            stamp = pendulum.now("UTC").to_iso8601_string()
            self._stripe(
                lambda: self.hook.update_metadata(
                    carrier, {mark: stamp}, idempotency_key=f"{key.idempotency_key}/mail-mark"
                ),
                f"the mark on {carrier} for the mail about {target} (the mail went out)",
            )
        return {**summary, "sent": True, "already_done": False}

    def _stripe(self, call: Callable[[], _T], what: str) -> _T:
        """Run one Stripe call; raise its error as the other operators do (:func:`~airflow_stripe_automation.errors.translate`)."""
        import stripe

        try:
            return call()
        except stripe.StripeError as err:
            translated = translate(err, what)
            if translated is err:  # retryable: the retry policy sees Stripe's own error
                raise
            raise translated from err

    @contextmanager
    def batch_session(self) -> Iterator[None]:
        """A batch's mails share one connection per SMTP connection id (opened at the first mail)."""
        self._smtp_open: dict[str, Any] = {}
        try:
            yield
        finally:
            for hook in self._smtp_open.values():
                _close(hook)
            self._smtp_open = {}

    def _send(self, mail: dict[str, Any]) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        open_hooks = getattr(self, "_smtp_open", None)
        if open_hooks is None:  # one object: a connection of its own
            with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
                smtp.send_email_smtp(**mail)
            return
        conn_id = str(self.smtp_conn_id)
        if conn_id not in open_hooks:
            open_hooks[conn_id] = SmtpHook(smtp_conn_id=conn_id).__enter__()
        try:
            open_hooks[conn_id].send_email_smtp(**mail)
        except Exception:
            # A connection that failed once is not trusted again: the next mail opens a new one.
            _close(open_hooks.pop(conn_id))
            raise


def _close(hook: Any) -> None:
    try:
        hook.__exit__(None, None, None)
    except Exception:  # noqa: S110 - closing a broken connection may fail; nothing to do about it
        pass


def _id(value: Any) -> str | None:
    value = ref_id(value)
    return value if isinstance(value, str) and value else None
