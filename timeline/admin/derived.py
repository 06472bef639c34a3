"""What the admin asks the services to re-derive after an editor saves or deletes a record.

Each function runs inside the admin's transaction, so a record and everything
derived from it are saved together or not at all.
"""

from django.db import transaction

from timeline import services
from timeline.models import Agreement, Citation, Deadline, District, Event, Handover, Party, Postponement, Signatory


def agreement_saved(agreement: Agreement) -> None:
    """Its 'signed' entry, each deadline's entries (which carry the agreement's status and title),
    and its handovers, whose deadline may just have been deleted on the agreement's page."""
    services.derived_events_sync_agreement(agreement=agreement)
    for deadline in agreement.deadlines.all():
        services.deadline_refresh(deadline=deadline)  # refreshes the deadline's handover too
    for handover in agreement.handovers.filter(deadline__isnull=True):
        services.handover_refresh(handover=handover)


def deadline_saved(deadline: Deadline) -> None:
    """Re-chain its postponements, set due_on, refresh its handover and entries.

    The agreement's 'signed' entry lists the districts of its deadlines, so it follows too.
    """
    services.deadline_refresh(deadline=deadline)
    services.derived_events_sync_agreement(agreement=deadline.agreement)


def handover_saved(handover: Handover) -> None:
    services.handover_refresh(handover=handover)


def postponement_saved(postponement: Postponement) -> None:
    services.deadline_refresh(deadline=postponement.deadline)


def signatory_saved(signatory: Signatory) -> None:
    services.derived_events_sync_agreement(agreement=signatory.agreement)


def citation_saved(citation: Citation) -> None:
    """Derived entries copy the citations of their record, so the record's entries follow."""
    if citation.agreement_id:
        services.derived_events_sync_agreement(agreement=citation.agreement)
    elif citation.deadline_id:
        services.deadline_refresh(deadline=citation.deadline)
    elif citation.postponement_id:
        services.deadline_refresh(deadline=citation.postponement.deadline)
    elif citation.handover_id:
        services.handover_refresh(handover=citation.handover)


def party_saved(party: Party) -> None:
    """Derived entries write parties' names as readers may see them: a party renamed, published or
    withdrawn is written anew there."""
    services.derived_events_sync_parties(party_ids=[party.pk])


def district_saved(district: District) -> None:
    """Handovers' entries write the district's name into their titles and summaries."""
    for handover in district.handovers.order_by("pk"):
        services.derived_events_sync_handover(handover=handover)


SAVED = {
    Party: party_saved,
    District: district_saved,
    Agreement: agreement_saved,
    Deadline: deadline_saved,
    Handover: handover_saved,
    Postponement: postponement_saved,
    Signatory: signatory_saved,
    Citation: citation_saved,
}


def record_saved(record) -> None:
    """Bring what is derived from ``record`` in step with it (nothing for most models)."""
    refresh = SAVED.get(type(record))
    if refresh is not None:
        refresh(record)


@transaction.atomic
def record_delete(record) -> None:
    """Delete ``record`` and re-derive what depended on it.

    Derived entries whose record goes away are withdrawn if readers saw them
    (removed otherwise), not left behind without their record.
    """
    if isinstance(record, Agreement):
        services.derived_events_retire(
            events=Event.objects.filter(origin=Event.Origin.AGREEMENT_SIGNED, agreement=record)
        )
        record.delete()
    elif isinstance(record, Handover):
        services.derived_events_retire(
            events=Event.objects.filter(origin=Event.Origin.HANDOVER_COMPLETED, handover=record)
        )
        record.delete()
    elif isinstance(record, Deadline):
        handover = Handover.objects.filter(deadline=record).first()
        agreement = record.agreement
        record.delete()
        if handover is not None:
            services.handover_refresh(handover=handover)
        services.derived_events_sync_agreement(agreement=agreement)
    elif isinstance(record, Postponement):
        deadline = record.deadline
        record.delete()
        services.deadline_refresh(deadline=deadline)
    elif isinstance(record, Signatory):
        agreement = record.agreement
        record.delete()
        services.derived_events_sync_agreement(agreement=agreement)
    elif isinstance(record, Citation):
        owner = Citation(
            agreement_id=record.agreement_id,
            deadline_id=record.deadline_id,
            postponement_id=record.postponement_id,
            handover_id=record.handover_id,
        )
        record.delete()
        citation_saved(owner)
    else:
        record.delete()
