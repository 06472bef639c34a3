"""Writes that touch several records, each in one transaction.

The admin, the API, the importer and the tests all call these, so every rule
about postponements, handovers and derived timeline entries lives here once.
Each function validates with ``full_clean()`` before it writes.
"""

import datetime as dt
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.text import Truncator, capfirst, slugify
from simple_history.utils import bulk_create_with_history

from timeline import cache, dates
from timeline.models import (
    Agreement,
    Citation,
    Deadline,
    Event,
    Handover,
    Party,
    Postponement,
    PublicationStatus,
)
from timeline.text import fold, unique_slug

# --------------------------------------------------------------------------
# Deadlines and postponements
# --------------------------------------------------------------------------


@transaction.atomic
def deadline_postpone(
    *,
    deadline: Deadline,
    to_date: dt.date,
    decided_on: dt.date,
    requested_by: Party | None = None,
    agreed_by: Iterable[Party] = (),
    reason: str = "",
) -> Postponement:
    """Move a deadline to ``to_date``, keeping the previous date as history.

    The deadline row is locked so that two postponements decided at once are
    numbered in order and each starts from the date the other left.
    """
    deadline = Deadline.objects.select_for_update().get(pk=deadline.pk)
    sequence = deadline.postponements.count() + 1
    postponement = Postponement(
        deadline=deadline,
        sequence=sequence,
        from_date=deadline.due_on,
        to_date=to_date,
        requested_by=requested_by,
        reason=reason,
        decided_on=decided_on,
    )
    postponement.full_clean()
    postponement.save()
    postponement.agreed_by.set(list(agreed_by))
    deadline_refresh(deadline=deadline)
    return postponement


@transaction.atomic
def deadline_refresh(*, deadline: Deadline) -> Deadline:
    """Re-derive what follows from a deadline's postponements.

    Renumbers the postponements in the order they were decided, chains each
    one's ``from_date`` to the date before it, sets ``due_on`` to the last
    ``to_date``, then brings the handover and the derived timeline entries in
    step. Call after any edit of a deadline or its postponements.
    """
    deadline = Deadline.objects.select_for_update().get(pk=deadline.pk)
    postponements = list(deadline.postponements.order_by("decided_on", "sequence", "id"))
    previous = deadline.original_due_on
    if postponements:
        cache.bump()  # the queryset.update() calls below send no signal
    # Two passes so the (deadline, sequence) unique constraint never sees a clash.
    for offset, postponement in enumerate(postponements, start=1):
        Postponement.objects.filter(pk=postponement.pk).update(sequence=1000 + offset)
    for number, postponement in enumerate(postponements, start=1):
        changed = postponement.sequence != number or postponement.from_date != previous
        postponement.sequence = number
        postponement.from_date = previous
        if postponement.from_date == postponement.to_date:
            raise ValidationError(
                {"to_date": f"Postponement {number} would move the deadline to the date it already had ({previous})."}
            )
        if changed:
            postponement.save()
        else:
            Postponement.objects.filter(pk=postponement.pk).update(sequence=number)
        previous = postponement.to_date
    if deadline.due_on != previous:
        deadline.due_on = previous
        deadline.save(update_fields=["due_on", "updated_at"])
    handover = Handover.objects.filter(deadline=deadline).first()
    if handover is not None:
        handover_refresh(handover=handover)
    derived_events_sync_deadline(deadline=deadline)
    return deadline


# --------------------------------------------------------------------------
# Handovers
# --------------------------------------------------------------------------


@transaction.atomic
def handover_refresh(*, handover: Handover) -> Handover:
    """Re-derive the handover's status and its timeline entry."""
    handover = Handover.objects.select_related("deadline").get(pk=handover.pk)
    if handover.derive_status() != handover.status:
        handover.save()
    derived_events_sync_handover(handover=handover)
    return handover


@transaction.atomic
def handover_complete(*, handover: Handover, completed_on: dt.date) -> Handover:
    """Record that a handover took place on ``completed_on``."""
    handover = Handover.objects.select_for_update().get(pk=handover.pk)
    handover.completed_on = completed_on
    handover.cancelled_on = None
    handover.full_clean()
    handover.save()
    derived_events_sync_handover(handover=handover)
    return handover


# --------------------------------------------------------------------------
# Derived timeline entries
# --------------------------------------------------------------------------


def _derived_event(origin: str, **lookup) -> Event | None:
    return Event.objects.filter(origin=origin, **lookup).first()


def _retire(event: Event | None) -> None:
    """A derived entry whose fact no longer holds: withdrawn if readers saw it, else removed."""
    if event is None:
        return
    if event.published_at is not None:
        if event.publication_status != PublicationStatus.WITHDRAWN:
            event.publication_status = PublicationStatus.WITHDRAWN
            event.save()
    else:
        event.delete()


def _write_derived(
    event: Event | None,
    *,
    origin: str,
    slug_hint: str,
    fields: dict,
    districts: Iterable,
    parties: Iterable,
    citations: Iterable[Citation],
) -> Event:
    """Create or update a derived event so that it says exactly ``fields``.

    Leaves the row untouched when nothing changed, so re-running a sync (or
    re-importing a dataset) changes nothing.
    """
    # Derived titles are built from titles and names that may themselves fill the column.
    title_limit = Event._meta.get_field("title").max_length
    fields = {**fields, "title": Truncator(fields["title"]).chars(title_limit)}
    creating = event is None
    if creating:
        event = Event(origin=origin)
        event.slug = unique_slug(Event, slug_hint, max_length=140)
    changed = creating
    for name, value in fields.items():
        if getattr(event, name) != value:
            setattr(event, name, value)
            changed = True
    if changed:
        # Field checks only: the entry's dates and references come from records already checked, and the
        # database holds the constraints too (Django would run a query for each of the nine).
        event.full_clean(exclude=["slug"] if not creating else None, validate_constraints=False)
        event.save()
    district_ids = {d.pk for d in districts if d is not None}
    party_ids = {p.pk for p in parties if p is not None}
    if creating or set(event.districts.values_list("pk", flat=True)) != district_ids:
        event.districts.set(district_ids)
    if creating or set(event.parties.values_list("pk", flat=True)) != party_ids:
        event.parties.set(party_ids)
    wanted = [(c.source_id, c.passage, c.locator) for c in citations]
    have = list(event.citations.order_by("order", "id").values_list("source_id", "passage", "locator"))
    if wanted != have:
        event.citations.all().delete()
        # With their history rows, so that ?known_at= shows them (timeline.record_time).
        bulk_create_with_history([
            Citation(event=event, source_id=source_id, passage=passage, locator=locator, order=n)
            for n, (source_id, passage, locator) in enumerate(wanted)
        ], Citation)
        cache.bump()  # bulk_create sends no signal
    return event


def derived_events_sync_agreement(*, agreement: Agreement) -> Event:
    """The 'agreement signed' entry, in step with the agreement."""
    agreement = Agreement.objects.select_related("conflict").get(pk=agreement.pk)
    existing = _derived_event(Event.Origin.AGREEMENT_SIGNED, agreement=agreement)
    signers = [s.party for s in agreement.signatories.select_related("party") if s.party_id]
    districts = [d.district for d in agreement.deadlines.select_related("district") if d.district_id]
    summary = agreement.summary or f"{agreement.title} is signed."
    if agreement.effective_local is not None:
        local = agreement.effective_local
        summary += f" It takes effect at {local:%H:%M} {agreement.effective_timezone} time on {dates.format_date(local.date(), dates.DAY)}."
    fields = {
        "conflict_id": agreement.conflict_id,
        "title": f"{agreement.title} signed",
        "summary": summary,
        "kind": Event.Kind.AGREEMENT,
        "date": agreement.signed_on,
        "date_precision": agreement.signed_on_precision,
        "end_date": None,
        "end_date_precision": "",
        "agreement_id": agreement.pk,
        "publication_status": agreement.publication_status,
    }
    return _write_derived(
        existing,
        origin=Event.Origin.AGREEMENT_SIGNED,
        slug_hint=f"{agreement.signed_on.isoformat()} {agreement.slug} signed",
        fields=fields,
        districts=districts,
        parties=signers,
        citations=agreement.citations.all(),
    )


def derived_events_sync_deadline(*, deadline: Deadline) -> None:
    """The 'deadline set' entry and one entry per postponement."""
    deadline = Deadline.objects.select_related("agreement", "district", "obligated_party").get(pk=deadline.pk)
    agreement = deadline.agreement
    status = agreement.publication_status
    original = dates.format_date(deadline.original_due_on, dates.DAY)
    summary = f"Under the {agreement.title}, the deadline for this obligation is {original}: {deadline.obligation}."
    if deadline.is_postponed:
        summary += f" It was later postponed to {dates.format_date(deadline.due_on, dates.DAY)}."
    _write_derived(
        _derived_event(Event.Origin.DEADLINE_DUE, deadline=deadline),
        origin=Event.Origin.DEADLINE_DUE,
        slug_hint=f"{deadline.original_due_on.isoformat()} deadline {fold(deadline.obligation)}",
        fields={
            "conflict_id": agreement.conflict_id,
            "title": f"Deadline: {deadline.obligation}",
            "summary": summary,
            "kind": Event.Kind.DEADLINE,
            "date": deadline.original_due_on,
            "date_precision": dates.DAY,
            "end_date": None,
            "end_date_precision": "",
            "agreement_id": agreement.pk,
            "deadline_id": deadline.pk,
            "publication_status": status,
        },
        districts=[deadline.district],
        parties=[deadline.obligated_party],
        citations=deadline.citations.all(),
    )
    kept = []
    for postponement in deadline.postponements.select_related("requested_by").prefetch_related("agreed_by"):
        agreed = list(postponement.agreed_by.all())
        text = (
            f"The deadline for this obligation ({deadline.obligation}) moves from "
            f"{dates.format_date(postponement.from_date, dates.DAY)} to "
            f"{dates.format_date(postponement.to_date, dates.DAY)}"
        )
        if postponement.requested_by:
            text += f" at the request of {postponement.requested_by.public_name}"
        if agreed:
            text += f"; agreed by {', '.join(p.public_name for p in agreed)}"
        text += "."
        if postponement.reason:
            text += f" Reason given: {postponement.reason}"
        event = _write_derived(
            _derived_event(Event.Origin.DEADLINE_POSTPONED, postponement=postponement),
            origin=Event.Origin.DEADLINE_POSTPONED,
            slug_hint=f"{postponement.decided_on.isoformat()} postponed {fold(deadline.obligation)}",
            fields={
                "conflict_id": agreement.conflict_id,
                "title": f"Deadline postponed to {dates.format_date(postponement.to_date, dates.DAY)}: "
                f"{deadline.obligation}",
                "summary": text,
                "kind": Event.Kind.DEADLINE,
                "date": postponement.decided_on,
                "date_precision": dates.DAY,
                "end_date": None,
                "end_date_precision": "",
                "agreement_id": agreement.pk,
                "deadline_id": deadline.pk,
                "postponement_id": postponement.pk,
                "publication_status": status,
            },
            districts=[deadline.district],
            parties=[postponement.requested_by, *agreed],
            citations=postponement.citations.all(),
        )
        kept.append(event.pk)
    for stale in Event.objects.filter(origin=Event.Origin.DEADLINE_POSTPONED, deadline=deadline).exclude(pk__in=kept):
        _retire(stale)


def derived_events_sync_handover(*, handover: Handover) -> Event | None:
    """The 'handover completed' entry, present only while the handover is completed."""
    handover = Handover.objects.select_related(
        "district", "from_party", "to_party", "agreement", "deadline"
    ).get(pk=handover.pk)
    existing = _derived_event(Event.Origin.HANDOVER_COMPLETED, handover=handover)
    if handover.completed_on is None:
        _retire(existing)
        return None
    district = capfirst(handover.district.public_name)
    summary = f"{district} passes from {handover.from_party.public_name} to {handover.to_party.public_name}"
    if handover.agreement_id:
        summary += f" under the {handover.agreement.title}"
    summary += "."
    if handover.delay_days is not None:
        original = dates.format_date(handover.original_due_on, dates.DAY)
        if handover.delay_days > 0:
            summary += f" The original deadline was {original}: {handover.delay_days} days later"
            if handover.due_on != handover.original_due_on:
                summary += f", within the postponed deadline of {dates.format_date(handover.due_on, dates.DAY)}" if (
                    handover.delay_against_current_days <= 0
                ) else f", and after the postponed deadline of {dates.format_date(handover.due_on, dates.DAY)}"
            summary += "."
        elif handover.delay_days == 0:
            summary += f" On the deadline of {original}."
        else:
            summary += f" {-handover.delay_days} days before the deadline of {original}."
    if handover.summary:
        summary += f" {handover.summary}"
    conflict_id = handover.district.conflict_id
    return _write_derived(
        existing,
        origin=Event.Origin.HANDOVER_COMPLETED,
        # Set once, when the entry is created: a district not yet published is not named in its address either.
        slug_hint=f"{handover.completed_on.isoformat()} "
        f"{handover.district.slug if handover.district.is_published else 'district'} handed over",
        fields={
            "conflict_id": conflict_id,
            "title": f"{district} handed over to {handover.to_party.public_name}",
            "summary": summary,
            "kind": Event.Kind.HANDOVER,
            "date": handover.completed_on,
            "date_precision": dates.DAY,
            "end_date": None,
            "end_date_precision": "",
            "agreement_id": handover.agreement_id,
            "handover_id": handover.pk,
            "deadline_id": handover.deadline_id,
            "publication_status": handover.publication_status,
        },
        districts=[handover.district],
        parties=[handover.from_party, handover.to_party],
        citations=handover.citations.all(),
    )


def derived_events_sync_parties(*, party_ids: Iterable[int], except_deadlines: Iterable[int] = (),
                                except_handovers: Iterable[int] = ()) -> None:
    """The derived entries that write these parties' names (postponements' requests and agreements,
    completed handovers) written anew, after a party is renamed, published or withdrawn
    (``Party.public_name``); but those of the deadlines and handovers already brought in step."""
    party_ids = list(party_ids)
    naming = Q(postponements__requested_by__in=party_ids) | Q(postponements__agreed_by__in=party_ids)
    for deadline in Deadline.objects.filter(naming).exclude(pk__in=except_deadlines).distinct().order_by("pk"):
        derived_events_sync_deadline(deadline=deadline)
    handovers = Handover.objects.filter(Q(from_party__in=party_ids) | Q(to_party__in=party_ids))
    for handover in handovers.exclude(pk__in=except_handovers).order_by("pk"):
        derived_events_sync_handover(handover=handover)


def derived_events_sync_all(*, agreements: Iterable[Agreement] | None = None) -> None:
    """Bring every derived entry of these agreements (default: all) in step."""
    if agreements is None:
        agreements = Agreement.objects.all()
    for agreement in agreements:
        derived_events_sync_agreement(agreement=agreement)
        for deadline in agreement.deadlines.all():
            derived_events_sync_deadline(deadline=deadline)
    for handover in Handover.objects.all():
        derived_events_sync_handover(handover=handover)


@transaction.atomic
def derived_events_retire(*, events: Iterable[Event]) -> None:
    """Retire derived entries whose record is about to be deleted: withdrawn if readers saw them, else removed."""
    for event in list(events):
        _retire(event)


def slug_for_event(*, title: str, date: dt.date) -> str:
    """A readable, unique slug for a new editorial event: '2020-11-25-army-enters-kalbajar'."""
    return unique_slug(Event, f"{date.isoformat()} {slugify(fold(title))}", max_length=140)


# --------------------------------------------------------------------------
# Record writes shared by the API and any other client
# --------------------------------------------------------------------------


class DerivedRecordError(ValidationError):
    """An edit of a timeline entry that services derive from another record."""


class StaleRecordError(Exception):
    """The record changed since the client read it (its version moved on)."""

    def __init__(self, current_version):
        super().__init__(f"The record has changed since it was read; it is now at version {current_version}.")
        self.current_version = current_version


def record_version(instance) -> str:
    """What a client's ``If-Match`` is compared with: the version counter, or the last save for unversioned rows."""
    version = getattr(instance, "version", None)
    if version is not None:
        return str(version)
    return instance.updated_at.strftime("%Y%m%d%H%M%S%f")


def _lock_and_check(instance, expected_version: str | None):
    """The row, locked for this transaction, refused if it moved past ``expected_version``."""
    if instance.pk is None:
        return instance
    locked = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
    if expected_version is not None and record_version(locked) != expected_version:
        raise StaleRecordError(record_version(locked))
    return locked


def _save_clean(instance, *, fields: dict, m2m: dict | None = None, slug_from: str = ""):
    for name, value in fields.items():
        setattr(instance, name, value)
    if hasattr(instance, "slug") and not instance.slug and slug_from:
        instance.slug = unique_slug(
            type(instance), slug_from, max_length=instance._meta.get_field("slug").max_length, instance_pk=instance.pk
        )
    instance.full_clean()
    instance.save()
    for name, values in (m2m or {}).items():
        getattr(instance, name).set(list(values))
    return instance


def _refuse_derived(event: Event) -> None:
    if event.is_derived:
        raise DerivedRecordError(
            f"This entry is derived ({event.get_origin_display()}); edit the agreement, deadline, "
            "postponement or handover it comes from instead."
        )


@transaction.atomic
def event_create(*, fields: dict, districts: Iterable = (), parties: Iterable = ()) -> Event:
    """A new editorial timeline entry; the slug is made from its date and title unless given."""
    event = Event(origin=Event.Origin.EDITORIAL)
    for name, value in fields.items():
        setattr(event, name, value)
    if not event.slug and event.title and event.date:
        event.slug = slug_for_event(title=event.title, date=event.date)
    return _save_clean(event, fields={}, m2m={"districts": districts, "parties": parties})


@transaction.atomic
def event_update(
    *, event: Event, fields: dict, districts: Iterable | None = None, parties: Iterable | None = None,
    expected_version: str | None = None,
) -> Event:
    """Change an editorial entry; derived entries are refused."""
    event = _lock_and_check(event, expected_version)
    _refuse_derived(event)
    m2m = {name: values for name, values in (("districts", districts), ("parties", parties)) if values is not None}
    return _save_clean(event, fields=fields, m2m=m2m)


@transaction.atomic
def record_save(*, instance, fields: dict, m2m: dict | None = None, expected_version: str | None = None):
    """Create or update a record nothing is derived from (a party, a district, a source)."""
    instance = _lock_and_check(instance, expected_version)
    slug_from = fields.get("name") or fields.get("title") or ""
    return _save_clean(instance, fields=fields, m2m=m2m, slug_from=slug_from)


def _sync_agreement_entries(agreement: Agreement) -> None:
    derived_events_sync_agreement(agreement=agreement)
    for deadline in agreement.deadlines.all():
        derived_events_sync_deadline(deadline=deadline)


@transaction.atomic
def agreement_save(*, agreement: Agreement, fields: dict, expected_version: str | None = None) -> Agreement:
    """Create or update an agreement and bring its derived timeline entries in step."""
    agreement = _lock_and_check(agreement, expected_version)
    _save_clean(agreement, fields=fields, slug_from=fields.get("title", ""))
    _sync_agreement_entries(agreement)
    return agreement


@transaction.atomic
def deadline_save(*, deadline: Deadline, fields: dict, expected_version: str | None = None) -> Deadline:
    """Create or update a deadline. ``due_on`` is never set here: it starts at the
    original date and only ``deadline_postpone`` moves it."""
    creating = deadline.pk is None
    deadline = _lock_and_check(deadline, expected_version)
    previous_agreement_id = deadline.agreement_id
    if creating:
        deadline.due_on = fields.get("original_due_on")
    _save_clean(deadline, fields=fields)
    deadline = deadline_refresh(deadline=deadline)
    derived_events_sync_agreement(agreement=deadline.agreement)
    if previous_agreement_id and previous_agreement_id != deadline.agreement_id:
        derived_events_sync_agreement(agreement=Agreement.objects.get(pk=previous_agreement_id))
    return deadline


@transaction.atomic
def handover_save(*, handover: Handover, fields: dict, expected_version: str | None = None) -> Handover:
    """Create or update a handover; its status and timeline entry are re-derived."""
    handover = _lock_and_check(handover, expected_version)
    _save_clean(handover, fields=fields)
    return handover_refresh(handover=handover)


@transaction.atomic
def record_delete(*, instance, expected_version: str | None = None) -> None:
    """Delete a record and retire what was derived from it.

    Raises ``django.db.models.ProtectedError`` when other records still rely on it.
    """
    instance = _lock_and_check(instance, expected_version)
    if isinstance(instance, Event):
        _refuse_derived(instance)
    if isinstance(instance, Handover):
        _retire(_derived_event(Event.Origin.HANDOVER_COMPLETED, handover=instance))
    if isinstance(instance, Agreement):
        _retire(_derived_event(Event.Origin.AGREEMENT_SIGNED, agreement=instance))
    agreement = instance.agreement if isinstance(instance, Deadline) else None
    handover = Handover.objects.filter(deadline=instance).first() if isinstance(instance, Deadline) else None
    instance.delete()
    if agreement is not None:
        derived_events_sync_agreement(agreement=agreement)
    if handover is not None:
        handover_refresh(handover=handover)
