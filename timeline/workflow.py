"""The editorial workflow: who may make what public, and how public records change.

A publishable record (party, district, source, agreement, handover, event)
goes draft -> in review -> published. Once readers have seen it, it is never
silently changed: a reviewer *corrects* it (with a short public note) or
*withdraws* it (with a note); each public act writes a ``Publication`` row,
which is what the record's page and the feeds tell readers.

Roles are the groups created by migration ``0004_editorial_roles``:

* Editors hold add/change/delete: they write drafts and submit them for review;
* Reviewers also hold ``review_<model>``: they publish, correct and withdraw;
* Administrators (and superusers) may do everything, and are exempt from the
  four-eyes rule below.

Four eyes: a reviewer cannot publish a change they made themselves that
nobody else has looked at, i.e. when the last recorded change of the record
(or the save that publishes it) is their own. A correction is not held for a
second reviewer: it is the reviewer's own public act, made at once, signed
(``Publication.user``) and explained to readers by its note (see
docs/editorial-workflow.md for why).

Rows that belong to a publishable record (an agreement's deadlines,
postponements, provisions and signatories, a record's citations, a district's
names: ``ROW_OWNERS``) have no status of their own: once readers have seen the
record, changing its rows is a correction of it (``check_row_change``).

The admin, the API, the bulk import and the tests all apply these rules
through ``check_transition`` and the services below, so they hold everywhere.
Every save made here records its user and reason in the record's history.
"""

import contextlib
import contextvars
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from timeline.models import (
    Citation,
    ControlChange,
    Deadline,
    Discrepancy,
    DistrictAlias,
    Membership,
    Postponement,
    Provision,
    ProvisionStatusChange,
    Publication,
    PublicationStatus,
    PublishableModel,
    Signatory,
)

EDITORS, REVIEWERS, ADMINISTRATORS = "Editors", "Reviewers", "Administrators"
DRAFT, IN_REVIEW, PUBLISHED, WITHDRAWN = (
    PublicationStatus.DRAFT, PublicationStatus.IN_REVIEW, PublicationStatus.PUBLISHED, PublicationStatus.WITHDRAWN,
)
PUBLIC = {PUBLISHED, WITHDRAWN}
REASON_MAX = 100  # simple-history's history_change_reason column


class WorkflowError(Exception):
    """A workflow rule refused an act; ``message`` says why in words for editors.

    ``code`` is ``forbidden`` (the role may not do this: HTTP 403),
    ``conflict`` (not in this state, or four eyes: 409) or ``note_required`` (400).
    """

    def __init__(self, message: str, code: str = "forbidden", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


# --------------------------------------------------------------------------
# Who is who
# --------------------------------------------------------------------------


def is_administrator(user) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATORS).exists()


def can_review(user, model) -> bool:
    """Whether ``user`` may publish, correct and withdraw records of ``model`` (a class or instance)."""
    meta = model._meta
    return bool(user and user.is_authenticated and user.has_perm(f"{meta.app_label}.review_{meta.model_name}"))


def is_publishable(model) -> bool:
    return issubclass(model if isinstance(model, type) else type(model), PublishableModel)


def is_public(record) -> bool:
    """Readers saw it: published now, or withdrawn after being published."""
    return record.publication_status in PUBLIC


def can_change_in_place(user, record) -> bool:
    """Editors change drafts and records in review; only reviewers touch what readers have seen."""
    if record is None or not is_publishable(record) or not is_public(record):
        return True
    return can_review(user, record)


def last_change_by(record) -> int | None:
    """The id of the user who made the latest recorded change of ``record`` or of its rows (None if unknown).

    The rows readers see as part of the record (``ROW_OWNERS``: an agreement's provisions
    and deadlines, an event's citations, ...) count: a reviewer who adds a provision to an
    editor's agreement has made its latest change and cannot publish it alone.
    """
    latest = record.history.order_by("-history_date", "-history_id").values_list(
        "history_date", "history_user_id"
    ).first()
    for model, path in _row_paths_to(type(record)):
        row = model.history.filter(**{path: record.pk}).order_by("-history_date", "-history_id").values_list(
            "history_date", "history_user_id"
        ).first()
        if row is not None and (latest is None or row[0] > latest[0]):
            latest = row
    return latest[1] if latest else None


def _row_paths_to(owner_model) -> list[tuple[type, str]]:
    """``(row model, lookup)`` for every kind of row that belongs to records of ``owner_model``."""
    found = []
    for model, paths in ROW_OWNERS.items():
        for path in paths:
            target = model
            for step in path.split("__"):
                target = target._meta.get_field(step).related_model
            if target is owner_model:
                found.append((model, path))
    return found


# --------------------------------------------------------------------------
# History: who, when and why, for every save made through the workflow
# --------------------------------------------------------------------------

_change = contextvars.ContextVar("timeline_change", default=None)


@dataclass(frozen=True)
class Change:
    user: object
    reason: str


@contextlib.contextmanager
def change_context(*, user=None, reason: str = ""):
    """Every history row written inside gets ``user`` and ``reason`` unless its save set its own.

    It reaches saves made deep inside services (derived entries, handover
    statuses), so the whole change is attributed and explained.
    """
    token = _change.set(Change(user=user, reason=(reason or "")[:REASON_MAX]))
    try:
        yield
    finally:
        _change.reset(token)


@receiver(pre_create_historical_record)
def _attribute_history_row(sender, history_instance, **kwargs):
    change = _change.get()
    if change is None:
        return
    if not history_instance.history_change_reason and change.reason:
        history_instance.history_change_reason = change.reason
    if history_instance.history_user_id is None and change.user is not None and change.user.is_authenticated:
        history_instance.history_user = change.user


def _mark(record, user, reason: str) -> None:
    if user is not None and user.is_authenticated:
        record._history_user = user
    if reason:
        record._change_reason = reason[:REASON_MAX]


# --------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------


def _name(record) -> str:
    return record._meta.verbose_name


def check_transition(
    *, user, record, old_status: str | None, new_status: str, content_changed: bool, note: str = ""
) -> str | None:
    """Whether ``user`` may take ``record`` from ``old_status`` (None: a new record) to ``new_status``.

    ``content_changed`` says whether the save also changes what the record
    says. Returns the public act the save is (``published``, ``corrected``,
    ``withdrawn``) or None, or raises ``WorkflowError``.
    """
    name = _name(record)
    note = (note or "").strip()
    if not can_review(user, record):
        if old_status in PUBLIC:
            state = "published" if old_status == PUBLISHED else "withdrawn"
            raise WorkflowError(
                f"This {name} is {state}: an editor cannot change it in place. Ask a reviewer to correct it "
                "(with a public note) or to withdraw it.",
            )
        if new_status in PUBLIC:
            raise WorkflowError(
                f"Only a reviewer can publish or withdraw a {name}; set it to “in review” instead.",
                field="publication_status",
            )
        return None

    if old_status in PUBLIC and new_status in (DRAFT, IN_REVIEW):
        raise WorkflowError(
            f"Readers have seen this {name}: it cannot go back to {new_status.replace('_', ' ')}. "
            "Correct it, or withdraw it with a public note.",
            code="conflict", field="publication_status",
        )
    if new_status == WITHDRAWN:
        if old_status == WITHDRAWN:
            if content_changed:
                raise WorkflowError(
                    f"A withdrawn {name} is kept as readers last saw it; publish it again to change it.",
                    code="conflict",
                )
            return None
        if old_status != PUBLISHED:
            raise WorkflowError(
                f"Only a published {name} can be withdrawn; a draft can simply be deleted.",
                code="conflict", field="publication_status",
            )
        if not note:
            raise WorkflowError("Withdrawing needs a short public note saying why.", code="note_required",
                                field="public_note")
        return Publication.Action.WITHDRAWN
    if new_status == PUBLISHED:
        if old_status == PUBLISHED:
            if not content_changed:
                return None
            if not note:
                raise WorkflowError(
                    f"This {name} is published: saving a change makes it a correction, which needs a short "
                    "public note (readers see “Corrected on <date>: <note>”).",
                    code="note_required", field="public_note",
                )
            return Publication.Action.CORRECTED
        if not is_administrator(user):
            own = content_changed or old_status is None or last_change_by(record) == user.pk
            if own:
                raise WorkflowError(
                    f"Four eyes: the latest change of this {name} is yours, so another reviewer must publish it. "
                    "Set it to “in review” and ask a colleague.",
                    code="conflict", field="publication_status",
                )
        return Publication.Action.PUBLISHED
    return None


def record_public_act(*, record, action: str, user=None, note: str = "") -> Publication:
    """The log entry readers and feeds see for one public act."""
    title = getattr(record, "title", None) or getattr(record, "name", None) or str(record)
    publication = Publication(
        action=action,
        content_type=ContentType.objects.get_for_model(type(record)),
        object_id=record.pk,
        slug=getattr(record, "slug", "") or "",
        title=title[:300],
        note=(note or "").strip(),
        user=user if user is not None and user.is_authenticated else None,
    )
    publication.full_clean()
    publication.save()
    return publication


def corrections_of(record) -> list[Publication]:
    """The public corrections of ``record``, oldest first (what its page lists)."""
    return list(
        Publication.objects.filter(
            content_type=ContentType.objects.get_for_model(type(record)), object_id=record.pk,
            action=Publication.Action.CORRECTED,
        ).order_by("at", "id")
    )


def latest_act(record, action: str) -> Publication | None:
    return (
        Publication.objects.filter(
            content_type=ContentType.objects.get_for_model(type(record)), object_id=record.pk, action=action
        ).order_by("-at", "-id").first()
    )


# --------------------------------------------------------------------------
# Rows that belong to a publishable record: changing them corrects the record
# --------------------------------------------------------------------------

# The publishable records each kind of row is part of, as paths of foreign keys
# (``__`` between steps). A deadline is part of its agreement's page, a citation
# of the record it cites; readers see these rows as part of their record, so a
# published record's rows change only as a correction of that record. Handovers,
# events and the other publishable models have a status of their own and are
# not rows here.
ROW_OWNERS: dict[type, tuple[str, ...]] = {
    Signatory: ("agreement",),
    Provision: ("agreement",),
    ProvisionStatusChange: ("provision__agreement",),
    Deadline: ("agreement",),
    Postponement: ("deadline__agreement",),
    DistrictAlias: ("district",),
    Membership: ("group", "member"),
    ControlChange: ("event",),
    Citation: ("event", "agreement", "deadline__agreement", "postponement__deadline__agreement", "handover",
               "status_change__provision__agreement"),
    Discrepancy: ("event", "agreement", "district", "handover", "deadline__agreement"),
}


def owner_paths(model) -> tuple[str, ...]:
    """The foreign-key paths from a row of ``model`` (class or instance) to the records it belongs to."""
    return ROW_OWNERS.get(model if isinstance(model, type) else type(model), ())


def _owner_at(row, path: str, lock: bool = False):
    """The record at the end of ``path`` from ``row`` as stored now (``lock``: locked, in a transaction), or None."""
    steps = path.split("__")
    node = row
    for step in steps[:-1]:
        if getattr(node, f"{step}_id") is None:
            return None
        try:
            node = getattr(node, step)
        except ObjectDoesNotExist:  # a past version of a row whose record is gone
            return None
    last = node._meta.get_field(steps[-1])
    pk = getattr(node, last.attname)
    if pk is None:
        return None
    rows = last.related_model._default_manager.filter(pk=pk)
    if lock and transaction.get_connection().in_atomic_block:
        # Read under the same lock publish/withdraw take, so a status cannot change between check and save.
        rows = rows.select_for_update()
    return rows.first()


def _owners_and_rows(rows, cache: dict | None = None, lock: bool = False) -> dict:
    """``(model, pk) -> (owner, the first of rows that belongs to it)``.

    ``cache`` (a dict kept by the caller) remembers each owner by the row's
    first foreign key on the path, for callers that look up many rows.
    """
    owners = {}
    for row in rows:
        if row is None:
            continue
        for path in owner_paths(row):
            if cache is None:
                owner = _owner_at(row, path, lock)
            else:
                key = (path, getattr(row, f"{path.split('__')[0]}_id"))
                if key not in cache:
                    cache[key] = _owner_at(row, path, lock)
                owner = cache[key]
            if owner is not None:
                owners.setdefault((type(owner), owner.pk), (owner, row))
    return owners


def owners_of(*rows, cache: dict | None = None) -> list:
    """The publishable records ``rows`` belong to (each once), with their stored status.

    A row may be given before and after its change (a citation moved from one
    record to another changes both). Rows of other models belong to nothing.
    """
    return [owner for owner, _ in _owners_and_rows(rows, cache).values()]


def _row_refusal(user, owner, row) -> WorkflowError | None:
    """Why ``user`` may not touch a row of ``owner`` at all (None: they may, given a note when it is public)."""
    if not is_public(owner):
        return None
    what, whole = row._meta.verbose_name_plural, f"the {_name(owner)} “{owner}”"
    if not can_review(user, owner):
        state = "published" if owner.publication_status == PUBLISHED else "withdrawn"
        return WorkflowError(
            f"The {what} of {whole} are part of what readers see, and it is {state}: an editor cannot change, add "
            f"or delete them. Ask a reviewer to correct the {_name(owner)} (with a public note).",
        )
    if owner.publication_status == WITHDRAWN:
        return WorkflowError(
            f"{whole[0].upper()}{whole[1:]} is withdrawn and kept as readers last saw it, {what} included; "
            "publish it again to change it.",
            code="conflict",
        )
    return None


def row_change_refusal(user, row) -> WorkflowError | None:
    """Whether ``user`` is refused any change of ``row`` because a record it belongs to is public (and why)."""
    for owner in owners_of(row):
        refusal = _row_refusal(user, owner, row)
        if refusal is not None:
            return refusal
    return None


def check_row_change(*, user, rows, note: str = "") -> list:
    """Whether ``user`` may add, change or delete ``rows`` (each given as it is, and as it will be).

    The one rule for rows of publishable records (deadlines, postponements,
    provisions, signatories, citations, aliases, ...): while every record they
    belong to is unpublished, editors change them freely; once readers have
    seen the record, changing its rows *is* a correction of it: only a
    reviewer may make it, with a short public note. Returns the public records
    this change corrects (log them with ``record_row_corrections`` once saved),
    or raises ``WorkflowError``.

    The admin (its bulk import too) and the API apply it at their edge; the
    services and management commands such as ``import_timeline`` (no user)
    are not bound by it.
    """
    public = []
    for owner, row in _owners_and_rows(rows, lock=True).values():
        refusal = _row_refusal(user, owner, row)
        if refusal is not None:
            raise refusal
        if is_public(owner):
            public.append((owner, row))
    if public and not (note or "").strip():
        owner, row = public[0]
        raise WorkflowError(
            f"The {_name(owner)} “{owner}” is published: changing its {row._meta.verbose_name_plural} is a "
            "correction, which needs a short public note (readers see “Corrected on <date>: <note>” on its page).",
            code="note_required", field="public_note",
        )
    return [owner for owner, _ in public]


def rows_of_public_records(queryset, limit: int = 5) -> list:
    """Up to ``limit`` rows of ``queryset`` that belong to a record readers have seen (one query)."""
    condition = Q()
    for path in owner_paths(queryset.model):
        condition |= Q(**{f"{path}__publication_status__in": PUBLIC})
    if not condition:
        return []
    return list(queryset.filter(condition).distinct()[:limit])


def record_row_corrections(*, owners, user, note: str, skip=()) -> list[Publication]:
    """Log a ``corrected`` act on each of ``owners`` (once each) but those in ``skip``."""
    skipped = {(type(record), record.pk) for record in skip if record is not None}
    done, acts = set(), []
    for owner in owners:
        key = (type(owner), owner.pk)
        if key in skipped or key in done:
            continue
        done.add(key)
        acts.append(record_public_act(record=owner, action=Publication.Action.CORRECTED, user=user, note=note))
    return acts


# --------------------------------------------------------------------------
# Services: the acts themselves
# --------------------------------------------------------------------------


def _locked(record):
    return type(record)._default_manager.select_for_update().get(pk=record.pk)


def _rederive(record) -> None:
    from timeline.admin import derived

    derived.record_saved(record)


def _set_status(record, *, user, new_status: str, note: str = "", reason: str = ""):
    record = _locked(record)
    act = check_transition(
        user=user, record=record, old_status=record.publication_status, new_status=new_status,
        content_changed=False, note=note,
    )
    if record.publication_status == new_status:
        return record, None
    record.publication_status = new_status
    _mark(record, user, reason or f"{new_status.replace('_', ' ')}" + (f": {note}" if note else ""))
    record.save()
    _rederive(record)
    publication = record_public_act(record=record, action=act, user=user, note=note) if act else None
    return record, publication


@transaction.atomic
def submit_for_review(*, record, user, reason: str = ""):
    """draft -> in review: the editor says the record is ready for a reviewer."""
    record = _locked(record)
    if record.publication_status != DRAFT:
        raise WorkflowError(f"Only a draft can be submitted for review (this {_name(record)} is "
                            f"{record.get_publication_status_display()}).", code="conflict")
    return _set_status(record, user=user, new_status=IN_REVIEW, reason=reason or "submitted for review")[0]


@transaction.atomic
def publish(*, record, user, note: str = "", reason: str = ""):
    """Make a record public (four eyes); writes a ``published`` act."""
    return _set_status(record, user=user, new_status=PUBLISHED, note=note, reason=reason or "published")[0]


@transaction.atomic
def withdraw(*, record, user, note: str):
    """Take a published record off the public record, with a public note; its page says so."""
    return _set_status(record, user=user, new_status=WITHDRAWN, note=note, reason=f"withdrawn: {note}")[0]


@transaction.atomic
def correct(*, record, user, fields: dict, note: str, reason: str = ""):
    """Change a published record; readers are told with ``note``."""
    record = _locked(record)
    changed = {name: value for name, value in fields.items() if getattr(record, name) != value}
    act = check_transition(
        user=user, record=record, old_status=record.publication_status, new_status=record.publication_status,
        content_changed=bool(changed), note=note,
    )
    if not changed:
        return record
    for name, value in changed.items():
        setattr(record, name, value)
    record.full_clean()
    _mark(record, user, reason or f"correction: {note}")
    record.save()
    _rederive(record)
    if act:
        record_public_act(record=record, action=act, user=user, note=note)
    return record


REVERT_SKIPS = {"id", "version", "publication_status", "published_at", "created_at", "updated_at"}


@transaction.atomic
def revert(*, record, history_id: int, user, reason: str, note: str = ""):
    """Bring the content of ``record`` back to one of its past versions, as a new recorded change.

    The publication status stays as it is now: reverting a published record is
    a correction (a reviewer's act, with a public note).
    """
    if not (reason or "").strip():
        raise WorkflowError("Say why you revert: the reason is kept in the history.", code="note_required",
                            field="change_reason")
    record = _locked(record)
    old = record.history.filter(history_id=history_id).first()
    if old is None:
        raise WorkflowError(f"This {_name(record)} has no past version {history_id}.", code="conflict")
    values = {
        field.attname: getattr(old, field.attname)
        for field in record._meta.concrete_fields
        if field.attname not in REVERT_SKIPS and field.editable and not field.primary_key
    }
    changed = {name: value for name, value in values.items() if getattr(record, name) != value}
    status = getattr(record, "publication_status", None)
    act = None
    if is_publishable(record):
        act = check_transition(user=user, record=record, old_status=status, new_status=status,
                               content_changed=bool(changed), note=note)
    for name, value in changed.items():
        setattr(record, name, value)
    record.full_clean()
    when = old.history_date.strftime("%Y-%m-%d %H:%M")
    _mark(record, user, f"reverted to the version of {when}: {reason.strip()}")
    record.save()
    _rederive(record)
    if act:
        record_public_act(record=record, action=act, user=user, note=note)
    return record


@transaction.atomic
def delete_or_withdraw(*, record, user, note: str = ""):
    """Deleting a record readers have seen withdraws it (with ``note``); a draft is really deleted.

    Returns the withdrawn record, or None when it was deleted.
    """
    from timeline import services

    record = _locked(record)
    if is_publishable(record) and (is_public(record) or record.published_at is not None):
        if record.publication_status == WITHDRAWN:
            raise WorkflowError(f"This {_name(record)} is already withdrawn; its page keeps saying so.",
                                code="conflict")
        if not can_review(user, record):
            raise WorkflowError(
                f"This {_name(record)} is published: deleting it would withdraw it, which only a reviewer can do.",
            )
        return withdraw(record=record, user=user, note=note)
    _mark(record, user, "deleted (never published)")
    services.record_delete(instance=record)
    return None
