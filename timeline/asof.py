"""The record as of a day (valid time): the world at the end of that day.

``?as_of=YYYY-MM-DD`` on the pages and the API narrows every list to what
existed by the end of the day and shows each record as it stood then:

* events dated up to it (``date <= as_of``);
* agreements signed by then, with their deadlines and handovers;
* each deadline with the due date decided by then (``implementation.deadline_state``);
* each handover scheduled, postponed, completed or cancelled as of then;
* who controlled each district (``selectors.control_histories(as_of=...)``);
* each provision's status then (``implementation.provision_state``).

Districts, parties and sources have no date of their own in the record and
are all shown (sources published after the day are left out when their
publication date is known). A day before the first event answers an empty
record, not an error. Nothing here queries: the filters are ``Q`` objects
and the states are computed over rows the selectors prefetched.
"""

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.db.models import Q, QuerySet

from timeline import implementation
from timeline.models import Handover

PARAMETER = "as_of"
INVALID = "Give the day as YYYY-MM-DD, e.g. 2020-11-26"


class AsOfError(ValueError):
    """A malformed ``as_of``; the message names the parameter and the value."""


def parse(raw: str | None) -> dt.date | None:
    """The day of ``?as_of=``: None when absent or empty, ``AsOfError`` when malformed."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise AsOfError(f"{PARAMETER}: {INVALID} (got {value[:40]!r}).") from None


class AsOfForm(forms.Form):
    """The date control of the pages: a plain GET field, usable with the keyboard alone."""

    as_of = forms.CharField(
        label="Show the record as of",
        required=False,
        help_text="A day (YYYY-MM-DD). Leave empty for today.",
        widget=forms.DateInput(attrs={"type": "date", "min": "1900-01-01", "max": "2999-12-31"}),
    )

    def clean_as_of(self):
        try:
            return parse(self.cleaned_data.get("as_of"))
        except AsOfError:
            raise forms.ValidationError(f"{INVALID}; showing the record as of today.") from None

    @property
    def day(self) -> dt.date | None:
        if not self.is_bound or not self.is_valid():
            return None
        return self.cleaned_data.get("as_of")


def from_request(request) -> AsOfForm:
    return AsOfForm({PARAMETER: request.GET.get(PARAMETER, "")})


# --------------------------------------------------------------------------
# Which rows existed by the end of the day
# --------------------------------------------------------------------------


def events(qs: QuerySet, day: dt.date | None) -> QuerySet:
    return qs if day is None else qs.filter(date__lte=day)


def agreements(qs: QuerySet, day: dt.date | None) -> QuerySet:
    return qs if day is None else qs.filter(signed_on__lte=day)


def deadlines(qs: QuerySet, day: dt.date | None) -> QuerySet:
    return qs if day is None else qs.filter(agreement__signed_on__lte=day)


def handovers_q(day: dt.date) -> Q:
    """A handover exists once its agreement is signed; one outside any agreement once it happened."""
    return Q(agreement__signed_on__lte=day) | Q(agreement__isnull=True) & (
        Q(completed_on__lte=day) | Q(cancelled_on__lte=day)
    )


def handovers(qs: QuerySet, day: dt.date | None) -> QuerySet:
    return qs if day is None else qs.filter(handovers_q(day))


def sources(qs: QuerySet, day: dt.date | None) -> QuerySet:
    return qs if day is None else qs.filter(Q(published_on__isnull=True) | Q(published_on__lte=day))


# --------------------------------------------------------------------------
# How a handover stood
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoverState:
    """A handover at the end of ``as_of``: the fields the tracker shows, as they were then."""

    handover: Handover
    as_of: dt.date
    status: str
    original_due_on: dt.date | None
    due_on: dt.date | None
    postponements: tuple
    completed_on: dt.date | None
    cancelled_on: dt.date | None
    overdue: bool

    @property
    def status_display(self) -> str:
        return Handover.Status(self.status).label

    @property
    def delay_days(self) -> int | None:
        if self.completed_on is None or self.original_due_on is None:
            return None
        return (self.completed_on - self.original_due_on).days

    @property
    def delay_against_current_days(self) -> int | None:
        if self.completed_on is None or self.due_on is None:
            return None
        return (self.completed_on - self.due_on).days

    @property
    def days_overdue(self) -> int | None:
        return (self.as_of - self.due_on).days if self.overdue else None


def handover_state(handover: Handover, day: dt.date | None = None) -> HandoverState:
    """``handover`` at the end of ``day`` (default today), from its prefetched deadline and postponements."""
    day = day or implementation.today()
    completed_on = handover.completed_on if handover.completed_on and handover.completed_on <= day else None
    cancelled_on = handover.cancelled_on if handover.cancelled_on and handover.cancelled_on <= day else None
    original_due_on = due_on = None
    postponements: tuple = ()
    if handover.deadline_id is not None:
        postponements = tuple(p for p in handover.deadline.postponements.all() if p.decided_on <= day)
        original_due_on = handover.deadline.original_due_on
        due_on = postponements[-1].to_date if postponements else original_due_on
    if completed_on is not None:
        status = Handover.Status.COMPLETED
    elif cancelled_on is not None:
        status = Handover.Status.CANCELLED
    elif postponements:
        status = Handover.Status.POSTPONED
    else:
        status = Handover.Status.SCHEDULED
    overdue = status in (Handover.Status.SCHEDULED, Handover.Status.POSTPONED) and due_on is not None and due_on < day
    return HandoverState(
        handover, day, status, original_due_on, due_on, postponements, completed_on, cancelled_on, overdue
    )
