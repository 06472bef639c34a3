"""Admin forms and formsets: every model rule shows as an error on the field at fault.

ModelForms already run ``Model.clean()`` and ``validate_constraints()``; what
is here covers what a single form cannot see: the chain of a deadline's
postponements, a record edited by someone else meanwhile, and inline rows
whose parent does not exist yet.
"""

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.formats import date_format

from timeline import services
from timeline.models import Handover, Postponement

# --------------------------------------------------------------------------
# The base of every admin form
# --------------------------------------------------------------------------


class RecordForm(forms.ModelForm):
    """Reports each broken rule once, in the words of the model's ``clean()``.

    A model checks most rules twice: in ``clean()``, with a message for
    editors, and as a database constraint, whose default message only names
    it ("Constraint “signatory_names_someone” is violated."). When both fire,
    the constraint's name is noise; it is kept only if nothing explains it.
    """

    def full_clean(self):
        super().full_clean()
        errors = (self._errors or {}).get(NON_FIELD_ERRORS)
        if not errors:
            return
        named_only = {
            constraint.get_violation_error_message()
            for constraint in self._meta.model._meta.constraints
            if constraint.violation_error_message == constraint.default_violation_error_message
        }
        kept = [error for error in errors.as_data() if error.message not in named_only]
        if kept and len(kept) < len(errors):
            self._errors[NON_FIELD_ERRORS] = self.error_class(kept, error_class="nonfield", renderer=self.renderer)


# --------------------------------------------------------------------------
# Concurrent edits
# --------------------------------------------------------------------------


class StaleEditCheckForm(RecordForm):
    """Refuses to save over a version the editor never saw.

    The version the page was opened at travels in a hidden field; if another
    editor (or a service) has saved the record since, the save is refused
    with a message instead of silently overwriting their change.
    """

    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["opened_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        opened = cleaned.get("opened_version")
        if self.instance.pk is not None and opened is not None and opened != self.instance.version:
            raise ValidationError(
                "Someone saved this record after you opened it (you opened version %(opened)s; version "
                "%(current)s is saved now). Open it again to see their changes, then make yours.",
                code="stale",
                params={"opened": opened, "current": self.instance.version},
            )
        return cleaned


# --------------------------------------------------------------------------
# Inline rows that cite or question exactly one record
# --------------------------------------------------------------------------


class AttachedToParentFormSet(BaseInlineFormSet):
    """Inline citations and discrepancies, attached to the record of the page.

    ``Citation.clean()`` and ``Discrepancy.clean()`` check that exactly one
    record is set. An inline sets exactly one (its parent) and shows no other
    record field, so the rule holds by construction; but on an add page the
    parent has no id until it is saved, and the model check would wrongly
    report "no record". The rule is then skipped for these rows only.
    """

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if self.instance._state.adding:
            form.instance.clean = _nothing_to_check


def _nothing_to_check():
    return None


# --------------------------------------------------------------------------
# Deadlines and their postponements
# --------------------------------------------------------------------------


@dataclass
class ChainLink:
    """A postponement as the chain sees it: where it sorts, and where it moves the deadline."""

    sort_key: tuple
    to_date: dt.date
    owner: object  # the form (or instance) errors and results are reported to
    from_date: dt.date | None = None


def chain_postponements(original_due_on: dt.date, links: list[ChainLink]) -> list[ChainLink]:
    """Chain ``links`` the way ``services.deadline_refresh`` will, setting each ``from_date``.

    Returns the links that would move the deadline to the date it already has.
    The order (decided on, then sequence, then id) is the service's, so what the
    form accepts is exactly what the service will store.
    """
    problems = []
    previous = original_due_on
    for link in sorted(links, key=lambda link: link.sort_key):
        link.from_date = previous
        if link.to_date == previous:
            problems.append(link)
        previous = link.to_date
    return problems


def same_date_message(date: dt.date) -> str:
    return f"The new date is the same as the previous one ({date_format(date, 'j F Y')}); a postponement must move the deadline."


_LAST = float("inf")


class PostponementInlineFormSet(BaseInlineFormSet):
    """The postponements of one deadline, checked as a chain.

    Each row's ``from_date`` is the date the row before it left (the
    original due date for the first), so "postponed to the same date" can
    only be judged over all rows together. ``chain_postponements`` sets
    ``form.chained_from_date`` for ``save_formset`` to store.
    """

    def add_fields(self, form, index):
        super().add_fields(form, index)
        # Postponement.clean() compares with a stored from_date that may be stale;
        # the chain check below judges every row against the date it really follows.
        form.instance.clean = _nothing_to_check

    def clean(self):
        super().clean()
        original = self.instance.original_due_on
        if original is None:
            return
        links = []
        next_provisional = self.provisional_sequence_start()
        for index, form in enumerate(self.forms):
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            to_date, decided_on = form.cleaned_data.get("to_date"), form.cleaned_data.get("decided_on")
            if to_date is None or decided_on is None:
                continue
            if form.instance.pk is not None:
                key = (decided_on, form.instance.sequence, form.instance.pk)
            else:
                form.provisional_sequence = next_provisional + index
                key = (decided_on, form.provisional_sequence, _LAST)
            links.append(ChainLink(sort_key=key, to_date=to_date, owner=form))
        for problem in chain_postponements(original, links):
            problem.owner.add_error("to_date", same_date_message(problem.to_date))
        for link in links:
            link.owner.chained_from_date = link.from_date

    def provisional_sequence_start(self) -> int:
        """Sequences above every stored one, so new rows insert without a clash before renumbering."""
        stored = [form.instance.sequence for form in self.forms if form.instance.pk is not None]
        return max(stored, default=0) + 1


class PostponementForm(RecordForm):
    """A single postponement, checked against the other postponements of its deadline."""

    class Meta:
        model = Postponement
        fields = ["deadline", "to_date", "decided_on", "requested_by", "agreed_by", "reason"]

    def clean(self):
        cleaned = super().clean()
        deadline = cleaned.get("deadline") or (self.instance.deadline if self.instance.deadline_id else None)
        to_date, decided_on = cleaned.get("to_date"), cleaned.get("decided_on")
        if deadline is None or to_date is None or decided_on is None:
            return cleaned
        others = deadline.postponements.exclude(pk=self.instance.pk)
        links = [ChainLink(sort_key=(p.decided_on, p.sequence, p.pk), to_date=p.to_date, owner=p) for p in others]
        if self.instance.pk is not None:
            key = (decided_on, self.instance.sequence, self.instance.pk)
        else:
            self.provisional_sequence = max((p.sequence for p in others), default=0) + 1
            key = (decided_on, self.provisional_sequence, _LAST)
        mine = ChainLink(sort_key=key, to_date=to_date, owner=self)
        problems = chain_postponements(deadline.original_due_on, [*links, mine])
        if mine in problems:
            self.add_error("to_date", same_date_message(to_date))
        elif problems:
            self.add_error(
                "decided_on",
                "Decided on this day, it would put postponement "
                f"{problems[0].owner.sequence} to the date the deadline already had; check the order.",
            )
        self.chained_from_date = mine.from_date
        return cleaned


class DeadlineInAgreementForm(RecordForm):
    """A deadline edited among its agreement's rows: a new original date must still let its postponements chain."""

    def clean(self):
        cleaned = super().clean()
        original = cleaned.get("original_due_on")
        if self.instance.pk is None or original is None or original == self.instance.original_due_on:
            return cleaned
        postponements = list(self.instance.postponements.all())
        links = [ChainLink(sort_key=(p.decided_on, p.sequence, p.pk), to_date=p.to_date, owner=p) for p in postponements]
        if chain_postponements(original, links):
            self.add_error(
                "original_due_on",
                "A postponement of this deadline moves it to this very date; change that postponement first.",
            )
        return cleaned


# --------------------------------------------------------------------------
# Records with a rule a plain ModelForm reports badly
# --------------------------------------------------------------------------


class HandoverForm(StaleEditCheckForm):
    """The admin builds the ModelForm (``modelform_factory``) with the fields of its fieldsets."""

    def clean(self):
        cleaned = super().clean()
        district, agreement = cleaned.get("district"), cleaned.get("agreement")
        if district is not None and agreement is not None:
            taken = Handover.objects.filter(district=district, agreement=agreement).exclude(pk=self.instance.pk)
            if taken.exists():
                # Said here, on the field, rather than as the constraint's generic message.
                self.add_error("district", f"The {agreement} already has a handover of {district}.")
        return cleaned


class EventForm(StaleEditCheckForm):
    """An editorial event; the slug is made from its date and title when left empty."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "slug" in self.fields:
            self.fields["slug"].required = False
            self.fields["slug"].help_text = "Leave empty to make one from the date and title."

    def clean(self):
        cleaned = super().clean()
        if "slug" in self.fields and not cleaned.get("slug") and cleaned.get("title") and cleaned.get("date"):
            cleaned["slug"] = services.slug_for_event(title=cleaned["title"], date=cleaned["date"])
        return cleaned
