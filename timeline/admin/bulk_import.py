"""Bulk import for staff: a dataset file (JSON) or a CSV of events, previewed, then loaded all or nothing.

The preview runs the real import inside a transaction and rolls it back, so
what it lists (created, changed, rejected with reasons) is exactly what the
import would do. Imported records arrive as drafts (a record already stored
keeps its status) unless a reviewer asks to publish them as the file says.
Every change is in the history with the reason "bulk import <file name>" and
the importer as its user.

CSV columns for events (first row: the column names; UTF-8):
``slug`` (optional: made from date and title), ``conflict`` (slug), ``title``,
``summary``, ``body``, ``kind``, ``date`` (``1988``, ``1988-02`` or
``1988-02-20``: the precision follows), ``end_date`` (same forms),
``claimed_by`` (party slug), ``districts`` and ``parties`` (slugs separated by
``;``), ``agreement`` (slug).
"""

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field

from django import forms
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from timeline import dataset, workflow
from timeline.models import Agreement, District, Event, Handover, Party, PublicationStatus, Source
from timeline.text import fold

MAX_UPLOAD = 20 * 1024 * 1024
CSV_COLUMNS = ["slug", "conflict", "title", "summary", "body", "kind", "date", "end_date", "claimed_by",
               "districts", "parties", "agreement"]
CSV_REQUIRED = ["conflict", "title", "summary", "kind", "date"]
SHOWN = 200  # rows listed in a report; the counts cover everything
PUBLISHABLE_SECTIONS = {"parties": Party, "sources": Source, "districts": District, "agreements": Agreement,
                        "events": Event}


class ImportForm(forms.Form):
    file = forms.FileField(help_text="A dataset file (.json, the import_timeline format) or events as .csv.")
    publish = forms.BooleanField(
        required=False, label="Publish as the file says (reviewers only)",
        help_text="Otherwise new records arrive as drafts and stored records keep their status.",
    )

    def __init__(self, *args, may_publish: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_publish:
            del self.fields["publish"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".json", ".csv")):
            raise forms.ValidationError("Upload a .json dataset file or a .csv file of events.")
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD // (1024 * 1024)} MB.")
        return upload


@dataclass
class Report:
    dry_run: bool
    ok: bool = True
    created: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    deleted: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    @property
    def summary(self) -> str:
        parts = [f"{n} {what}" for what, n in sorted(self.counts.items()) if n]
        return ", ".join(parts) or "nothing to change"


class _Rollback(Exception):
    pass


# --------------------------------------------------------------------------
# CSV of events -> a dataset
# --------------------------------------------------------------------------

_YEAR, _MONTH, _DAY = re.compile(r"^\d{4}$"), re.compile(r"^\d{4}-\d{2}$"), re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: str, where: str, errors: list) -> tuple[str | None, str]:
    value = value.strip()
    if not value:
        return None, ""
    if _YEAR.match(value):
        return f"{value}-01-01", "year"
    if _MONTH.match(value):
        return f"{value}-01", "month"
    if _DAY.match(value):
        return value, "day"
    errors.append(f"{where}: write the date as 1988, 1988-02 or 1988-02-20 (got {value!r})")
    return None, ""


def _slugs(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def csv_to_dataset(text: str) -> dict:
    """The events of a CSV file as a raw dataset (``dataset.validate`` checks it next)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    errors = []
    unknown = sorted(set(columns) - set(CSV_COLUMNS))
    if unknown:
        errors.append(f"columns: unknown {', '.join(unknown)} (known: {', '.join(CSV_COLUMNS)})")
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if missing:
        errors.append(f"columns: missing {', '.join(missing)}")
    if errors:
        raise dataset.DatasetError(errors)
    events = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
        where = f"line {line}"
        date, precision = _date(row.get("date", ""), f"{where}: date", errors)
        end_date, end_precision = _date(row.get("end_date", ""), f"{where}: end_date", errors)
        slug = row.get("slug") or (f"{date[:10]}-{slugify(fold(row.get('title', '')))}"[:140] if date else "")
        event = {
            "slug": slug, "conflict": row.get("conflict"), "title": row.get("title", ""),
            "summary": row.get("summary", ""), "body": row.get("body", ""), "kind": row.get("kind", ""),
            "date": date, "date_precision": precision or "day",
            "districts": _slugs(row.get("districts", "")), "parties": _slugs(row.get("parties", "")),
        }
        if end_date:
            event.update(end_date=end_date, end_date_precision=end_precision)
        for name in ("claimed_by", "agreement"):
            if row.get(name):
                event[name] = row[name]
        events.append(event)
    if errors:
        raise dataset.DatasetError(errors)
    return {"format": dataset.FORMAT, "version": dataset.VERSION, "events": events}


# --------------------------------------------------------------------------
# The import
# --------------------------------------------------------------------------


def _history_models():
    from timeline.admin.staff import audited_models

    return audited_models()


class BulkImport:
    def __init__(self, *, name: str, content: bytes, user, publish: bool = False):
        self.name = name
        self.content = content
        self.user = user
        self.publish = publish and workflow.can_review(user, Event)
        self.reason = f"bulk import {name}"[: workflow.REASON_MAX]
        self.acted = set()  # (model, pk) of the records this import logged a public act for
        self.rows_corrected = {}  # (model, pk) -> public record whose rows this import changed

    def parse(self) -> dict:
        if self.name.lower().endswith(".csv"):
            try:
                text = self.content.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise dataset.DatasetError([f"The CSV file is not UTF-8 text ({exc.reason} at byte {exc.start})."]) from exc
            return dataset.validate(csv_to_dataset(text))
        return dataset.validate(dataset.parse(self.content))

    def keep_statuses(self, data: dict) -> None:
        """Not publishing: new records are drafts, stored records keep the status they have."""
        for section, model in PUBLISHABLE_SECTIONS.items():
            records = data.get(section, [])
            if not records:
                continue
            stored = model.objects.filter(slug__in=[r["slug"] for r in records])
            if model is Event:
                stored = stored.filter(origin=Event.Origin.EDITORIAL)
            statuses = dict(stored.values_list("slug", "publication_status"))
            for record in records:
                record["publication_status"] = statuses.get(record["slug"], PublicationStatus.DRAFT)
        handovers = data.get("handovers", [])
        if handovers:
            stored = {
                (h.agreement.slug if h.agreement_id else None, h.district.slug): h.publication_status
                for h in Handover.objects.filter(district__slug__in={r["district"] for r in handovers})
                .select_related("agreement", "district")
            }
            for record in handovers:
                record["publication_status"] = stored.get((record["agreement"], record["district"]),
                                                          PublicationStatus.DRAFT)

    def execute(self, *, dry_run: bool) -> Report:
        report = Report(dry_run=dry_run)
        try:
            data = self.parse()
        except dataset.DatasetError as exc:
            report.ok, report.rejected = False, list(exc.errors)
            return report
        if not self.publish:
            self.keep_statuses(data)
        models = _history_models()
        marks = {model: model.history.aggregate(m=Max("history_id"))["m"] or 0 for model in models}
        try:
            with transaction.atomic():
                with workflow.change_context(user=self.user, reason=self.reason):
                    dataset.load(data)
                self.collect(report, models, marks)
                self.log_row_corrections()
                if report.rejected:
                    report.ok = False
                    raise _Rollback
                if dry_run:
                    raise _Rollback
        except _Rollback:
            pass
        except dataset.DatasetError as exc:
            report.ok, report.rejected = False, list(exc.errors)
        return report

    def collect(self, report: Report, models, marks) -> None:
        """What the load wrote, from the history rows it added; attribute them; refuse what it may not do."""
        for model in models:
            rows = model.history.filter(history_id__gt=marks[model])
            rows.filter(history_user__isnull=True).update(history_user=self.user)
            rows.filter(history_change_reason__isnull=True).update(history_change_reason=self.reason)
            rows.filter(history_change_reason=dataset.CHANGE_REASON).update(history_change_reason=self.reason)
            kind = model._meta.verbose_name
            publishable = workflow.is_publishable(model)
            owned = not publishable and bool(workflow.owner_paths(model))
            owners_cache = {}
            seen = set()
            before = {}
            if publishable:
                ids = list(rows.values_list("id", flat=True).distinct())
                for pk, status in (model.history.filter(id__in=ids, history_id__lte=marks[model])
                                   .order_by("id", "history_id").values_list("id", "publication_status")):
                    before[pk] = status  # the last one before the import wins
            for row in rows.order_by("history_id").iterator():
                if row.id in seen and row.history_type != "-":
                    continue
                seen.add(row.id)
                label = f"{kind} “{row.instance}”"
                if row.history_type == "+":
                    report.counts[f"{kind}: created"] += 1
                    target = report.created
                elif row.history_type == "-":
                    report.counts[f"{kind}: deleted"] += 1
                    target = report.deleted
                else:
                    report.counts[f"{kind}: changed"] += 1
                    target = report.changed
                if len(target) < SHOWN:
                    target.append(label)
                if publishable:
                    self.judge(report, model, row, before.get(row.id), label)
                elif owned:
                    self.judge_row(report, row, label, marks, owners_cache)

    def judge(self, report: Report, model, row, status_before, label: str) -> None:
        """Editors may not change what readers have seen; a reviewer's publishing import logs its public acts."""
        record = model.objects.filter(pk=row.id).first()
        if record is None or getattr(record, "is_derived", False):
            return
        if status_before in workflow.PUBLIC and not self.publish:
            if row.history_type == "~":
                report.rejected.append(
                    f"{label}: is {status_before.replace('_', ' ')}; an import may change it only when a reviewer "
                    "publishes the import (it is then a correction)."
                )
            return
        if not self.publish:
            return
        act = None
        if record.publication_status == PublicationStatus.PUBLISHED and status_before != PublicationStatus.PUBLISHED:
            act = workflow.record_public_act(record=record, action="published", user=self.user)
        elif record.publication_status == PublicationStatus.PUBLISHED and row.history_type == "~":
            act = workflow.record_public_act(record=record, action="corrected", user=self.user,
                                             note=self.correction_note)
        elif record.publication_status == PublicationStatus.WITHDRAWN and status_before == PublicationStatus.PUBLISHED:
            act = workflow.record_public_act(record=record, action="withdrawn", user=self.user,
                                             note=f"Withdrawn by the dataset file {self.name}.")
        if act is not None:
            self.acted.add((model, record.pk))

    @property
    def correction_note(self) -> str:
        return f"Updated from the dataset file {self.name}."

    def judge_row(self, report: Report, row, label: str, marks: dict, owners_cache: dict) -> None:
        """A row of a record readers have seen (a deadline of a published agreement) changes only as its
        correction (``workflow.check_row_change``): refused in an editor's import, logged in a reviewer's
        publishing import."""
        for owner in workflow.owners_of(row.instance, cache=owners_cache):
            owner_model = type(owner)
            before = (owner.history.filter(history_id__lte=marks.get(owner_model, 0))
                      .order_by("-history_id").values_list("publication_status", flat=True).first())
            if before not in workflow.PUBLIC:
                continue  # new in this import, or a draft until now: its rows are free
            if not self.publish or owner.publication_status == workflow.WITHDRAWN:
                report.rejected.append(
                    f"{label}: belongs to the {before.replace('_', ' ')} {owner_model._meta.verbose_name} "
                    f"“{owner}”; an import may change it only when a reviewer publishes the import with the "
                    f"{owner_model._meta.verbose_name} published (it is then a correction of it)."
                )
                return
            self.rows_corrected.setdefault((owner_model, owner.pk), owner)

    def log_row_corrections(self) -> None:
        """One ``corrected`` act per public record whose rows a publishing import changed (unless logged already)."""
        owners = [owner for key, owner in self.rows_corrected.items() if key not in self.acted]
        workflow.record_row_corrections(owners=owners, user=self.user, note=self.correction_note)
