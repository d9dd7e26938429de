"""The one place that derives idempotency keys and the "already done" marks left on Stripe objects.

An action acts exactly once per object: the same key for every retry, re-run or replay of the same
(action, object). The action is what its operator's ``action_id`` declares — the recipes and the
example DAGs declare ``<recipe>/<step>``, so the YAML and the Python form of one recipe are one action,
and a renamed DAG or task is still the same action — else the DAG and the task. Stripe honours a key
for 24 hours only, so every object an action creates also carries a mark in its metadata, which the
action looks for before writing again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

KEY_PREFIX = "airflow-stripe"
MARK_METADATA_KEY = "airflow_action"  # Stripe metadata keys are at most 40 characters
#: the one metadata key holding every mail mark the provider leaves on an object (operators/email.py)
MAILS_METADATA_KEY = "airflow_mails"
#: prefix of the per-mail keys (``airflow_mail_<24 hex digits>``) earlier versions left; still honoured as "sent"
LEGACY_MARK_PREFIX = "airflow_mail_"
MAX_KEY_LENGTH = 255  # Stripe's limit for an Idempotency-Key


@dataclass(frozen=True)
class ActionKey:
    """
    The identity of one action on one object.

    :param parts: what identifies the action, e.g. ``(action_id, object_id)``
    :param explicit: a key given by the user; used verbatim as the idempotency key
    :param earlier: the parts the same action had under the identity it had before declaring one
        (DAG and task): their marks count as this action's, so declaring an ``action_id`` acts on
        nothing that was acted on already
    """

    parts: tuple[str, ...]
    explicit: str | None = None
    earlier: tuple[str, ...] = ()

    @property
    def idempotency_key(self) -> str:
        """The ``Idempotency-Key`` sent with every write (readable, hashed when too long)."""
        if self.explicit:
            return self.explicit
        readable = "/".join((KEY_PREFIX, *self.parts))
        if len(readable) <= MAX_KEY_LENGTH:
            return readable
        return f"{KEY_PREFIX}/{self.mark}"

    @property
    def mark(self) -> str:
        """A short, stable digest stored in the created object's metadata."""
        return _digest(self.explicit or "\x1f".join(self.parts))

    @property
    def marks(self) -> tuple[str, ...]:
        """Every mark that says "this action did it": its own first, then its earlier identity's."""
        return (self.mark, _digest("\x1f".join(self.earlier))) if self.earlier else (self.mark,)

    def step(self, *step: str) -> ActionKey:
        """
        The key of one call of a multi-call action (a line, "finalize", attempt 3, …): stable, distinct per step.

        Stripe refuses a key reused with other parameters, so each call of an action has its own.

        :param step: what names the step within the action
        """
        return ActionKey(
            parts=(*self.parts, *step) if not self.explicit else (self.explicit, *step),
            earlier=(*self.earlier, *step) if self.earlier else (),
        )

    def metadata(self) -> dict[str, str]:
        """Metadata to add to what the action creates, so a later replay can find it."""
        return {MARK_METADATA_KEY: self.mark}

    def is_marked(self, obj: Any) -> bool:
        """Return True if ``obj`` (a plain dict of a Stripe object) carries this action's mark."""
        metadata = obj.get("metadata")
        return bool(metadata) and metadata.get(MARK_METADATA_KEY) in self.marks


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:40]


def action_key(
    context: Context,
    *,
    object_id: str | None = None,
    explicit: str | None = None,
    action_id: str | None = None,
) -> ActionKey:
    """
    Derive the key of the running task's action.

    When the action works on a Stripe object (a fraud warning, an invoice, a customer), the key is
    the action and that object, so a later run over the same object finds it, whichever DAG the
    action is deployed in. When the run itself is the object (one triggered run = one lead to
    charge), the key is the action, the DAG, the run and the task's map index: only that run is
    that lead.

    :param context: the running task's context
    :param object_id: the id of the object acted on, if any
    :param explicit: a user-given key that replaces the derived one
    :param action_id: the action's declared identity (``<recipe>/<step>``); by default the DAG and the task
    """
    if explicit:
        return ActionKey(parts=(), explicit=str(explicit))
    ti = context["ti"]
    if object_id:
        legacy = (ti.dag_id, ti.task_id, str(object_id))
        if not action_id:
            return ActionKey(parts=legacy)
        return ActionKey(parts=("action", action_id, str(object_id)), earlier=legacy)
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else map_index
    run_legacy = (ti.dag_id, ti.run_id, ti.task_id, str(map_index))
    if not action_id:
        return ActionKey(parts=run_legacy)
    return ActionKey(parts=("action", action_id, ti.dag_id, ti.run_id, str(map_index)), earlier=run_legacy)
