"""What every writing Stripe operator shares: validation first, one key per object, dry run, error policy, link.

A subclass says what it acts on and how; :meth:`StripeWriteOperator.execute_one` runs the same steps
for all of them, in this order:

1. ``validate()`` -> normalised inputs, or :class:`StripeInputError` before any call to Stripe;
2. derive the action's key (:mod:`airflow_stripe_automation.idempotency`);
3. ``dry_run``: log and return the plan, no write;
4. ``find_existing()``: the object this action already made (its mark), past Stripe's 24 h key window;
5. ``write()`` with the idempotency key;
6. push the dashboard link, return a small JSON dict.

Every Stripe operator also works through a batch: given a list as ``stripe_object`` (a batch of a
sensor's matches, see :mod:`airflow_stripe_automation.batches`), ``execute`` renders the templates
and runs ``execute_one`` once per object, with that object as ``obj``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowSkipException

from airflow_stripe_automation.approval import StripeNotApproved, check_approval, validate_threshold
from airflow_stripe_automation.batches import (
    BATCH_POSITION,
    LABEL_NAME,
    RESOLVED_CACHE,
    SKIPPED_KEY,
    BatchReport,
    batch_label,
    is_batch,
    is_permanent,
    object_label,
    redeemed,
    ui_label,
)
from airflow_stripe_automation.conditions import InvalidConditionError
from airflow_stripe_automation.conditions import evaluate as evaluate_condition
from airflow_stripe_automation.conditions import validate as validate_condition
from airflow_stripe_automation.errors import (
    StripeBatchFailed,
    StripeBatchIncomplete,
    StripeInputError,
    StripeRetryPolicy,
    default_retries,
    translate,
)
from airflow_stripe_automation.hooks.stripe import StripeHook
from airflow_stripe_automation.idempotency import (
    LEGACY_MARK_PREFIX,
    MAILS_METADATA_KEY,
    MARK_METADATA_KEY,
    ActionKey,
    action_key,
)
from airflow_stripe_automation.inputs import (
    check_header_text,
    check_idempotency_key,
    check_stored_text,
    control_characters,
    whole_number,
)
from airflow_stripe_automation.links.stripe import URL_ATTRIBUTE, StripeDashboardLink
from airflow_stripe_automation.money import InvalidMoneyError, money_or_text, normalize_currency, validate_amount
from airflow_stripe_automation.object_types import dashboard_path
from airflow_stripe_automation.objects import plain  # noqa: F401 - operators import it from here
from airflow_stripe_automation.rendered import (  # noqa: F401 - operators import is_unset from here
    OBJECT_NAME,
    holds_template,
    is_unset,
    parse_bool,
)
from airflow_stripe_automation.run_summary import TALLY_KEY, Tally

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context
    from stripe import RequestOptions

_ID = re.compile(r"^[a-z]+_[A-Za-z0-9_]+$")
#: Stripe's limit of metadata keys on one object.
MAX_METADATA_KEYS = 50


def validate_id(value: Any, prefix: str, field: str, *, required: bool = True) -> str | None:
    """
    Return ``value`` if it is a Stripe id with ``prefix`` (e.g. ``cus_``), else raise :class:`StripeInputError`.

    :param value: the id to check (rendered templates may add whitespace)
    :param prefix: the id prefix Stripe uses for the object type
    :param field: the operator argument, for the message
    :param required: whether an empty value is an error
    """
    text = value.strip() if isinstance(value, str) else value
    if text in (None, ""):
        if required:
            raise StripeInputError(f"{field} is required (a Stripe id starting with {prefix!r})")
        return None
    if not isinstance(text, str) or not text.startswith(prefix) or not _ID.match(text):
        raise StripeInputError(f"{field} must be a Stripe id starting with {prefix!r}, got {value!r}")
    return text


def validate_flag(value: Any, field: str, default: bool | None = None) -> bool | None:
    """
    Return a yes/no argument as a bool (templates render ``"True"``/``"false"``), ``default`` if unset.

    :param value: the argument (spellings: :func:`airflow_stripe_automation.rendered.parse_bool`)
    :param field: the operator argument, for the message
    :param default: what an unset argument means
    """
    try:
        return parse_bool(value, default)
    except ValueError:
        raise StripeInputError(f"{field} must be true or false, got {value!r}") from None


def validate_count(value: Any, field: str) -> int:
    """Return a positive whole number (an int, or its digits as a rendered template gives them), or raise."""
    number = whole_number(value)
    if number is None or number < 0:
        raise StripeInputError(f"{field} must be a positive whole number, got {value!r}")
    if number <= 0:
        raise StripeInputError(f"{field} must be greater than zero, got {number}")
    return number


def validate_order_id(value: Any, what: str) -> str:
    """
    Return an order id as its action's key takes it: 1–500 characters of printable latin-1 text, or raise.

    The order id names the object acted on, so it is part of the Idempotency-Key header, and it is
    stored in the metadata of what the action creates.

    :param value: the order id (a number is taken as its digits)
    :param what: what one order gets, for the message ("one invoice")
    """
    order = str(value).strip() if value is not None else ""
    if not order:
        raise StripeInputError(f"order_id is required: {what} is made per order")
    if len(order) > 500:
        raise StripeInputError("order_id must be at most 500 characters (it is stored in Stripe metadata)")
    return check_header_text(order, "order_id", StripeInputError, why="it is part of the Idempotency-Key header")


def validate_money(amount: Any, currency: Any, field: str = "amount") -> tuple[int, str]:
    """
    Return ``(amount, currency)`` as Stripe takes them (minor units, lowercase code), or raise :class:`StripeInputError`.

    :param amount: minor units of ``currency`` (an int, or digits as a rendered template gives them)
    :param currency: a currency code Stripe supports
    :param field: the operator argument holding the amount, for the message
    """
    try:
        code = normalize_currency(currency)
        return validate_amount(amount, code, field=field), code
    except InvalidMoneyError as err:
        raise StripeInputError(str(err)) from None


def validate_metadata(metadata: Any, field: str = "metadata", *, ours: Sequence[str] = ()) -> dict[str, str]:
    """
    Return ``metadata`` as Stripe accepts it (≤50 keys of ≤40 chars, values ≤500 chars), or raise.

    The keys of the provider's own marks are refused: a user value there would fake "already done".
    Keys and values hold no control characters.

    :param metadata: a mapping of keys to values (values are sent as strings)
    :param field: the operator argument, for the message
    :param ours: the keys the operator adds to them (its mark, ``order_id``…): they count towards the 50
    """
    if metadata in (None, ""):
        return {}
    if not isinstance(metadata, Mapping):
        raise StripeInputError(f"{field} must be a mapping of strings, got {type(metadata).__name__}")
    added = sorted(set(ours) - set(metadata))
    if len(metadata) + len(added) > MAX_METADATA_KEYS:
        raise StripeInputError(
            f"{field} has {len(metadata)} keys and the operator adds {len(added)} ({', '.join(added)}): "
            f"Stripe allows at most {MAX_METADATA_KEYS} metadata keys on an object; give at most "
            f"{MAX_METADATA_KEYS - len(added)}"
            if added
            else f"{field} has {len(metadata)} keys; Stripe allows at most {MAX_METADATA_KEYS}"
        )
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > 40 or "[" in key or "]" in key or control_characters(key):
            raise StripeInputError(
                f"{field} key {key!r} must be 1–40 characters without square brackets or control characters"
            )
        if key in (MARK_METADATA_KEY, MAILS_METADATA_KEY) or key.startswith(LEGACY_MARK_PREFIX):
            raise StripeInputError(f"{field} key {key!r} is reserved for the provider's marks")
        out[key] = check_stored_text(value, f"{field}[{key!r}]", StripeInputError, max_length=500)
    return out


def rendered_condition(condition: Any, where: str) -> dict[str, Any]:
    """
    Return a condition checked once its templates are rendered, or raise :class:`StripeInputError`.

    :param condition: the rendered condition
    :param where: the argument, for the message
    """
    try:
        return validate_condition(condition, where)
    except InvalidConditionError as err:
        raise StripeInputError(str(err)) from None


class StripeBaseOperator(BaseOperator):
    """
    Base class of every Stripe operator: the hook, built lazily, the dashboard link, and ``obj``.

    ``stripe_object`` is the object a recipe acts on (a sensor's match, a retrieve's result; an
    XComArg or a mapped argument resolves to it). It is rendered first, then offered to every other
    template as ``obj``, with the ``money`` helper: ``customer_id="{{ obj.customer }}"``,
    ``"{{ obj.amount | money(obj.currency) }}"`` -> ``$1,500.00``.

    ``condition`` makes the task conditional, the way a recipe says "if amount > 2,000 USD, tag the
    customer": a structured condition (:mod:`airflow_stripe_automation.conditions`) evaluated on
    ``stripe_object`` before anything else; when it does not hold the task is skipped. It works for
    each mapped task on its own, where a branch operator's skips would not. Asset events of the
    task's ``outlets`` carry the object's summary as their ``extra``.

    ``stripe_object`` may also be a *batch*, a list of objects (a sensor's matches with
    ``batch_size``): the task then acts on each object in turn — templates rendered, ``condition``
    checked and the action done per object, with ``obj`` that object and ``batch_position`` its place
    — and returns the list of results (``None`` where an object was skipped). An object skipped by an
    earlier step of its batch (an unmet condition, a ``continue_if``) is skipped here too, unless the
    task's trigger rule says to run anyway. A failure on one object does not stop the others: the task
    fails at the end, naming each failed object and why, and its retry redoes only what is unfinished.

    :param stripe_conn_id: the Stripe connection to use (templated; the hook is built when the task runs)
    :param stripe_object: the Stripe object (a dict) the task is about (templated)
    :param condition: run only when ``stripe_object`` meets this condition, else skip (templated)
    :param map_index_template: how the UI names a mapped task; by default what it acts on: an
        invoice's number (else the object's id) and its customer (``INV-0042 · Acme Corp``), or a
        batch's first and last and its size (``INV-0001 … INV-0100 (100)``)
    :param action_id: the action's identity, on which its idempotency keys and marks rest: the same
        ``action_id`` acts once per object in whichever DAG or task it runs (the recipes and example
        DAGs declare ``<recipe>/<step>``, e.g. ``R8/credit``); by default the DAG and the task, so a
        renamed DAG or task is a new action
    :param retries: tries after the first; by default ``[core] default_task_retries``, or 3 when that
        is 0, so :class:`~airflow_stripe_automation.errors.StripeRetryPolicy` can act on a 429 or 5xx
        (``default_args`` and ``.partial()`` set it as for any operator)
    """

    template_fields: Sequence[str] = ("stripe_object", "condition", "stripe_conn_id")
    template_fields_renderers = {"stripe_object": "json", "condition": "json"}
    operator_extra_links = (StripeDashboardLink(),)
    ui_color = "#635bff"
    ui_fgcolor = "#ffffff"
    #: whether the operator can work through a batch; a subclass that can only act on one object at a time says False
    batchable: ClassVar[bool] = True
    #: what the operator does to each object, for logs and the run summary; None for a read-only one
    action: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        stripe_conn_id: str = StripeHook.default_conn_name,
        stripe_object: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        condition: Mapping[str, Any] | None = None,
        map_index_template: str | None = "{{ " + LABEL_NAME + " }}",
        action_id: str | None = None,
        retries: int | None = default_retries(),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retry_policy", StripeRetryPolicy())
        super().__init__(map_index_template=map_index_template, retries=retries, **kwargs)
        self.stripe_conn_id = stripe_conn_id
        self.action_id = action_id
        # One object, or once rendered a batch of them (a list): see _execute_batch.
        self.stripe_object: Any = stripe_object
        self.condition = condition
        # Decided on the argument as given: a literal condition is data, never rendered.
        self._condition_is_template = holds_template(condition)
        if condition and not self._condition_is_template:
            validate_condition(condition, f"{kwargs.get('task_id')}.condition")  # a parse-time error

    def post_execute(self, context: Any, result: Any = None) -> None:
        """
        Attach the object acted on to the asset events of this task's ``outlets`` (for downstream DAGs).

        A batch task emits one event per outlet: its ``extra`` lists the objects acted on under
        ``objects`` (an asset, unlike an alias, takes one event per task).
        """
        super().post_execute(context, result)
        try:
            self._attach_to_outlets(context)
        finally:
            self._release_batch()

    def _release_batch(self) -> None:
        """
        Drop the batch the task worked through, now that it is done (its results are in XCom).

        A runner may keep the finished task: ``dag.test()`` keeps every task instance it ran with a
        serialized copy of its operator, fields included, so each mapped task's batch stayed alive
        until the run ended: about 100 KB per batch of 100, 150 MB at 100,000 objects.
        """
        if self._batch_objects() is not None:
            for name in ("_batch", "_batch_results"):
                self.__dict__.pop(name, None)
            self.stripe_object = None

    def _attach_to_outlets(self, context: Any) -> None:
        if not self.outlets:
            return
        batch = self._batch_objects()
        if batch is not None:
            # The runner calls post_execute without the result: the batch task kept its own.
            results = getattr(self, "_batch_results", None) or []
            done = [_summary(o) for o, r in zip(batch, results, strict=False) if r is not None]
            extra: dict[str, Any] = {"count": len(done), "objects": done}
        elif isinstance(self.stripe_object, Mapping):
            extra = _summary(self.stripe_object)
        else:
            return
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = extra

    def pre_execute(self, context: Any) -> None:
        """Skip the task when ``condition`` does not hold for ``stripe_object`` (a batch: per object, later)."""
        super().pre_execute(context)
        if not self.condition or self._batch_objects() is not None:
            return
        obj = self.stripe_object if isinstance(self.stripe_object, Mapping) else {}
        if not self.condition_holds(obj):
            self.push_tally(context, skipped=1)
            raise AirflowSkipException(f"condition not met for {obj.get('id', 'the object')}: {self.condition}")
        self.log.info("Condition met for %s.", obj.get("id", "the object"))

    def condition_holds(self, obj: Any) -> bool:
        """Whether ``obj`` meets the task's ``condition`` (rendered for it already); no condition: always."""
        if not self.condition:
            return True
        return evaluate_condition(rendered_condition(self.condition, f"{self.task_id}.condition"), obj)

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """
        Render one template field's value; the task's first call renders ``stripe_object`` and offers it as ``obj``.

        Airflow renders every template field through this method, for a task (from
        ``render_template_fields``) as for a mapped one (whose fields the mapped operator renders
        without calling the unmapped task's ``render_template_fields``). So ``stripe_object`` is
        rendered before any other field, once, and every other template reads it as ``obj``, with
        ``money``. A literal ``condition`` is returned as it is: rendering it natively would turn
        ``""`` into ``None``.
        """
        jinja_env = jinja_env or self.get_template_env()
        jinja_env.filters.setdefault("money", money_or_text)
        if OBJECT_NAME not in context:
            given = self.stripe_object
            self._offer_object(context, jinja_env, seen_oids)
            if content is given:
                return self.stripe_object
        if self._batch_objects() is not None and BATCH_POSITION not in context:
            return content  # a batch task's templates are rendered per object, in execute
        if content is self.stripe_object:
            return content  # rendered already: the object's own data is never rendered
        if content is self.condition and not self._condition_is_template:
            return content
        return super().render_template(content, context, jinja_env, seen_oids)

    def _offer_object(self, context: Context, jinja_env: jinja2.Environment, seen_oids: set[int] | None) -> None:
        """Render ``stripe_object``, then put it and ``money`` in ``context``: ``obj`` for the other templates."""
        context[OBJECT_NAME] = None  # type: ignore[literal-required]  # not offered while stripe_object renders
        self.stripe_object = redeemed(
            super().render_template(self.stripe_object, context, jinja_env, seen_oids), context
        )
        if is_batch(self.stripe_object):
            if not self.batchable:
                raise StripeInputError(
                    f"{self.task_id} acts on one object at a time (batchable = False) and was given a batch of "
                    f"{len(self.stripe_object)}: map it over single objects (a sensor without batch_size)"
                )
            self._batch = [dict(o) if isinstance(o, Mapping) else o for o in self.stripe_object]
            self.stripe_object = self._batch
            context[LABEL_NAME] = batch_label(self._batch)  # type: ignore[literal-required]
            return
        obj = self.stripe_object if isinstance(self.stripe_object, Mapping) else {}
        context[OBJECT_NAME] = obj  # type: ignore[literal-required]
        context[LABEL_NAME] = ui_label(obj) if obj else ""  # type: ignore[literal-required]
        context["money"] = money_or_text  # type: ignore[typeddict-unknown-key]

    @cached_property
    def hook(self) -> StripeHook:
        """The Stripe hook, built on first use: in ``execute``, once ``stripe_conn_id`` is rendered."""
        return StripeHook(stripe_conn_id=self.stripe_conn_id)

    # -- one object, or a batch ------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Act on ``stripe_object``: once, or once per object of a batch; either way, leave the task's tally."""
        batch = self._batch_objects()
        if batch is not None:
            return self._execute_batch(context, batch)
        try:
            result = self.execute_one(context)
        except StripeNotApproved:
            self.push_tally(context, not_approved=1)
            raise
        except AirflowSkipException:
            self.push_tally(context, skipped=1)
            raise
        except Exception:  # a deferral (TaskDeferred) is no Exception: it passes, and counts when it ends
            self.push_tally(context, failed=1)
            raise
        self.push_tally(context, results=[result])
        return result

    def push_tally(
        self,
        context: Context,
        results: Sequence[Any] = (),
        *,
        skipped: int = 0,
        failed: int = 0,
        not_approved: int = 0,
    ) -> None:
        """
        Push what this task did (:mod:`airflow_stripe_automation.run_summary`), for the run's summary.

        :param context: the task's context
        :param results: what the action returned per object acted on (``None``: skipped)
        :param skipped: objects skipped besides those ``None`` results
        :param failed: objects whose action failed
        :param not_approved: objects held for want of a person's approval (not counted in ``skipped``)
        """
        if self.action is None:
            return
        tally = Tally(self.action, skipped=skipped, failed=failed, not_approved=not_approved)
        for result in results:
            if result is not None:  # a skipped or failed object, counted by the caller
                tally.add_result(result)
        context["ti"].xcom_push(key=TALLY_KEY, value=tally.as_xcom())

    def execute_one(self, context: Context) -> Any:
        """Act on one object (``stripe_object``, templates rendered for it); what subclasses provide."""
        raise NotImplementedError

    def batch_session(self) -> AbstractContextManager[Any]:
        """What a batch task holds open while it works through its batch (a mail server connection…); none here."""
        return nullcontext()

    def _batch_objects(self) -> list[Any] | None:
        # Set when stripe_object rendered to a list; never at parse time (__init__ only stores arguments).
        return getattr(self, "_batch", None)

    def _execute_batch(self, context: Context, batch: list[Any]) -> list[Any]:
        """Run ``execute_one`` per object of ``batch``; report each skip and failure; fail at the end if any failed."""
        return self._finish_batch(context, batch, self._act_on_batch(context, batch, self.execute_one))

    def _act_on_batch(self, context: Context, batch: list[Any], act: Callable[[Context], Any]) -> BatchReport:
        """
        Render, check and ``act`` on each object of ``batch`` in turn; what each gave, skipped or failed.

        :param context: the task's context (each object gets a copy, with ``obj`` and ``batch_position``)
        :param batch: the objects
        :param act: what is done with one object, given its context: ``execute_one``, or for an
            operator that defers, the first step of its work on the object
        """
        raw = {name: getattr(self, name) for name in self.template_fields if name != "stripe_object"}
        jinja_env = self.get_template_env()
        jinja_env.filters.setdefault("money", money_or_text)
        skipped_before = self._skipped_upstream(context)
        report = BatchReport(len(batch))
        resolved: dict[int, Any] = {}  # what the templates' XComArgs resolved to: read once per batch
        self.log.info("Working through a batch of %d objects.", len(batch))
        with self.batch_session():
            self._work_through(context, batch, raw, jinja_env, skipped_before, report, resolved, act)
        self.stripe_object = batch
        return report

    def _finish_batch(self, context: Context, batch: list[Any], report: BatchReport) -> list[Any]:
        """Hand on what the batch did: the skipped positions, the results; fail naming each failed object."""
        self.stripe_object = batch
        if report.skipped:
            context["ti"].xcom_push(key=SKIPPED_KEY, value=report.skipped)
        self.log.info("Batch finished: %s.", report.summary())
        self.push_tally(
            context,
            report.results,
            skipped=len(report.skipped) - len(report.not_approved),
            failed=len(report.failures),
            not_approved=len(report.not_approved),
        )
        if report.failures:
            permanent = all(is_permanent(err) for _, _, err in report.failures)
            raise (StripeBatchFailed if permanent else StripeBatchIncomplete)(report.failure_message())
        self._batch_results = report.results
        if not report.done_count:
            raise AirflowSkipException(f"all {report.size} objects of the batch were skipped")
        return report.results

    def _work_through(
        self,
        context: Context,
        batch: list[Any],
        raw: dict[str, Any],
        jinja_env: Any,
        skipped_before: set[int],
        report: BatchReport,
        resolved: dict[int, Any],
        act: Callable[[Context], Any],
    ) -> None:
        """Render, check and ``act`` on each object of ``batch`` in turn, recording each outcome in ``report``."""
        for position, obj in enumerate(batch):
            label = object_label(obj, position)
            if obj is None or position in skipped_before:
                self.log.info("%s: skipped (an earlier step skipped it).", label)
                report.skip(position)
                continue
            one: Any = {
                **context,
                OBJECT_NAME: obj,
                "money": money_or_text,
                BATCH_POSITION: position,
                RESOLVED_CACHE: resolved,
            }
            self.stripe_object = obj
            try:
                for name, value in raw.items():
                    literal = name == "condition" and not self._condition_is_template
                    setattr(self, name, value if literal else self.render_template(value, one, jinja_env))
                if not self.condition_holds(obj):
                    self.log.info("%s: skipped (condition not met: %s).", label, self.condition)
                    report.skip(position)
                    continue
                result = act(one)
            except StripeNotApproved as err:
                self.log.warning("%s: not approved: %s", label, err)
                report.hold(position)
                continue
            except AirflowSkipException as err:
                self.log.info("%s: skipped (%s).", label, err)
                report.skip(position)
                continue
            except Exception as err:  # one object's failure must neither stop nor hide the others
                self.log.error("%s: failed: %s: %s", label, type(err).__name__, err)
                report.fail(position, label, err)
                continue
            report.done(result)

    def _skipped_upstream(self, context: Context) -> set[int]:
        """The positions an upstream batch task skipped, which this task skips too (trigger rule ``all_success``)."""
        if self.trigger_rule != TriggerRule.ALL_SUCCESS:
            return set()
        ti = context["ti"]
        skipped: set[int] = set()
        for task_id in sorted(self.upstream_task_ids):
            positions = ti.xcom_pull(task_ids=task_id, key=SKIPPED_KEY, map_indexes=ti.map_index)
            skipped.update(int(p) for p in positions or ())
        return skipped

    def dashboard_path(self, obj: Any) -> str | None:
        """The object's path in the Stripe dashboard (e.g. ``payments/pi_123``)."""
        return dashboard_path(obj["id"]) if obj and obj["id"] else None

    def _link(self, obj: Any) -> None:
        path = self.dashboard_path(obj)
        if path:
            setattr(self, URL_ATTRIBUTE, self.hook.dashboard_url(path))


class StripeWriteOperator(StripeBaseOperator):
    """
    Base class of the operators that write to Stripe.

    :param stripe_conn_id: the Stripe connection to use (templated)
    :param idempotency_key: replace the derived idempotency key (templated); the same key must mean
        the same action
    :param dry_run: validate, read and log what would be done, but send no write (stored as
        :attr:`is_dry_run`: ``dry_run`` is :meth:`BaseOperator.dry_run`, the Task SDK's method)
    :param approval_above: ``{"amount": minor units, "currency": "usd"}``: an action moving more than
        this (or another currency) is done only for an object a person approved in ``approval``, else
        it is skipped as *not approved* and nothing is written (templated; only the operators that
        move money, :meth:`money_at_stake`, take it)
    :param approval: the result of the
        :class:`~airflow_stripe_automation.operators.approval.StripeApprovalOperator` before this task
        (its ``.output``), holding a person's decision per object (templated)
    """

    template_fields: Sequence[str] = (
        *StripeBaseOperator.template_fields,
        "idempotency_key",
        "approval_above",
        "approval",
    )

    #: what the action does, for logs, messages and the run summary ("charge", "refund", …)
    action: ClassVar[str | None] = "write"

    def __init__(
        self,
        *,
        idempotency_key: str | None = None,
        dry_run: bool = False,
        approval_above: Mapping[str, Any] | str | None = None,
        approval: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.idempotency_key = idempotency_key
        self.is_dry_run = dry_run
        self.approval_above = approval_above
        self.approval = approval

    # -- what subclasses provide -------------------------------------------------------------

    def validate(self) -> dict[str, Any]:
        """Return the normalised inputs or raise :class:`StripeInputError`; no network."""
        raise NotImplementedError

    def object_id(self, inputs: dict[str, Any]) -> str | None:
        """The Stripe object this action acts on; ``None`` when the run itself is the object."""
        return None

    def prepare(self, inputs: dict[str, Any], context: Context) -> dict[str, Any]:
        """Read what the write needs (allowed in dry run); returns the inputs, completed."""
        return inputs

    def find_existing(self, inputs: dict[str, Any], key: ActionKey, context: Context) -> Any | None:
        """Return what this action already made (found by its mark), or ``None``."""
        return None

    def write(self, inputs: dict[str, Any], key: ActionKey) -> Any:
        """Do the write, sending ``key.idempotency_key``."""
        raise NotImplementedError

    def describe(self, inputs: dict[str, Any]) -> str:
        """A short phrase for logs and errors, e.g. ``"a charge of $15.00 to cus_123"``."""
        return self.action or "write"

    def result(self, obj: Any) -> dict[str, Any]:
        """The small JSON-serialisable dict returned to XCom."""
        return {"id": obj["id"], "object": obj.get("object")}

    def money_at_stake(self, inputs: dict[str, Any]) -> tuple[int, str] | None:
        """
        What the action moves, ``(minor units, currency)``, compared with ``approval_above``; ``None``: nothing.

        An operator that moves money says how much (from the inputs ``prepare`` completed); the
        others move none and refuse ``approval_above``.
        """
        return None

    # -- the shared steps ----------------------------------------------------------------------

    def request_options(self, key: ActionKey) -> RequestOptions:
        """Options for a writing SDK call."""
        return {"idempotency_key": key.idempotency_key}

    def execute_one(self, context: Context) -> dict[str, Any]:
        import stripe

        inputs = self.validate()
        threshold = validate_threshold(self.approval_above)
        if threshold is not None and type(self).money_at_stake is StripeWriteOperator.money_at_stake:
            raise StripeInputError(f"approval_above is for actions that move money; a {self.action} moves none")
        self.idempotency_key = check_idempotency_key(self.idempotency_key, StripeInputError)
        key = action_key(
            context, object_id=self.object_id(inputs), explicit=self.idempotency_key, action_id=self.action_id
        )
        check_header_text(key.idempotency_key, "the idempotency key", StripeInputError, why="it is an HTTP header")
        try:
            inputs = self.prepare(inputs, context)
            what = self.describe(inputs)
            if self.is_dry_run:
                self.log.info("Dry run: would do %s (idempotency key %s); nothing sent.", what, key.idempotency_key)
                return {
                    "dry_run": True,
                    "action": self.action,
                    "would": what,
                    "idempotency_key": key.idempotency_key,
                    "inputs": _jsonable(inputs),
                }
            existing = self.find_existing(inputs, key, context)
            if existing is None and threshold is not None:
                # Before the write and after the mark lookup: an object acted on already is done, approved or not.
                amount, currency = self.money_at_stake(inputs) or (None, None)
                approved = check_approval(
                    threshold,
                    amount,
                    currency,
                    object_id=self.object_id(inputs) or context["run_id"],
                    approval=self.approval,
                    what=what,
                )
                if approved:
                    self.log.info("%s is above %s and was %s.", what, threshold, approved)
            if existing is not None:
                self.log.info(
                    "Already done: %s is %s (found by its mark %s); nothing sent.", what, existing["id"], key.mark
                )
                obj, replayed = existing, True
            else:
                self.log.debug("Doing %s (idempotency key %s).", what, key.idempotency_key)
                self.hook.http_client.last_write = None
                obj = self.write(inputs, key)
                # Stripe answers a key it has seen with its first response: an earlier try wrote it.
                answer = self.hook.http_client.last_write
                replayed = bool(answer and answer.replayed)
                self.log.info(
                    "%s %s: %s (idempotency key %s%s).",
                    "Already done (Stripe replayed the key):" if replayed else "Done:",
                    what,
                    obj["id"],
                    key.idempotency_key,
                    f", Stripe request {answer.request_id}" if answer and answer.request_id else "",
                )
        except stripe.StripeError as err:
            failed_intent = getattr(getattr(err, "error", None), "payment_intent", None)
            if failed_intent:  # a decline leaves a PaymentIntent worth looking at
                self._link(failed_intent)
            raise translate(err, self.describe(inputs)) from err
        self._link(obj)
        out = self.result(obj)
        out["already_done"] = replayed
        return out


def _summary(obj: Mapping[str, Any]) -> dict[str, Any]:
    from airflow_stripe_automation.objects import summarize

    return summarize(obj) if "object" in obj else dict(obj)


def _jsonable(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}
