"""How far an agreement has been implemented, provision by provision, as of any day.

The rules, in one place:

* A deadline, as of a day, has the due date of the last postponement decided
  by then (or its original date), and is completed once its handover was
  completed by then. It is overdue when that due date has passed and it is
  neither completed nor cancelled.
* A provision's status history joins what editors recorded
  (``ProvisionStatusChange`` rows) with what its deadlines show: when the
  first of several handovers completes the provision is partly implemented,
  when the last does it is implemented. Nobody types that twice.
* The current status is the latest established entry (``claimed_by`` empty)
  unless parties claim otherwise after it: when the claims and the
  established status do not all agree, the provision is disputed and every
  claim stands beside the others.

Functions take model instances whose related rows are prefetched (see
``selectors.provision_list``) and run no queries of their own.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone

from timeline.models import Deadline, Handover, Provision, ProvisionStatus


@dataclass(frozen=True)
class DeadlineState:
    deadline: Deadline
    as_of: dt.date
    due_on: dt.date
    postponements: tuple
    completed_on: dt.date | None
    status: str  # scheduled, postponed, completed, cancelled, overdue

    @property
    def original_due_on(self) -> dt.date:
        return self.deadline.original_due_on

    @property
    def overdue(self) -> bool:
        return self.status == "overdue"

    @property
    def days_late(self) -> int | None:
        """Days after the original deadline it was completed (negative: early), or is late by now."""
        if self.completed_on is not None:
            return (self.completed_on - self.original_due_on).days
        if self.overdue:
            return (self.as_of - self.due_on).days
        return None

    @property
    def days_after_current(self) -> int | None:
        """Days between the due date as it then stood and completion (negative: early)."""
        if self.completed_on is None:
            return None
        return (self.completed_on - self.due_on).days


def today() -> dt.date:
    return timezone.localdate()


def deadline_state(deadline: Deadline, as_of: dt.date | None = None) -> DeadlineState:
    """The deadline as it stood at the end of ``as_of`` (default: today)."""
    as_of = as_of or today()
    postponements = tuple(p for p in deadline.postponements.all() if p.decided_on <= as_of)
    due_on = postponements[-1].to_date if postponements else deadline.original_due_on
    handover = _handover_of(deadline)
    completed_on = None
    status = "postponed" if postponements else "scheduled"
    if handover is not None and handover.completed_on is not None and handover.completed_on <= as_of:
        completed_on = handover.completed_on
        status = "completed"
    elif handover is not None and handover.cancelled_on is not None and handover.cancelled_on <= as_of:
        status = "cancelled"
    elif due_on < as_of:
        status = "overdue"
    return DeadlineState(deadline, as_of, due_on, postponements, completed_on, status)


def _handover_of(deadline: Deadline) -> Handover | None:
    """The deadline's handover, if it is published: a draft's completion moves no public status."""
    try:
        handover = deadline.handover
    except Handover.DoesNotExist:
        return None
    return handover if handover.is_published else None


@dataclass(frozen=True)
class StatusEntry:
    """One step of a provision's status history, recorded or derived."""

    status: str
    from_date: dt.date
    claimed_by: object = None  # a Party, or None when the record establishes it
    citations: tuple = ()
    evidence_events: tuple = ()
    evidence_handovers: tuple = ()
    derived: bool = False
    note: str = ""

    @property
    def status_display(self) -> str:
        return ProvisionStatus(self.status).label


@dataclass
class ProvisionState:
    provision: Provision
    as_of: dt.date
    status: str
    basis: StatusEntry | None
    history: list[StatusEntry]
    deadlines: list[DeadlineState]
    claims: list[StatusEntry] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        return any(d.overdue for d in self.deadlines)

    @property
    def disputed(self) -> bool:
        return self.status == ProvisionStatus.DISPUTED

    @property
    def status_display(self) -> str:
        return ProvisionStatus(self.status).label


def _derived_entries(deadlines: list[DeadlineState]) -> list[StatusEntry]:
    completed = sorted((d for d in deadlines if d.completed_on is not None), key=lambda d: d.completed_on)
    entries = []
    for n, state in enumerate(completed, start=1):
        handover = _handover_of(state.deadline)
        status = ProvisionStatus.IMPLEMENTED if n == len(deadlines) else ProvisionStatus.PARTLY_IMPLEMENTED
        entries.append(
            StatusEntry(
                status=status,
                from_date=state.completed_on,
                citations=tuple(handover.citations.all()),
                evidence_handovers=(handover,),
                derived=True,
                note=f"{n} of {len(deadlines)} handovers completed",
            )
        )
    return entries


def provision_state(provision: Provision, as_of: dt.date | None = None) -> ProvisionState:
    """The provision's status history and current status at the end of ``as_of``."""
    as_of = as_of or today()
    deadlines = [deadline_state(d, as_of) for d in provision.deadlines.all()]
    recorded = [
        StatusEntry(
            status=change.status,
            from_date=change.from_date,
            claimed_by=change.claimed_by,
            citations=tuple(change.citations.all()),
            evidence_events=tuple(change.evidence_events.all()),
            evidence_handovers=tuple(change.evidence_handovers.all()),
            note=change.note,
        )
        for change in provision.status_changes.all()
        if change.from_date <= as_of
    ]
    # On the same day a recorded entry outranks a derived one: editors see more than dates.
    history = sorted(recorded + _derived_entries(deadlines), key=lambda e: (e.from_date, not e.derived))
    established = [e for e in history if e.claimed_by is None]
    basis = established[-1] if established else None
    latest_claims: dict[int, StatusEntry] = {}
    for entry in history:
        if entry.claimed_by is not None and (basis is None or entry.from_date >= basis.from_date):
            latest_claims[entry.claimed_by.pk] = entry
    claims = sorted(latest_claims.values(), key=lambda e: (e.from_date, e.claimed_by.name))
    statuses = {e.status for e in claims} | ({basis.status} if basis else set())
    if len(statuses) > 1:
        status = ProvisionStatus.DISPUTED
    elif claims:
        status, basis = claims[-1].status, claims[-1]
    elif basis is not None:
        status = basis.status
    else:
        status = ProvisionStatus.NOT_STARTED
    return ProvisionState(provision, as_of, status, basis, history, deadlines, claims if len(statuses) > 1 else [])


@dataclass
class ImplementationSummary:
    total: int
    counts: dict[str, int]
    overdue: int

    def sentence(self) -> str:
        """'6 of 9 provisions implemented, 1 overdue, 1 disputed'."""
        parts = [f"{self.counts.get(ProvisionStatus.IMPLEMENTED, 0)} of {self.total} provisions implemented"]
        if self.overdue:
            parts.append(f"{self.overdue} overdue")
        if self.counts.get(ProvisionStatus.DISPUTED):
            parts.append(f"{self.counts[ProvisionStatus.DISPUTED]} disputed")
        return ", ".join(parts)


def summarise(states: list[ProvisionState]) -> ImplementationSummary:
    counts = Counter(s.status for s in states)
    return ImplementationSummary(
        total=len(states),
        counts={status: counts.get(status, 0) for status in ProvisionStatus.values},
        overdue=sum(1 for s in states if s.overdue),
    )
