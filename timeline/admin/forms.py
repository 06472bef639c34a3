"""Admin forms and formsets: every model rule shows as an error on the field at fault.

ModelForms already run ``Model.clean()`` and ``validate_constraints()``; what
is here covers what a single form cannot see: the chain of a deadline's
postponements, a record edited by someone else meanwhile, and inline rows
whose parent does not exist yet.
"""

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.formats import date_format

from timeline import services, workflow
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


class ChangeReasonForm(RecordForm):
    """Every admin save says why: the reason is kept in the record's history.

    For a row of a publishable record (a deadline of an agreement, a citation,
    an alias of a district: ``workflow.ROW_OWNERS``) the save is also checked
    with ``workflow.check_row_change``: once readers have seen the record it
    belongs to, changing the row is a correction of that record (reviewers,
    with the public note). ``row_owners`` lists the records the admin then
    logs as corrected.
    """

    change_reason = forms.CharField(
        label="Reason for this change",
        required=False,
        max_length=workflow.REASON_MAX,
        help_text="Kept in the record's history with your name, e.g. “date checked against the official text”.",
    )
    public_note = forms.CharField(
        label="Public note (corrections and withdrawals)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown to readers: “Corrected on <date>: <note>”. Needed when you change or withdraw a "
        "published record, or change one of its rows (deadline, citation, name, ...).",
    )
    request_user = None

    def clean(self):
        cleaned = super().clean()
        if getattr(self, "reverting", False) and not (cleaned.get("change_reason") or "").strip():
            self.add_error("change_reason", "Say why you revert: the reason is kept in the history.")
        return cleaned

    def _post_clean(self):
        super()._post_clean()  # the instance now holds the new values, its new record included
        self.row_owners = []
        if self.request_user is None or not workflow.owner_paths(self._meta.model):
            return
        reverting = getattr(self, "reverting", False)
        if self.instance.pk is not None and not reverting and not set(self.changed_data) - NOT_CONTENT:
            return
        stored = None
        if self.instance.pk is not None:
            stored = type(self.instance)._default_manager.filter(pk=self.instance.pk).first()
        try:
            self.row_owners = workflow.check_row_change(
                user=self.request_user, rows=[stored, self.instance], note=self.cleaned_data.get("public_note", ""),
            )
        except workflow.WorkflowError as refusal:
            self.add_error(refusal.field if refusal.field in self.fields else None, refusal.message)


# Fields of the form that are about the save, not the record.
NOT_CONTENT = {"publication_status", "opened_version", "change_reason", "public_note"}
# Fields a save changes by itself; not worth showing in a "changed since" list.
NOT_SHOWN = {"version", "updated_at", "search_key", "search_text", "span_end"}


def changes_since(record, opened_version: int) -> list[str]:
    """What changed in ``record`` since ``opened_version``, field by field, with who changed it."""
    history = record.history.order_by("-history_date", "-history_id")
    opened = history.filter(version=opened_version).first()
    now = history.first()
    if opened is None or now is None or opened.pk == now.pk:
        return []
    lines = []
    for change in now.diff_against(opened, excluded_fields=list(NOT_SHOWN & {f.name for f in record._meta.fields})).changes:
        lines.append(f"{change.field}: “{change.old}” → “{change.new}”")
    people = sorted({str(row.history_user) for row in history.filter(version__gt=opened_version)
                     .select_related("history_user") if row.history_user_id})
    if people:
        lines.append("saved by " + ", ".join(people))
    return lines


def differs_from(stored, cleaned: dict) -> bool:
    """Whether the form's model values differ from the stored row (works for reverts too)."""
    for name, value in cleaned.items():
        if name in NOT_CONTENT:
            continue
        try:
            field = stored._meta.get_field(name)
        except FieldDoesNotExist:  # a field of the form only
            continue
        if field.many_to_many:
            if {obj.pk for obj in value or []} != set(getattr(stored, name).values_list("pk", flat=True)):
                return True
        elif field.is_relation:
            if getattr(stored, field.attname) != (value.pk if value is not None else None):
                return True
        elif getattr(stored, name) != value:
            return True
    return False


class StaleEditCheckForm(ChangeReasonForm):
    """Refuses to save over a version the editor never saw, and applies the editorial workflow.

    The version the page was opened at travels in a hidden field. On save the
    stored row is locked (``select_for_update``, inside the admin's
    transaction) and compared: if another editor, or a service, saved it
    since, the save is refused with the list of what changed meanwhile,
    instead of silently overwriting their change.

    ``request_user`` is set by the admin (``RecordAdmin.get_form``); the
    workflow decides whether this save is allowed and which public act it is
    (``workflow_act``, written once the whole save succeeded).
    """

    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.workflow_act = None
        self.stored = None
        if self.instance.pk is not None and "opened_version" in self.fields:
            # The stored version, not the instance's: a revert starts from an old row.
            stored = type(self.instance)._default_manager.filter(pk=self.instance.pk)
            self.fields["opened_version"].initial = stored.values_list("version", flat=True).first()

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None:
            self.stored = type(self.instance)._default_manager.select_for_update().filter(pk=self.instance.pk).first()
        opened = cleaned.get("opened_version")
        if self.stored is not None and opened is not None and opened != self.stored.version:
            changed = changes_since(self.stored, opened)
            raise ValidationError(
                "Someone saved this record after you opened it (you opened version %(opened)s; version "
                "%(current)s is saved now). Nothing was saved. Changed since: %(changes)s. Open it again to "
                "see their changes, then make yours.",
                code="stale",
                params={"opened": opened, "current": self.stored.version,
                        "changes": "; ".join(changed) or "the record's derived fields"},
            )
        if self.request_user is not None and "publication_status" in self.fields:
            self.check_workflow(cleaned)
        return cleaned

    def check_workflow(self, cleaned):
        old = self.stored.publication_status if self.stored is not None else None
        new = cleaned.get("publication_status") or old or workflow.DRAFT
        changed = self.stored is None or differs_from(self.stored, cleaned)
        try:
            self.workflow_act = workflow.check_transition(
                user=self.request_user, record=self.stored or self.instance, old_status=old, new_status=new,
                content_changed=changed, note=cleaned.get("public_note", ""),
            )
        except workflow.WorkflowError as refusal:
            field = refusal.field if refusal.field in self.fields else None
            self.add_error(field, refusal.message)


# --------------------------------------------------------------------------
# Inline rows of a published record
# --------------------------------------------------------------------------


class RowGuardFormSet:
    """Mixed into every inline formset: its added, changed and deleted rows pass ``workflow.check_row_change``.

    ``request_user`` and ``public_note`` (the note field of the page the
    inline is on) are set by ``RecordAdmin.get_formsets_with_inlines``. A
    refusal is an error of the whole inline; ``row_owners`` lists the public
    records the save corrects.
    """

    request_user = None
    public_note = ""

    def clean(self):
        super().clean()
        self.row_owners = []
        if self.request_user is None:
            return
        rows = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data"):
                continue
            deleted = self.can_delete and self._should_delete_form(form)
            if not (deleted or form.has_changed()):
                continue
            if form.instance.pk is not None:  # as stored: the record it belonged to until now
                rows.append(type(form.instance)._default_manager.filter(pk=form.instance.pk).first())
            if not deleted:
                rows.append(form.instance)
        if not any(row is not None for row in rows):
            return
        try:
            self.row_owners = workflow.check_row_change(user=self.request_user, rows=rows, note=self.public_note)
        except workflow.WorkflowError as refusal:
            raise ValidationError(refusal.message, code=refusal.code) from None


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
