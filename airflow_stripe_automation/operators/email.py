"""Mail a team member or the customer about a Stripe object, once per object, over Airflow's SMTP connection.

Exactly once, as far as mail allows: the operator marks the mail "sending" on the Stripe object
*before* it sends, "sent" after. All the provider's mail marks on an object live in one metadata key,
:data:`MAILS_METADATA_KEY` (``airflow_mails``), whose value lists ``<digest>:<state>`` entries (the
digest: the first 12 hex digits of the action's :attr:`~airflow_stripe_automation.idempotency.ActionKey.mark`),
oldest first, e.g. ``"4f0c1d2e3a4b:sent 9e8d7c6b5a49:sending"``. Every mail carries a Message-ID
derived from the action's key, the same on every try, so a resend is recognisable as the same mail.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_stripe_automation import object_types
from airflow_stripe_automation.errors import StripeActionFailed, StripeInputError, translate
from airflow_stripe_automation.idempotency import LEGACY_MARK_PREFIX, MAILS_METADATA_KEY, ActionKey, action_key
from airflow_stripe_automation.inputs import control_characters
from airflow_stripe_automation.objects import ref_id
from airflow_stripe_automation.operators.base import StripeBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: hex digits of the action's mark kept per entry: 48 bits, for the few mail actions one object sees
DIGEST_LENGTH = 12
SENDING, SENT = "sending", "sent"
#: Stripe's limits: a metadata value of at most 500 characters, at most 50 keys per object
MAX_VALUE_LENGTH = 500
MAX_METADATA_KEYS = 50
#: the right part of a Message-ID when the sender's address has no usable domain
FALLBACK_MESSAGE_ID_DOMAIN = "airflow-stripe-automation.invalid"

_T = TypeVar("_T")


def mail_digest(key: ActionKey) -> str:
    """The short digest naming a mail action in :data:`MAILS_METADATA_KEY`."""
    return key.mark[:DIGEST_LENGTH]


def read_marks(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """
    Return the mail marks of an object: digest -> ``"sending"`` or ``"sent"``, oldest first.

    Entries that are not ``<digest>:<state>`` are ignored (and dropped at the next write).

    :param metadata: the object's metadata
    """
    marks: dict[str, str] = {}
    for entry in str((metadata or {}).get(MAILS_METADATA_KEY) or "").split():
        digest, _, state = entry.partition(":")
        if digest and state in (SENDING, SENT):
            marks.pop(digest, None)
            marks[digest] = state
    return marks


def mail_state(metadata: Mapping[str, Any] | None, key: ActionKey) -> str | None:
    """
    Return what the object's metadata says of this mail action: ``"sent"``, ``"sending"`` or None.

    A mark left by an earlier version (``airflow_mail_<digest>``) counts as sent, and so does one the
    action left under its earlier identity (:attr:`~airflow_stripe_automation.idempotency.ActionKey.marks`).

    :param metadata: the object's metadata
    :param key: the mail action's key
    """
    metadata = metadata or {}
    if any(metadata.get(f"{LEGACY_MARK_PREFIX}{mark[:24]}") for mark in key.marks):
        return SENT
    marks = read_marks(metadata)
    # The action's own entry first; else what it left under its earlier identity (DAG and task).
    return next((marks[m[:DIGEST_LENGTH]] for m in key.marks if m[:DIGEST_LENGTH] in marks), None)


def with_mark(metadata: Mapping[str, Any] | None, key: ActionKey, state: str) -> tuple[str, list[str]]:
    """
    Return the new value of :data:`MAILS_METADATA_KEY` with this action in ``state``, and the entries dropped.

    The action's entry moves to the end (newest). When the value would pass Stripe's 500 characters,
    the oldest entries are dropped (27 fit): a dropped action counts as never mailed, so a later run
    of it mails again — a duplicate, never a lost mail.

    :param metadata: the object's current metadata
    :param key: the mail action's key
    :param state: ``"sending"`` or ``"sent"``
    """
    marks = read_marks(metadata)
    marks.pop(mail_digest(key), None)
    entries = [f"{digest}:{value}" for digest, value in marks.items()] + [f"{mail_digest(key)}:{state}"]
    dropped: list[str] = []
    while len(" ".join(entries)) > MAX_VALUE_LENGTH:
        dropped.append(entries.pop(0))
    return " ".join(entries), dropped


def message_id(key: ActionKey | None, sender: str | None) -> str:
    """
    The Message-ID of a mail: derived from the action's key, so every try of one mail action sends the same.

    The right part is the sender's domain (a fixed one when it has none); without a key (no
    de-duplication) the id is random.

    :param key: the mail action's key, None when mails are not de-duplicated
    :param sender: the sender's address, for the domain
    """
    domain = parseaddr(sender or "")[1].rpartition("@")[2].strip().lower()
    if not domain or not all(c.isascii() and (c.isalnum() or c in ".-") for c in domain):
        domain = FALLBACK_MESSAGE_ID_DOMAIN
    if key is None:
        return make_msgid("stripe-mail", domain=domain)
    return f"<stripe-mail.{key.mark}@{domain}>"


def refuse_control_characters(value: str, field: str) -> str:
    """
    Return ``value`` if it holds no control character (CR, LF, NUL, tab, line separators…), else raise.

    Such characters in a header would let a template (``{{ obj.email }}`` from a customer's own data)
    end the header and forge others (``Bcc:``).

    :param value: a subject, address or header value
    :param field: the operator argument, for the message
    """
    bad = control_characters(value)
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

    A mail is an action too, marked in the metadata of the object the mail is about (by default
    ``stripe_object``'s id; for an early fraud warning its charge, for a canceled subscription its
    customer — they take no metadata), under the one key ``airflow_mails`` whatever the number of
    mail actions. The mark comes first: "sending" before the mail goes, "sent" once the SMTP server
    took it; a mark Stripe refuses fails the task before anything is mailed. A replay that finds
    "sent" (or an earlier version's ``airflow_mail_…`` mark) sends nothing. One that finds "sending"
    cannot know whether the mail went, so it sends again with the same ``Message-ID`` (receivers
    that de-duplicate by Message-ID show it once): a duplicate rather than a lost mail.

    :param to: recipient address(es); may come from the object, e.g. ``{{ obj.customer_email }}`` (templated)
    :param subject: the subject (templated)
    :param body: the text of the mail (templated)
    :param fields: label -> value rows appended below the body (templated)
    :param stripe_object: the Stripe object the mail is about, a dict (templated; XComArgs resolve)
    :param mark_object_id: the object that carries the mail's mark; default ``stripe_object``'s id;
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
        """Return (the object the mail is about, the object that carries its mark)."""
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
        to, subject, target, carrier = checked["to"], checked["subject"], checked["target"], checked["carrier"]
        key = action_key(context, object_id=target, action_id=self.action_id) if target else None
        summary = {"to": to, "subject": subject, "about": target}
        if self.is_dry_run:
            self.log.info("Dry run: would mail %s about %s: %r; nothing sent.", to, target, subject)
            return {**summary, "dry_run": True, "sent": False}
        mail = {
            "to": to,
            "cc": checked["cc"] or None,
            "subject": subject,
            "html_content": self.render_html(),
            "from_email": self.from_email,
            "custom_headers": {"X-Airflow-Stripe-Object": target or ""},
        }
        if not (carrier and key):  # nothing to mark: no de-duplication beyond the Message-ID
            sent_id = self._send(mail, key)
            self.log.info("Mailed %s about %s: %r (%s).", ", ".join(to), target or "no object", subject, sent_id)
            return {**summary, "sent": True, "already_done": False, "message_id": sent_id}

        ti = context["ti"]
        attempt = (str(ti.run_id), f"try-{getattr(ti, 'try_number', 0)}")
        current = self._stripe(lambda: self.hook.retrieve(carrier), f"reading {carrier} before mailing about {target}")
        self._link(current)
        state = mail_state(current.get("metadata"), key)
        if state == SENT:
            self.log.info("Mail about %s was already sent (marked on %s); not sending again.", target, carrier)
            return {**summary, "sent": False, "already_done": True}
        if state == SENDING:
            self.log.warning(
                "An earlier try marked the mail about %s as sending on %s but not as sent: it may have gone out. "
                "Sending again with the same Message-ID, which receivers use to show it once.",
                target,
                carrier,
            )
        else:
            self._mark(carrier, target, key, SENDING, current, attempt)
        sent_id = self._send(mail, key)
        self.log.info("Mailed %s about %s: %r (%s).", ", ".join(to), target, subject, sent_id)
        try:
            latest = self._stripe(
                lambda: self.hook.retrieve(carrier), f"reading {carrier} to mark the mail about {target} as sent"
            )
            self._mark(carrier, target, key, SENT, latest, attempt)
        except Exception:
            self.log.error(
                "The mail about %s went out (%s) but is not marked as sent on %s: a retry or a later run "
                "will send it again with the same Message-ID.",
                target,
                sent_id,
                carrier,
            )
            raise
        return {**summary, "sent": True, "already_done": False, "message_id": sent_id}

    def _mark(
        self,
        carrier: str,
        target: str,
        key: ActionKey,
        state: str,
        current: Mapping[str, Any],
        attempt: tuple[str, ...],
    ) -> None:
        """Write this mail action's ``state`` into ``carrier``'s :data:`MAILS_METADATA_KEY`, or raise naming the object."""
        metadata = current.get("metadata") or {}
        before = "before anything was mailed" if state == SENDING else "after the mail went out"
        if MAILS_METADATA_KEY not in metadata and len(metadata) >= MAX_METADATA_KEYS:
            raise StripeActionFailed(
                f"cannot mark the mail about {target} on {carrier}: the object already has {len(metadata)} "
                f"metadata keys, Stripe's limit, and the mark needs one ({MAILS_METADATA_KEY!r}); "
                f"the task stopped {before}. Remove a metadata key from {carrier} or give mark_object_id."
            )
        value, dropped = with_mark(metadata, key, state)
        if dropped:
            self.log.warning(
                "%s on %s is full (Stripe's %d characters): dropping the oldest mail marks %s; "
                "those mails would be sent again if their tasks ran over %s again.",
                MAILS_METADATA_KEY,
                carrier,
                MAX_VALUE_LENGTH,
                dropped,
                target,
            )
        # One key per try: the client's own resends replay it, while a later try or run writes afresh (Stripe
        # replays a saved 500 for 24 h, and refuses a key reused with another value).
        step = key.step("mail", state, *attempt)
        self._stripe(
            lambda: self.hook.update_metadata(
                carrier, {MAILS_METADATA_KEY: value}, idempotency_key=step.idempotency_key
            ),
            f"the {state!r} mark on {carrier} for the mail about {target} ({before})",
        )

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

    def _send(self, mail: dict[str, Any], key: ActionKey | None) -> str:
        """Send ``mail`` with the action's Message-ID; return it."""
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        def send(smtp: Any) -> str:
            sent_id = message_id(key, mail.get("from_email") or smtp.from_email)
            smtp.send_email_smtp(**{**mail, "custom_headers": {**mail["custom_headers"], "Message-ID": sent_id}})
            return sent_id

        open_hooks = getattr(self, "_smtp_open", None)
        if open_hooks is None:  # one object: a connection of its own
            with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
                return send(smtp)
        conn_id = str(self.smtp_conn_id)
        if conn_id not in open_hooks:
            open_hooks[conn_id] = SmtpHook(smtp_conn_id=conn_id).__enter__()
        try:
            return send(open_hooks[conn_id])
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
