"""The dataset format: parse, validate, load and dump a whole timeline as JSON.

A dataset is one JSON document, ``{"format": "conflict-timeline", "version": 1,
...}``, whose records reference each other by slug (docs/dataset-format.md
describes every field). The management commands ``import_timeline`` and
``export_timeline`` and the admin's bulk import all go through this module:

* ``parse(text)`` reads the JSON (bad JSON names its line and column);
* ``validate(raw)`` checks its shape: known keys only, required fields, types,
  dates, choices, slug references, duplicates; it returns the normalised
  records (defaults filled in) or raises ``DatasetError`` listing every problem;
* ``load(dataset)`` writes it in one transaction, checking each written row
  with the model's ``full_clean()``; rows whose values already match are not
  touched (no save, no ``version`` bump, no history row), so loading the same
  file twice changes nothing. Derived timeline entries are not in the file:
  ``load`` re-derives them through ``services``;
* ``dump()`` returns the database as a dataset, deterministically ordered,
  and ``dumps()`` serialises it so that dump -> load -> dump is byte-identical.

Every problem is reported as ``path (label): field: message``, e.g.
``events[3] (slug "2020-11-25-army-enters-kalbajar"): date_precision: must be
one of day, month, year (got "week")``.
"""

import datetime as dt
import difflib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model, Prefetch
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from timeline import services
from timeline.models import (
    Agreement,
    Citation,
    Conflict,
    ControlChange,
    Deadline,
    Discrepancy,
    District,
    DistrictAlias,
    Event,
    Handover,
    Membership,
    Party,
    Postponement,
    Precision,
    Provision,
    ProvisionStatus,
    ProvisionStatusChange,
    PublicationStatus,
    Signatory,
    Source,
)

FORMAT = "conflict-timeline"
VERSION = 1
SUPPORTED_VERSIONS = (1,)


class DatasetError(Exception):
    """A dataset that cannot be loaded; ``errors`` holds one line per problem."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# --------------------------------------------------------------------------
# The format, as data: one spec per kind of record
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One key of a record.

    ``type`` is one of: str, slug, int, number, date, datetime, choice, json,
    ref (a slug of ``target``), refs (a list of them), record (one nested
    ``target`` record) and records (a list of them).
    """

    type: str
    required: bool = False
    target: str = ""
    choices: tuple[str, ...] = ()
    default: Any = None


def _choice(choices, default=None, required=False) -> Field:
    return Field("choice", required=required, choices=tuple(choices.values), default=default)


def _str(required=False) -> Field:
    return Field("str", required=required, default="")


PUBLICATION = _choice(PublicationStatus, default=PublicationStatus.DRAFT)
PRECISION = _choice(Precision, default=Precision.DAY)
SLUG = Field("slug", required=True)
CITATIONS = Field("records", target="citation")
DISCREPANCIES = Field("records", target="discrepancy")

SPECS: dict[str, dict[str, Field]] = {
    "dataset": {
        "format": Field("str", required=True),
        "version": Field("int", required=True),
        "conflicts": Field("records", target="conflict"),
        "parties": Field("records", target="party"),
        "sources": Field("records", target="source"),
        "districts": Field("records", target="district"),
        "agreements": Field("records", target="agreement"),
        "handovers": Field("records", target="handover"),
        "events": Field("records", target="event"),
    },
    "conflict": {"slug": SLUG, "name": _str(True), "summary": _str()},
    "party": {
        "slug": SLUG,
        "name": _str(True),
        "short_name": _str(),
        "kind": _choice(Party.Kind, required=True),
        "description": _str(),
        "colour": _str(),
        "publication_status": PUBLICATION,
        "memberships": Field("records", target="membership"),
    },
    "membership": {
        "member": Field("ref", required=True, target="party"),
        "role": _str(True),
        "started_on": Field("date"),
        "ended_on": Field("date"),
    },
    "source": {
        "slug": SLUG,
        "title": _str(True),
        "kind": _choice(Source.Kind, required=True),
        "publisher": _str(),
        "author": _str(),
        "published_on": Field("date"),
        "published_on_precision": PRECISION,
        "url": _str(),
        "language": _str(),
        "description": _str(),
        "publication_status": PUBLICATION,
    },
    "district": {
        "slug": SLUG,
        "conflict": Field("ref", required=True, target="conflict"),
        "name": _str(True),
        "kind": _choice(District.Kind, default=District.Kind.DISTRICT),
        "parent": Field("ref", target="district"),
        "latitude": Field("number"),
        "longitude": Field("number"),
        "boundary": Field("json"),
        "description": _str(),
        "publication_status": PUBLICATION,
        "aliases": Field("records", target="alias"),
        "discrepancies": DISCREPANCIES,
    },
    "alias": {
        "name": _str(True),
        "language": _str(True),
        "kind": _choice(DistrictAlias.Kind, default=DistrictAlias.Kind.EXONYM),
    },
    "agreement": {
        "slug": SLUG,
        "conflict": Field("ref", required=True, target="conflict"),
        "title": _str(True),
        "short_title": _str(),
        "kind": _choice(Agreement.Kind, required=True),
        "summary": _str(),
        "signed_on": Field("date", required=True),
        "signed_on_precision": PRECISION,
        "signed_at_place": _str(),
        "effective_at": Field("datetime"),
        "effective_timezone": _str(),
        "publication_status": PUBLICATION,
        "signatories": Field("records", target="signatory"),
        "provisions": Field("records", target="provision"),
        "deadlines": Field("records", target="deadline"),
        "citations": CITATIONS,
        "discrepancies": DISCREPANCIES,
    },
    "signatory": {
        "party": Field("ref", target="party"),
        "person_name": _str(),
        "role": _str(),
        "capacity": _choice(Signatory.Capacity, default=Signatory.Capacity.SIGNATORY),
    },
    "provision": {
        "number": Field("int", required=True),
        "summary": _str(True),
        "text": _str(),
        "status_changes": Field("records", target="status_change"),
    },
    "status_change": {
        "status": _choice(ProvisionStatus, required=True),
        "from_date": Field("date", required=True),
        "claimed_by": Field("ref", target="party"),
        "note": _str(),
        "evidence_events": Field("refs", target="event", default=()),
        "evidence_handovers": Field("records", target="handover_ref"),
        "citations": CITATIONS,
    },
    "deadline": {
        "obligation": _str(True),
        "provision": Field("int"),
        "district": Field("ref", target="district"),
        "obligated_party": Field("ref", target="party"),
        "original_due_on": Field("date", required=True),
        "postponements": Field("records", target="postponement"),
        "citations": CITATIONS,
        "discrepancies": DISCREPANCIES,
    },
    "postponement": {
        "to_date": Field("date", required=True),
        "decided_on": Field("date", required=True),
        "requested_by": Field("ref", target="party"),
        "agreed_by": Field("refs", target="party", default=()),
        "reason": _str(),
        "citations": CITATIONS,
    },
    "handover": {
        "agreement": Field("ref", target="agreement"),
        "district": Field("ref", required=True, target="district"),
        "deadline": _str(),
        "from_party": Field("ref", required=True, target="party"),
        "to_party": Field("ref", required=True, target="party"),
        "completed_on": Field("date"),
        "cancelled_on": Field("date"),
        "summary": _str(),
        "publication_status": PUBLICATION,
        "citations": CITATIONS,
        "discrepancies": DISCREPANCIES,
    },
    "event": {
        "slug": SLUG,
        "conflict": Field("ref", required=True, target="conflict"),
        "title": _str(True),
        "summary": _str(True),
        "body": _str(),
        "kind": _choice(Event.Kind, required=True),
        "date": Field("date", required=True),
        "date_precision": PRECISION,
        "end_date": Field("date"),
        "end_date_precision": _choice(Precision, default=""),
        "claimed_by": Field("ref", target="party"),
        "districts": Field("refs", target="district", default=()),
        "parties": Field("refs", target="party", default=()),
        "agreement": Field("ref", target="agreement"),
        "handover": Field("record", target="handover_ref"),
        "deadline": Field("record", target="deadline_ref"),
        "publication_status": PUBLICATION,
        "citations": CITATIONS,
        "control_changes": Field("records", target="control_change"),
        "discrepancies": DISCREPANCIES,
    },
    "control_change": {
        "district": Field("ref", required=True, target="district"),
        "controlled_by": Field("ref", required=True, target="party"),
    },
    "handover_ref": {
        "agreement": Field("ref", target="agreement"),
        "district": Field("ref", required=True, target="district"),
    },
    "deadline_ref": {
        "agreement": Field("ref", required=True, target="agreement"),
        "obligation": _str(True),
    },
    "citation": {
        "source": Field("ref", required=True, target="source"),
        "passage": _str(),
        "locator": _str(),
    },
    "discrepancy": {
        "aspect": _str(True),
        "description": _str(True),
        "sources": Field("refs", target="source", default=()),
    },
}

# Top-level sections and the model each one's slugs name.
SLUGGED = {"conflict": Conflict, "party": Party, "source": Source, "district": District, "agreement": Agreement}
SECTIONS = {
    "conflicts": "conflict",
    "parties": "party",
    "sources": "source",
    "districts": "district",
    "agreements": "agreement",
    "handovers": "handover",
    "events": "event",
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


def _label(raw: dict, kind: str) -> str:
    """How a record is named in messages: its slug, number, obligation, name ..."""
    if kind == "handover":
        parts = [f'{key} "{raw[key]}"' for key in ("district", "agreement") if isinstance(raw.get(key), str)]
        return f" ({', '.join(parts)})" if parts else ""
    for key in ("slug", "obligation", "number", "name"):
        if key in SPECS[kind] and isinstance(raw.get(key), str | int) and not isinstance(raw.get(key), bool):
            value = raw[key]
            return f" ({key} {value})" if isinstance(value, int) else f' ({key} "{value}")'
    return ""


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


# --------------------------------------------------------------------------
# Parsing and validation of the shape
# --------------------------------------------------------------------------


def _reject_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f'the key "{key}" appears twice in one object')
        seen[key] = value
    return seen


def parse(text: str | bytes) -> Any:
    """Read a dataset's JSON; numbers with a fraction become ``Decimal`` so coordinates stay exact."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError([f"The file is not UTF-8 text (byte {exc.start})."]) from exc
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise DatasetError([f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."]) from exc
    except ValueError as exc:
        raise DatasetError([f"Invalid JSON: {exc}."]) from exc
    except RecursionError as exc:
        raise DatasetError(["Invalid JSON: nested too deeply to read."]) from exc


class _Checker:
    """Walks the raw document against ``SPECS``, collecting every problem."""

    def __init__(self):
        self.errors: list[str] = []
        # (where, field name, target kind, slug) for every slug reference, checked once all are known.
        self.refs: list[tuple[str, str, str, str]] = []

    def record(self, raw, kind: str, path: str) -> dict | None:
        if not isinstance(raw, dict):
            self.errors.append(f"{path}: must be an object (got {_json_type(raw)})")
            return None
        spec = SPECS[kind]
        where = f"{path}{_label(raw, kind)}"
        for key in sorted(set(raw) - set(spec)):
            close = difflib.get_close_matches(key, spec, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else f" (known fields: {', '.join(spec)})"
            self.errors.append(f"{_at(where, key)} unknown field{hint}")
        out = {}
        for name, field in spec.items():
            out[name] = self.value(raw.get(name), field, where, name)
        return out

    def value(self, value, field: Field, where: str, name: str):
        if value is None or (value == "" and field.type in ("str", "slug", "ref", "choice")):
            if field.required:
                self.errors.append(f"{_at(where, name)} required")
            if field.type in ("records", "refs"):
                return []
            return field.default
        problem = _at(where, name)
        if field.type in ("str", "slug", "ref", "choice") and not isinstance(value, str):
            self.errors.append(f"{problem} must be a string (got {_json_type(value)})")
            return field.default
        if field.type == "slug" and not _SLUG.match(value):
            self.errors.append(f'{problem} must be a slug of letters, digits, hyphens and underscores (got "{value}")')
        elif field.type == "ref":
            self.refs.append((where, name, field.target, value))
        elif field.type == "choice" and value not in field.choices:
            self.errors.append(f'{problem} must be one of {", ".join(field.choices)} (got "{value}")')
            return field.default
        elif field.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.errors.append(f"{problem} must be a whole number (got {_json_type(value)})")
                return None
        elif field.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                self.errors.append(f"{problem} must be a number (got {_json_type(value)})")
                return None
        elif field.type == "date":
            return self._date(value, problem)
        elif field.type == "datetime":
            return self._datetime(value, problem)
        elif field.type == "json":
            if not isinstance(value, dict):
                self.errors.append(f"{problem} must be an object (got {_json_type(value)})")
                return None
            return _plain(value)
        elif field.type == "refs":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.errors.append(f"{problem} must be a list of slugs")
                return []
            for slug in sorted({v for v in value if value.count(v) > 1}):
                self.errors.append(f'{problem} "{slug}" is listed twice')
            for slug in value:
                self.refs.append((where, name, field.target, slug))
            return list(dict.fromkeys(value))
        elif field.type == "record":
            return self.record(value, field.target, _child(where, name))
        elif field.type == "records":
            if not isinstance(value, list):
                self.errors.append(f"{problem} must be a list (got {_json_type(value)})")
                return []
            records = [self.record(item, field.target, f"{_child(where, name)}[{n}]") for n, item in enumerate(value)]
            return [r for r in records if r is not None]
        return value

    def _date(self, value, problem):
        if not isinstance(value, str):
            self.errors.append(f"{problem} must be a date string YYYY-MM-DD (got {_json_type(value)})")
            return None
        try:
            if not _DATE.match(value):
                raise ValueError("use the form YYYY-MM-DD")
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            self.errors.append(f'{problem} "{value}" is not a valid date ({exc})')
            return None

    def _datetime(self, value, problem):
        if not isinstance(value, str):
            self.errors.append(f"{problem} must be an ISO 8601 date and time (got {_json_type(value)})")
            return None
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            self.errors.append(f'{problem} "{value}" is not an ISO 8601 date and time such as 2020-11-10T00:00:00+03:00')
            return None
        if moment.tzinfo is None:
            self.errors.append(f'{problem} "{value}" needs a UTC offset, e.g. 2020-11-10T00:00:00+03:00')
            return None
        return moment.astimezone(dt.UTC)


def _at(where: str, name: str) -> str:
    """The start of a message about field ``name`` of the record at ``where``."""
    return f"{where}: {name}:" if where else f"{name}:"


def _child(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _plain(value):
    """JSON values with Decimal turned back into float, for JSONField storage."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _duplicates(errors: list[str], items, key, what: str, path: str) -> None:
    seen = set()
    for n, item in enumerate(items):
        k = key(item)
        if k is None:
            continue  # already reported as missing
        if k in seen:
            errors.append(f"{path}[{n}]: duplicate {what} {_show(k)} within the file")
        seen.add(k)


def _show(key) -> str:
    if isinstance(key, tuple):
        return ", ".join(_show(k) for k in key)
    return f'"{key}"' if isinstance(key, str) else str(key)


def validate(raw: Any) -> dict:
    """Check a parsed dataset's shape and references; return it normalised or raise ``DatasetError``."""
    if not isinstance(raw, dict):
        raise DatasetError([f"The dataset must be a JSON object (got {_json_type(raw)})."])
    if raw.get("format") != FORMAT:
        raise DatasetError([f'format: must be "{FORMAT}" (got {json.dumps(raw.get("format"), default=str)})'])
    if isinstance(raw.get("version"), bool) or raw.get("version") not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise DatasetError([f"version: unsupported version {json.dumps(raw.get('version'), default=str)} (this site reads {supported})"])
    checker = _Checker()
    data = checker.record(raw, "dataset", "") or {}
    errors = checker.errors
    for section, kind in SECTIONS.items():
        if kind in SLUGGED or kind == "event":
            _duplicates(errors, data.get(section, []), lambda r: r["slug"], "slug", section)
    _check_nested_duplicates(data, errors)
    _check_references(data, checker.refs, errors)
    if errors:
        raise DatasetError(errors)
    for event in data["events"]:
        # The model fills an end date's missing precision with the start's: do it here so a re-import compares equal.
        if event["end_date"] is not None and not event["end_date_precision"]:
            event["end_date_precision"] = event["date_precision"]
    return data


def _check_nested_duplicates(data: dict, errors: list[str]) -> None:
    for n, party in enumerate(data["parties"]):
        path = f'parties[{n}] (slug "{party["slug"]}").memberships'
        _duplicates(errors, party["memberships"], lambda m: (m["member"], m["role"]), "member and role", path)
    for n, district in enumerate(data["districts"]):
        path = f'districts[{n}] (slug "{district["slug"]}").aliases'
        _duplicates(errors, district["aliases"], lambda a: (a["name"], a["language"]), "name and language", path)
    for n, agreement in enumerate(data["agreements"]):
        where = f'agreements[{n}] (slug "{agreement["slug"]}")'
        _duplicates(errors, agreement["provisions"], lambda p: p["number"], "number", f"{where}.provisions")
        _duplicates(errors, agreement["deadlines"], lambda d: d["obligation"], "obligation", f"{where}.deadlines")
        _duplicates(
            errors, agreement["signatories"],
            lambda s: (s["party"] or "", s["person_name"], s["capacity"]), "signatory", f"{where}.signatories",
        )
        numbers = {p["number"] for p in agreement["provisions"]}
        for p in agreement["provisions"]:
            _duplicates(
                errors, p["status_changes"], lambda c: (c["from_date"].isoformat() if c["from_date"] else "", c["status"], c["claimed_by"] or ""),
                "date, status and claimant", f"{where}.provisions (number {p['number']}).status_changes",
            )
        for d_n, deadline in enumerate(agreement["deadlines"]):
            d_where = f'{where}.deadlines[{d_n}] (obligation "{deadline["obligation"]}")'
            if deadline["provision"] is not None and deadline["provision"] not in numbers:
                errors.append(f"{d_where}: provision: the agreement has no point {deadline['provision']} in this file")
            decided = [p["decided_on"] for p in deadline["postponements"]]
            if all(decided) and decided != sorted(decided):
                errors.append(f"{d_where}: postponements: list them in the order they were decided (by decided_on)")
    _duplicates(
        errors, data["handovers"], lambda h: (h["agreement"] or "", h["district"]), "agreement and district", "handovers"
    )
    for n, event in enumerate(data["events"]):
        path = f'events[{n}] (slug "{event["slug"]}").control_changes'
        _duplicates(errors, event["control_changes"], lambda c: c["district"], "district", path)


def _check_references(data: dict, refs, errors: list[str]) -> None:
    """Every slug names a record of the file or one already stored: one query per kind."""
    declared = {kind: {r["slug"] for r in data[section]} for section, kind in SECTIONS.items() if kind != "handover"}
    wanted = defaultdict(set)
    for _, _, target, slug in refs:
        if slug not in declared[target]:
            wanted[target].add(slug)
    stored = defaultdict(set)
    for target, slugs in wanted.items():
        qs = Event.objects.filter(origin=Event.Origin.EDITORIAL) if target == "event" else SLUGGED[target].objects
        for batch in _batches(sorted(slugs)):
            stored[target] |= set(qs.filter(slug__in=batch).values_list("slug", flat=True))
    for where, name, target, slug in refs:
        if slug not in declared[target] and slug not in stored.get(target, set()):
            errors.append(f'{where}: {name}: unknown {target} "{slug}"')
    if errors:
        return
    _check_compound_references(data, errors)


def _check_compound_references(data: dict, errors: list[str]) -> None:
    """Deadlines (agreement + obligation) and handovers (agreement + district) named by reference."""
    obligations = {(a["slug"], d["obligation"]) for a in data["agreements"] for d in a["deadlines"]}
    handovers = {(h["agreement"], h["district"]) for h in data["handovers"]}
    file_agreements = {a["slug"] for a in data["agreements"]}
    wanted_deadlines, wanted_handovers = [], []
    for n, h in enumerate(data["handovers"]):
        if h["deadline"]:
            where = f"handovers[{n}]{_label(h, 'handover')}: deadline"
            if not h["agreement"]:
                errors.append(f"{where}: a deadline can only be named together with its agreement")
            else:
                wanted_deadlines.append((where, h["agreement"], h["deadline"]))
    for n, event in enumerate(data["events"]):
        where = f'events[{n}] (slug "{event["slug"]}")'
        if event["deadline"]:
            wanted_deadlines.append((f"{where}: deadline", event["deadline"]["agreement"], event["deadline"]["obligation"]))
        if event["handover"]:
            wanted_handovers.append((f"{where}: handover", event["handover"]["agreement"], event["handover"]["district"]))
    for n, agreement in enumerate(data["agreements"]):
        for p in agreement["provisions"]:
            for change in p["status_changes"]:
                for ref in change["evidence_handovers"]:
                    where = f'agreements[{n}] (slug "{agreement["slug"]}").provisions (number {p["number"]}): evidence_handovers'
                    wanted_handovers.append((where, ref["agreement"], ref["district"]))
    stored_deadlines = set()
    outside = {agreement for _, agreement, _ in wanted_deadlines if agreement not in file_agreements}
    if outside:
        stored_deadlines = set(
            Deadline.objects.filter(agreement__slug__in=outside).values_list("agreement__slug", "obligation")
        )
    for where, agreement, obligation in wanted_deadlines:
        key = (agreement, obligation)
        if key not in obligations and (agreement in file_agreements or key not in stored_deadlines):
            errors.append(f'{where}: agreement "{agreement}" has no deadline with obligation "{obligation}"')
    missing = [(w, a, d) for w, a, d in wanted_handovers if (a, d) not in handovers]
    if missing:
        stored = set(
            Handover.objects.filter(district__slug__in={d for _, _, d in missing}).values_list(
                "agreement__slug", "district__slug"
            )
        )
        for where, agreement, district in missing:
            if (agreement, district) not in stored:
                under = f' under agreement "{agreement}"' if agreement else " without an agreement"
                errors.append(f'{where}: no handover of district "{district}"{under}')


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_text(text: str | bytes) -> Counter:
    """Parse, validate and load a dataset; returns what was created, updated, deleted and left unchanged."""
    return load(validate(parse(text)))


def load_file(stream) -> Counter:
    """``load_text`` for an open binary file; its text is released once parsed, to bound memory."""
    raw = parse(stream.read())
    data = validate(raw)
    del raw
    return load(data)


def load(data: dict) -> Counter:
    """Write a validated dataset in one transaction (all or nothing)."""
    with transaction.atomic():
        loader = _Loader(data)
        loader.run()
    return loader.stats


CHANGE_REASON = "Imported from a dataset file"
BATCH = 2000


def _batches(items, size: int = BATCH):
    """``items`` in lists of ``size``: bounded IN lists and INSERT statements on every database."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _messages(where: str, exc: ValidationError) -> list[str]:
    if not hasattr(exc, "error_dict"):
        return [f"{where}: {m}" for m in exc.messages]
    lines = []
    for name, errors in exc.message_dict.items():
        prefix = f"{where}: " if name == "__all__" else f"{where}: {name}: "
        lines.extend(prefix + m for m in errors)
    return lines


def _differs(obj: Model, name: str, value) -> bool:
    field = obj._meta.get_field(name)
    if field.is_relation:
        return getattr(obj, field.attname) != (value.pk if value is not None else None)
    return getattr(obj, name) != value


class _Loader:
    """Writes one validated dataset. Slug -> row maps are built once per kind, so
    looking up references costs no query per row; only rows that change are written."""

    def __init__(self, data: dict):
        self.data = data
        self.stats: Counter = Counter()
        self.rows: dict[str, dict[str, Model]] = {}
        self.deadlines: dict[tuple[str, str], Deadline] = {}
        self.handovers: dict[tuple[str | None, str], Handover] = {}
        self.provisions: dict[tuple[str, int], Provision] = {}
        # (record kind, instance, citations) and (record kind, instance, discrepancies), written in bulk at the end.
        self.cited: list[tuple[str, Model, list[dict]]] = []
        self.disputed: list[tuple[str, Model, list[dict], str]] = []
        self.touched_deadlines: set[int] = set()
        # (kind, pk) of rows bulk-created by this load: nothing of theirs needs comparing.
        self.fresh_ids: set[tuple[str, int]] = set()

    # -- helpers ---------------------------------------------------------------

    def count(self, model, action: str, n: int = 1) -> None:
        if n:
            self.stats[f"{model._meta.verbose_name}: {action}"] += n

    def write(self, obj: Model, values: dict, where: str) -> bool:
        """Bring ``obj`` to ``values``; validate and save only if something differs."""
        creating = obj._state.adding
        changed = [name for name, value in values.items() if creating or _differs(obj, name, value)]
        if not creating and not changed:
            self.count(obj, "unchanged")
            return False
        for name in changed:
            setattr(obj, name, values[name])
        # Foreign keys were resolved from rows already loaded: skip the per-row existence queries.
        relations = [f.name for f in obj._meta.concrete_fields if f.is_relation]
        try:
            obj.full_clean(exclude=relations)
        except ValidationError as exc:
            raise DatasetError(_messages(where, exc)) from exc
        try:
            obj.save()
        except IntegrityError as exc:
            raise DatasetError([f"{where}: conflicts with a stored record ({exc})"]) from exc
        self.count(obj, "created" if creating else "updated")
        return True

    def check(self, obj: Model, where: str) -> None:
        """The model's own validation, without a query: for rows about to be bulk-created, whose
        uniqueness and references the loader has already established."""
        relations = [f.name for f in obj._meta.concrete_fields if f.is_relation]
        try:
            obj.full_clean(exclude=relations, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            raise DatasetError(_messages(where, exc)) from exc

    def set_m2m(self, obj: Model, name: str, wanted: list[Model], have: set[int]) -> None:
        ids = {row.pk for row in wanted}
        if ids != have:
            getattr(obj, name).set(ids)
            self.count(obj, f"{name} updated")

    def existing(self, kind: str, slugs) -> dict[str, Model]:
        qs = SLUGGED[kind].objects if kind != "event" else Event.objects.filter(origin=Event.Origin.EDITORIAL)
        return {row.slug: row for batch in _batches(sorted(set(slugs))) for row in qs.filter(slug__in=batch)}

    def ref(self, kind: str, slug: str | None) -> Model | None:
        return self.rows[kind][slug] if slug else None

    def sync_children(self, model, existing: dict, wanted: list[tuple[Any, dict, str]], parent: dict) -> dict:
        """Create, update or delete the children of one record so they are exactly ``wanted``."""
        result = {}
        for key, values, where in wanted:
            obj = existing.pop(key, None) or model(**parent)
            self.write(obj, values, where)
            result[key] = obj
        for obj in existing.values():
            obj.delete()
            self.count(model, "deleted")
        return result

    # -- the sections, in dependency order ------------------------------------------------

    def run(self) -> None:
        data = self.data
        referenced = defaultdict(set)
        for section, kind in SECTIONS.items():
            if kind in SLUGGED:
                referenced[kind] |= {r["slug"] for r in data[section]}
        referenced_all = self._all_referenced_slugs()
        for kind in SLUGGED:
            self.rows[kind] = self.existing(kind, referenced[kind] | referenced_all[kind])
        self.rows["event"] = self.existing("event", {e["slug"] for e in data["events"]} | referenced_all["event"])

        self.load_conflicts()
        self.load_parties()
        self.load_sources()
        self.load_districts()
        self.load_agreements()
        self.load_handovers()
        self.load_events()
        self.load_status_changes()
        self.write_citations()
        self.write_discrepancies()
        self.rederive()

    def _all_referenced_slugs(self) -> dict[str, set[str]]:
        """Slugs named anywhere in the file, by kind (walks the specs, no query)."""
        found = defaultdict(set)

        def walk(record, kind):
            for name, field in SPECS[kind].items():
                value = record.get(name)
                if field.type == "ref" and value:
                    found[field.target].add(value)
                elif field.type == "refs":
                    found[field.target].update(value)
                elif field.type == "record" and value:
                    walk(value, field.target)
                elif field.type == "records":
                    for item in value:
                        walk(item, field.target)

        walk(self.data, "dataset")
        return found

    def load_conflicts(self) -> None:
        for n, rec in enumerate(self.data["conflicts"]):
            obj = self.rows["conflict"].get(rec["slug"]) or Conflict(slug=rec["slug"])
            self.write(obj, {"name": rec["name"], "summary": rec["summary"]}, f'conflicts[{n}] (slug "{rec["slug"]}")')
            self.rows["conflict"][rec["slug"]] = obj

    def load_parties(self) -> None:
        records = self.data["parties"]
        for n, rec in enumerate(records):
            obj = self.rows["party"].get(rec["slug"]) or Party(slug=rec["slug"])
            values = {k: rec[k] for k in ("name", "short_name", "kind", "description", "colour", "publication_status")}
            self.write(obj, values, f'parties[{n}] (slug "{rec["slug"]}")')
            self.rows["party"][rec["slug"]] = obj
        groups = [self.rows["party"][rec["slug"]] for rec in records]
        stored = defaultdict(dict)
        for m in Membership.objects.filter(group__in=groups).select_related("member"):
            stored[m.group_id][(m.member.slug, m.role)] = m
        for n, rec in enumerate(records):
            group = self.rows["party"][rec["slug"]]
            wanted = [
                (
                    (m["member"], m["role"]),
                    {"member": self.ref("party", m["member"]), "role": m["role"],
                     "started_on": m["started_on"], "ended_on": m["ended_on"]},
                    f'parties[{n}] (slug "{rec["slug"]}").memberships[{i}]',
                )
                for i, m in enumerate(rec["memberships"])
            ]
            self.sync_children(Membership, stored[group.pk], wanted, {"group": group})

    def load_sources(self) -> None:
        fields = ("title", "kind", "publisher", "author", "published_on", "published_on_precision", "url",
                  "language", "description", "publication_status")
        for n, rec in enumerate(self.data["sources"]):
            obj = self.rows["source"].get(rec["slug"]) or Source(slug=rec["slug"])
            self.write(obj, {k: rec[k] for k in fields}, f'sources[{n}] (slug "{rec["slug"]}")')
            self.rows["source"][rec["slug"]] = obj

    def load_districts(self) -> None:
        records = self.data["districts"]
        position = {rec["slug"]: n for n, rec in enumerate(records)}
        ordered, state = [], {}

        def visit(slug, chain):
            if state.get(slug) == "done":
                return
            if state.get(slug) == "visiting":
                raise DatasetError([f'districts[{position[slug]}] (slug "{slug}"): parent: the parents form a cycle ({" -> ".join(chain)})'])
            state[slug] = "visiting"
            parent = records[position[slug]]["parent"]
            if parent in position:
                visit(parent, [*chain, parent])
            state[slug] = "done"
            ordered.append(records[position[slug]])

        for rec in records:
            visit(rec["slug"], [rec["slug"]])
        fields = ("name", "kind", "description", "publication_status", "latitude", "longitude", "boundary")
        for rec in ordered:
            n = position[rec["slug"]]
            where = f'districts[{n}] (slug "{rec["slug"]}")'
            obj = self.rows["district"].get(rec["slug"]) or District(slug=rec["slug"])
            values = {k: rec[k] for k in fields}
            values["conflict"] = self.ref("conflict", rec["conflict"])
            values["parent"] = self.ref("district", rec["parent"])
            self.write(obj, values, where)
            self.rows["district"][rec["slug"]] = obj
            self.disputed.append(("district", obj, rec["discrepancies"], where))
        stored = defaultdict(dict)
        districts = [self.rows["district"][rec["slug"]] for rec in records]
        for alias in DistrictAlias.objects.filter(district__in=districts):
            stored[alias.district_id][(alias.name, alias.language)] = alias
        for n, rec in enumerate(records):
            district = self.rows["district"][rec["slug"]]
            wanted = [
                ((a["name"], a["language"]), {"name": a["name"], "language": a["language"], "kind": a["kind"]},
                 f'districts[{n}] (slug "{rec["slug"]}").aliases[{i}]')
                for i, a in enumerate(rec["aliases"])
            ]
            self.sync_children(DistrictAlias, stored[district.pk], wanted, {"district": district})

    def load_agreements(self) -> None:
        records = self.data["agreements"]
        fields = ("title", "short_title", "kind", "summary", "signed_on", "signed_on_precision", "signed_at_place",
                  "effective_at", "effective_timezone", "publication_status")
        for n, rec in enumerate(records):
            where = f'agreements[{n}] (slug "{rec["slug"]}")'
            obj = self.rows["agreement"].get(rec["slug"]) or Agreement(slug=rec["slug"])
            values = {k: rec[k] for k in fields}
            values["conflict"] = self.ref("conflict", rec["conflict"])
            self.write(obj, values, where)
            self.rows["agreement"][rec["slug"]] = obj
            self.cited.append(("agreement", obj, rec["citations"]))
            self.disputed.append(("agreement", obj, rec["discrepancies"], where))
        agreements = [self.rows["agreement"][rec["slug"]] for rec in records]
        signatories, provisions, deadlines = defaultdict(dict), defaultdict(dict), defaultdict(dict)
        for s in Signatory.objects.filter(agreement__in=agreements).select_related("party"):
            signatories[s.agreement_id][(s.party.slug if s.party_id else "", s.person_name, s.capacity)] = s
        for p in Provision.objects.filter(agreement__in=agreements):
            provisions[p.agreement_id][p.number] = p
        for d in Deadline.objects.filter(agreement__in=agreements):
            deadlines[d.agreement_id][d.obligation] = d
        for n, rec in enumerate(records):
            agreement = self.rows["agreement"][rec["slug"]]
            where = f'agreements[{n}] (slug "{rec["slug"]}")'
            self.sync_children(
                Signatory,
                signatories[agreement.pk],
                [
                    ((s["party"] or "", s["person_name"], s["capacity"]),
                     {"party": self.ref("party", s["party"]), "person_name": s["person_name"], "role": s["role"],
                      "capacity": s["capacity"], "order": i},
                     f"{where}.signatories[{i}]")
                    for i, s in enumerate(rec["signatories"])
                ],
                {"agreement": agreement},
            )
            written = self.sync_children(
                Provision,
                provisions[agreement.pk],
                [
                    (p["number"], {"number": p["number"], "summary": p["summary"], "text": p["text"]},
                     f"{where}.provisions[{i}] (number {p['number']})")
                    for i, p in enumerate(rec["provisions"])
                ],
                {"agreement": agreement},
            )
            for number, provision in written.items():
                self.provisions[(rec["slug"], number)] = provision
            self._load_deadlines(rec, agreement, deadlines[agreement.pk], where)
        self._load_postponements(records)

    def _load_deadlines(self, rec: dict, agreement: Agreement, stored: dict, where: str) -> None:
        wanted = []
        for i, d in enumerate(rec["deadlines"]):
            due_on = d["postponements"][-1]["to_date"] if d["postponements"] else d["original_due_on"]
            values = {
                "obligation": d["obligation"],
                "provision": self.provisions.get((rec["slug"], d["provision"])) if d["provision"] else None,
                "district": self.ref("district", d["district"]),
                "obligated_party": self.ref("party", d["obligated_party"]),
                "original_due_on": d["original_due_on"],
                "due_on": due_on,
            }
            wanted.append((d["obligation"], values, f'{where}.deadlines[{i}] (obligation "{d["obligation"]}")'))
        for obligation, deadline in self.sync_children(Deadline, stored, wanted, {"agreement": agreement}).items():
            self.deadlines[(rec["slug"], obligation)] = deadline
        for i, d in enumerate(rec["deadlines"]):
            deadline = self.deadlines[(rec["slug"], d["obligation"])]
            self.cited.append(("deadline", deadline, d["citations"]))
            self.disputed.append(
                ("deadline", deadline, d["discrepancies"], f'{where}.deadlines[{i}] (obligation "{d["obligation"]}")')
            )

    def _load_postponements(self, records: list[dict]) -> None:
        deadline_ids = [d.pk for d in self.deadlines.values()]
        stored = defaultdict(dict)
        agreed = defaultdict(set)
        for p in Postponement.objects.filter(deadline_id__in=deadline_ids):
            stored[p.deadline_id][p.sequence] = p
        for row in Postponement.agreed_by.through.objects.filter(postponement__deadline_id__in=deadline_ids):
            agreed[row.postponement_id].add(row.party_id)
        for n, rec in enumerate(records):
            for d_n, d in enumerate(rec["deadlines"]):
                deadline = self.deadlines[(rec["slug"], d["obligation"])]
                where = f'agreements[{n}] (slug "{rec["slug"]}").deadlines[{d_n}] (obligation "{d["obligation"]}")'
                previous = d["original_due_on"]
                wanted = []
                for i, p in enumerate(d["postponements"]):
                    values = {
                        "sequence": i + 1,
                        "from_date": previous,
                        "to_date": p["to_date"],
                        "decided_on": p["decided_on"],
                        "requested_by": self.ref("party", p["requested_by"]),
                        "reason": p["reason"],
                    }
                    wanted.append((i + 1, values, f"{where}.postponements[{i}]"))
                    previous = p["to_date"]
                if stored[deadline.pk] or wanted:
                    # deadline_refresh renumbers, chains and re-derives; it writes nothing when all is in step.
                    self.touched_deadlines.add(deadline.pk)
                written = self.sync_children(Postponement, stored[deadline.pk], wanted, {"deadline": deadline})
                for i, p in enumerate(d["postponements"]):
                    postponement = written[i + 1]
                    parties = [self.ref("party", slug) for slug in p["agreed_by"]]
                    self.set_m2m(postponement, "agreed_by", parties, agreed.get(postponement.pk, set()))
                    self.cited.append(("postponement", postponement, p["citations"]))

    def load_handovers(self) -> None:
        records = self.data["handovers"]
        districts = {self.rows["district"][h["district"]].pk for h in records}
        stored = {}
        for h in Handover.objects.filter(district_id__in=districts).select_related("agreement", "district"):
            stored.setdefault((h.agreement.slug if h.agreement_id else None, h.district.slug), h)
        fields = ("completed_on", "cancelled_on", "summary", "publication_status")
        deadlines = dict(self.deadlines)
        outside = {(h["agreement"], h["deadline"]) for h in records if h["deadline"]} - set(deadlines)
        if outside:
            for d in Deadline.objects.filter(agreement__slug__in={a for a, _ in outside}).select_related("agreement"):
                deadlines.setdefault((d.agreement.slug, d.obligation), d)
        for n, rec in enumerate(records):
            where = f"handovers[{n}]{_label(rec, 'handover')}"
            key = (rec["agreement"], rec["district"])
            obj = stored.get(key) or Handover()
            values = {k: rec[k] for k in fields}
            values["agreement"] = self.ref("agreement", rec["agreement"])
            values["district"] = self.ref("district", rec["district"])
            values["deadline"] = deadlines[(rec["agreement"], rec["deadline"])] if rec["deadline"] else None
            values["from_party"] = self.ref("party", rec["from_party"])
            values["to_party"] = self.ref("party", rec["to_party"])
            self.write(obj, values, where)
            self.handovers[key] = obj
            self.cited.append(("handover", obj, rec["citations"]))
            self.disputed.append(("handover", obj, rec["discrepancies"], where))

    def _handover_for(self, ref: dict) -> Handover:
        key = (ref["agreement"], ref["district"])
        if key not in self.handovers:
            self.handovers[key] = Handover.objects.get(
                agreement__slug=ref["agreement"], district__slug=ref["district"]
            ) if ref["agreement"] else Handover.objects.filter(agreement=None, district__slug=ref["district"]).first()
        return self.handovers[key]

    def _deadline_for(self, ref: dict) -> Deadline:
        key = (ref["agreement"], ref["obligation"])
        if key not in self.deadlines:
            self.deadlines[key] = Deadline.objects.get(agreement__slug=ref["agreement"], obligation=ref["obligation"])
        return self.deadlines[key]

    def load_events(self) -> None:
        """Events are the bulk of a dataset: new ones are checked in Python and written in batches
        (with their history rows, links, control changes and citations); only events that exist and
        differ are saved one by one."""
        records = self.data["events"]
        fields = ("title", "summary", "body", "kind", "date", "date_precision", "end_date", "end_date_precision",
                  "publication_status")
        fresh: list[Event] = []
        now = timezone.now()
        for n, rec in enumerate(records):
            where = f'events[{n}] (slug "{rec["slug"]}")'
            values = {k: rec[k] for k in fields}
            values["conflict"] = self.ref("conflict", rec["conflict"])
            values["claimed_by"] = self.ref("party", rec["claimed_by"])
            values["agreement"] = self.ref("agreement", rec["agreement"])
            values["handover"] = self._handover_for(rec["handover"]) if rec["handover"] else None
            values["deadline"] = self._deadline_for(rec["deadline"]) if rec["deadline"] else None
            obj = self.rows["event"].get(rec["slug"])
            if obj is not None:
                self.write(obj, values, where)
            else:
                obj = Event(slug=rec["slug"], origin=Event.Origin.EDITORIAL, **values)
                self.check(obj, where)
                obj.span_end = obj.compute_span_end()
                if obj.publication_status == PublicationStatus.PUBLISHED:
                    obj.published_at = now
                fresh.append(obj)
                self.rows["event"][rec["slug"]] = obj
            self.cited.append(("event", obj, rec["citations"]))
            if rec["discrepancies"] or obj.pk is not None:
                self.disputed.append(("event", obj, rec["discrepancies"], where))
        self._refuse_slugs_of_derived_events(fresh, records)
        for batch in _batches(fresh):
            bulk_create_with_history(batch, Event, default_change_reason=CHANGE_REASON)
        self.count(Event, "created", len(fresh))
        self.fresh_ids |= {("event", e.pk) for e in fresh}

        stored = [self.rows["event"][rec["slug"]] for rec in records if ("event", self.rows["event"][rec["slug"]].pk) not in self.fresh_ids]
        have_districts, have_parties, changes = defaultdict(set), defaultdict(set), defaultdict(dict)
        for batch in _batches(stored):
            for row in Event.districts.through.objects.filter(event__in=batch):
                have_districts[row.event_id].add(row.district_id)
            for row in Event.parties.through.objects.filter(event__in=batch):
                have_parties[row.event_id].add(row.party_id)
            for change in ControlChange.objects.filter(event__in=batch).select_related("district"):
                changes[change.event_id][change.district.slug] = change
        links_d, links_p, new_changes = [], [], []
        for n, rec in enumerate(records):
            event = self.rows["event"][rec["slug"]]
            districts = [self.ref("district", s) for s in rec["districts"]]
            parties = [self.ref("party", s) for s in rec["parties"]]
            if ("event", event.pk) in self.fresh_ids:
                links_d += [Event.districts.through(event_id=event.pk, district_id=d.pk) for d in districts]
                links_p += [Event.parties.through(event_id=event.pk, party_id=p.pk) for p in parties]
                new_changes += [
                    ControlChange(event=event, district=self.ref("district", c["district"]),
                                  controlled_by=self.ref("party", c["controlled_by"]))
                    for c in rec["control_changes"]
                ]
                continue
            self.set_m2m(event, "districts", districts, have_districts[event.pk])
            self.set_m2m(event, "parties", parties, have_parties[event.pk])
            wanted = [
                (c["district"],
                 {"district": self.ref("district", c["district"]), "controlled_by": self.ref("party", c["controlled_by"])},
                 f'events[{n}] (slug "{rec["slug"]}").control_changes[{i}]')
                for i, c in enumerate(rec["control_changes"])
            ]
            self.sync_children(ControlChange, changes[event.pk], wanted, {"event": event})
        for batch in _batches(links_d):
            Event.districts.through.objects.bulk_create(batch)
        for batch in _batches(links_p):
            Event.parties.through.objects.bulk_create(batch)
        for batch in _batches(new_changes):
            bulk_create_with_history(batch, ControlChange, default_change_reason=CHANGE_REASON)
        self.count(ControlChange, "created", len(new_changes))

    def _refuse_slugs_of_derived_events(self, fresh: list[Event], records: list[dict]) -> None:
        """A new editorial event may not take the slug of a derived one (the bulk insert would fail unnamed)."""
        taken = set()
        for batch in _batches([e.slug for e in fresh]):
            taken |= set(Event.objects.filter(slug__in=batch).values_list("slug", flat=True))
        if taken:
            raise DatasetError([
                f'events[{n}] (slug "{rec["slug"]}"): slug: is already used by a derived timeline entry'
                for n, rec in enumerate(records) if rec["slug"] in taken
            ])

    def load_status_changes(self) -> None:
        provisions = list(self.provisions.values())
        stored, evidence_events, evidence_handovers = defaultdict(dict), defaultdict(set), defaultdict(set)
        changes = ProvisionStatusChange.objects.filter(provision__in=provisions).select_related("claimed_by")
        for c in changes:
            stored[c.provision_id][(c.from_date, c.status, c.claimed_by.slug if c.claimed_by_id else None)] = c
        through_e = ProvisionStatusChange.evidence_events.through
        through_h = ProvisionStatusChange.evidence_handovers.through
        for row in through_e.objects.filter(provisionstatuschange__provision__in=provisions):
            evidence_events[row.provisionstatuschange_id].add(row.event_id)
        for row in through_h.objects.filter(provisionstatuschange__provision__in=provisions):
            evidence_handovers[row.provisionstatuschange_id].add(row.handover_id)
        for n, rec in enumerate(self.data["agreements"]):
            for p in rec["provisions"]:
                provision = self.provisions[(rec["slug"], p["number"])]
                where = f'agreements[{n}] (slug "{rec["slug"]}").provisions (number {p["number"]}).status_changes'
                wanted = [
                    ((c["from_date"], c["status"], c["claimed_by"]),
                     {"status": c["status"], "from_date": c["from_date"],
                      "claimed_by": self.ref("party", c["claimed_by"]), "note": c["note"]},
                     f"{where}[{i}]")
                    for i, c in enumerate(p["status_changes"])
                ]
                written = self.sync_children(ProvisionStatusChange, stored[provision.pk], wanted, {"provision": provision})
                for c in p["status_changes"]:
                    change = written[(c["from_date"], c["status"], c["claimed_by"])]
                    events = [self.ref("event", s) for s in c["evidence_events"]]
                    handovers = [self._handover_for(h) for h in c["evidence_handovers"]]
                    self.set_m2m(change, "evidence_events", events, evidence_events[change.pk])
                    self.set_m2m(change, "evidence_handovers", handovers, evidence_handovers[change.pk])
                    self.cited.append(("status_change", change, c["citations"]))

    def write_citations(self) -> None:
        """Compare each record's citations with the file; replace the list only where it differs."""
        by_kind = defaultdict(list)
        for kind, obj, citations in self.cited:
            by_kind[kind].append((obj, citations))
        for kind, items in by_kind.items():
            have = defaultdict(list)
            stored = [obj for obj, _ in items if (kind, obj.pk) not in self.fresh_ids]
            for batch in _batches(stored):
                rows = Citation.objects.filter(**{f"{kind}__in": batch}).order_by("order", "id")
                for parent_id, source_id, passage, locator in rows.values_list(
                    f"{kind}_id", "source_id", "passage", "locator"
                ):
                    have[parent_id].append((source_id, passage, locator))
            stale, fresh = [], []
            for obj, citations in items:
                wanted = [(self.rows["source"][c["source"]].pk, c["passage"], c["locator"]) for c in citations]
                if wanted == have[obj.pk]:
                    self.count(Citation, "unchanged", len(wanted))
                    continue
                stale.append(obj.pk)
                fresh.extend(
                    Citation(**{kind: obj}, source_id=source_id, passage=passage, locator=locator, order=n)
                    for n, (source_id, passage, locator) in enumerate(wanted)
                )
            for batch in _batches(stale):
                deleted, _ = Citation.objects.filter(**{f"{kind}_id__in": batch}).delete()
                self.count(Citation, "deleted", deleted)
            for batch in _batches(fresh):
                Citation.objects.bulk_create(batch)
            self.count(Citation, "created", len(fresh))

    def write_discrepancies(self) -> None:
        by_kind = defaultdict(list)
        for kind, obj, items, where in self.disputed:
            by_kind[kind].append((obj, items, where))
        for kind, entries in by_kind.items():
            have = defaultdict(list)
            stored = [obj for obj, _, _ in entries if (kind, obj.pk) not in self.fresh_ids]
            for batch in _batches(stored):
                rows = Discrepancy.objects.filter(**{f"{kind}__in": batch}).prefetch_related("sources").order_by("id")
                for d in rows:
                    sources = sorted(s.pk for s in d.sources.all())
                    have[getattr(d, f"{kind}_id")].append((d.aspect, d.description, sources))
            for obj, items, where in entries:
                wanted = [
                    (i["aspect"], i["description"], sorted(self.rows["source"][s].pk for s in i["sources"]))
                    for i in items
                ]
                if wanted == have[obj.pk]:
                    self.count(Discrepancy, "unchanged", len(wanted))
                    continue
                if have[obj.pk]:
                    deleted, _ = Discrepancy.objects.filter(**{kind: obj}).delete()
                    self.count(Discrepancy, "deleted", deleted)
                for n, (aspect, description, source_ids) in enumerate(wanted):
                    discrepancy = Discrepancy(**{kind: obj}, aspect=aspect, description=description)
                    self.write(discrepancy, {}, f"{where}.discrepancies[{n}]")
                    discrepancy.sources.set(source_ids)

    def rederive(self) -> None:
        """Bring derived state (due dates, handover status, derived timeline entries) in step, via services."""
        for deadline in Deadline.objects.filter(pk__in=self.touched_deadlines).order_by("pk"):
            services.deadline_refresh(deadline=deadline)
        for handover in self.handovers.values():
            services.handover_refresh(handover=handover)
        agreements = [self.rows["agreement"][rec["slug"]] for rec in self.data["agreements"]]
        services.derived_events_sync_all(agreements=agreements)


# --------------------------------------------------------------------------
# Dumping
# --------------------------------------------------------------------------


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _number(value: Decimal | None):
    if value is None:
        return None
    value = value.normalize()
    return int(value) if value == value.to_integral_value() else float(value)


def _slug(obj) -> str | None:
    return obj.slug if obj is not None else None


def _citations(obj) -> list[dict]:
    return [
        {"source": c.source.slug, "passage": c.passage, "locator": c.locator}
        for c in sorted(obj.citations.all(), key=lambda c: (c.order, c.pk))
    ]


def _discrepancies(obj) -> list[dict]:
    return [
        {"aspect": d.aspect, "description": d.description, "sources": sorted(s.slug for s in d.sources.all())}
        for d in sorted(obj.discrepancies.all(), key=lambda d: d.pk)
    ]


def _cited(lookup: str = "citations") -> Prefetch:
    return Prefetch(lookup, queryset=Citation.objects.select_related("source"))


def dump() -> dict:
    """The whole database as a dataset (derived timeline entries left out: loading re-derives them)."""
    disputed = ["discrepancies__sources"]
    parties = Party.objects.prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.select_related("member"))
    ).order_by("slug")
    districts = District.objects.select_related("conflict", "parent").prefetch_related("aliases", *disputed)
    agreements = Agreement.objects.select_related("conflict").prefetch_related(
        Prefetch("signatories", queryset=Signatory.objects.select_related("party")),
        Prefetch(
            "provisions__status_changes",
            queryset=ProvisionStatusChange.objects.select_related("claimed_by").prefetch_related(
                "evidence_events", "evidence_handovers__agreement", "evidence_handovers__district",
                _cited(),
            ),
        ),
        Prefetch(
            "deadlines",
            queryset=Deadline.objects.select_related("provision", "district", "obligated_party").prefetch_related(
                _cited(), *disputed,
                Prefetch(
                    "postponements",
                    queryset=Postponement.objects.select_related("requested_by").prefetch_related("agreed_by", _cited()),
                ),
            ),
        ),
        _cited(), *disputed,
    )
    handovers = Handover.objects.select_related(
        "agreement", "district", "deadline", "from_party", "to_party"
    ).prefetch_related(_cited(), *disputed)
    events = Event.objects.filter(origin=Event.Origin.EDITORIAL).select_related(
        "conflict", "claimed_by", "agreement", "handover__agreement", "handover__district", "deadline__agreement"
    ).prefetch_related(
        "districts", "parties", _cited(), *disputed,
        Prefetch("control_changes", queryset=ControlChange.objects.select_related("district", "controlled_by")),
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "conflicts": [
            {"slug": c.slug, "name": c.name, "summary": c.summary} for c in Conflict.objects.order_by("slug")
        ],
        "parties": [_dump_party(p) for p in parties],
        "sources": [_dump_source(s) for s in Source.objects.order_by("slug")],
        "districts": [_dump_district(d) for d in sorted(districts, key=lambda d: d.slug)],
        "agreements": [_dump_agreement(a) for a in sorted(agreements, key=lambda a: a.slug)],
        "handovers": sorted(
            (_dump_handover(h) for h in handovers), key=lambda h: (h["agreement"] or "", h["district"])
        ),
        "events": [_dump_event(e) for e in sorted(events, key=lambda e: (e.date, e.slug))],
    }


def dumps(data: dict | None = None) -> str:
    """Serialise a dataset deterministically: sorted keys, two-space indent, UTF-8 text, final newline."""
    return json.dumps(dump() if data is None else data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _dump_party(p: Party) -> dict:
    return {
        "slug": p.slug, "name": p.name, "short_name": p.short_name, "kind": p.kind, "description": p.description,
        "colour": p.colour, "publication_status": p.publication_status,
        "memberships": sorted(
            (
                {"member": m.member.slug, "role": m.role, "started_on": _date(m.started_on), "ended_on": _date(m.ended_on)}
                for m in p.memberships.all()
            ),
            key=lambda m: (m["member"], m["role"]),
        ),
    }


def _dump_source(s: Source) -> dict:
    return {
        "slug": s.slug, "title": s.title, "kind": s.kind, "publisher": s.publisher, "author": s.author,
        "published_on": _date(s.published_on), "published_on_precision": s.published_on_precision, "url": s.url,
        "language": s.language, "description": s.description, "publication_status": s.publication_status,
    }


def _dump_district(d: District) -> dict:
    return {
        "slug": d.slug, "conflict": d.conflict.slug, "name": d.name, "kind": d.kind, "parent": _slug(d.parent),
        "latitude": _number(d.latitude), "longitude": _number(d.longitude), "boundary": d.boundary,
        "description": d.description, "publication_status": d.publication_status,
        "aliases": sorted(
            ({"name": a.name, "language": a.language, "kind": a.kind} for a in d.aliases.all()),
            key=lambda a: (a["language"], a["name"]),
        ),
        "discrepancies": _discrepancies(d),
    }


def _handover_ref(h: Handover) -> dict:
    return {"agreement": _slug(h.agreement), "district": h.district.slug}


def _dump_agreement(a: Agreement) -> dict:
    effective_at = a.effective_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if a.effective_at else None
    return {
        "slug": a.slug, "conflict": a.conflict.slug, "title": a.title, "short_title": a.short_title, "kind": a.kind,
        "summary": a.summary, "signed_on": _date(a.signed_on), "signed_on_precision": a.signed_on_precision,
        "signed_at_place": a.signed_at_place, "effective_at": effective_at, "effective_timezone": a.effective_timezone,
        "publication_status": a.publication_status,
        "signatories": [
            {"party": _slug(s.party), "person_name": s.person_name, "role": s.role, "capacity": s.capacity}
            for s in sorted(a.signatories.all(), key=lambda s: (s.order, s.pk))
        ],
        "provisions": [
            {
                "number": p.number, "summary": p.summary, "text": p.text,
                "status_changes": [
                    {
                        "status": c.status, "from_date": _date(c.from_date), "claimed_by": _slug(c.claimed_by),
                        "note": c.note, "evidence_events": sorted(e.slug for e in c.evidence_events.all()),
                        "evidence_handovers": sorted(
                            (_handover_ref(h) for h in c.evidence_handovers.all()),
                            key=lambda r: (r["agreement"] or "", r["district"]),
                        ),
                        "citations": _citations(c),
                    }
                    for c in sorted(p.status_changes.all(), key=lambda c: (c.from_date, c.status, c.pk))
                ],
            }
            for p in sorted(a.provisions.all(), key=lambda p: p.number)
        ],
        "deadlines": [
            {
                "obligation": d.obligation, "provision": d.provision.number if d.provision else None,
                "district": _slug(d.district), "obligated_party": _slug(d.obligated_party),
                "original_due_on": _date(d.original_due_on),
                "postponements": [
                    {
                        "to_date": _date(p.to_date), "decided_on": _date(p.decided_on),
                        "requested_by": _slug(p.requested_by), "agreed_by": sorted(x.slug for x in p.agreed_by.all()),
                        "reason": p.reason, "citations": _citations(p),
                    }
                    for p in sorted(d.postponements.all(), key=lambda p: p.sequence)
                ],
                "citations": _citations(d), "discrepancies": _discrepancies(d),
            }
            for d in sorted(a.deadlines.all(), key=lambda d: (d.original_due_on, d.obligation))
        ],
        "citations": _citations(a), "discrepancies": _discrepancies(a),
    }


def _dump_handover(h: Handover) -> dict:
    return {
        "agreement": _slug(h.agreement), "district": h.district.slug,
        "deadline": h.deadline.obligation if h.deadline_id else "",
        "from_party": h.from_party.slug, "to_party": h.to_party.slug,
        "completed_on": _date(h.completed_on), "cancelled_on": _date(h.cancelled_on), "summary": h.summary,
        "publication_status": h.publication_status,
        "citations": _citations(h), "discrepancies": _discrepancies(h),
    }


def _dump_event(e: Event) -> dict:
    return {
        "slug": e.slug, "conflict": e.conflict.slug, "title": e.title, "summary": e.summary, "body": e.body,
        "kind": e.kind, "date": _date(e.date), "date_precision": e.date_precision, "end_date": _date(e.end_date),
        "end_date_precision": e.end_date_precision if e.end_date else "",
        "claimed_by": _slug(e.claimed_by),
        "districts": sorted(d.slug for d in e.districts.all()),
        "parties": sorted(p.slug for p in e.parties.all()),
        "agreement": _slug(e.agreement),
        "handover": _handover_ref(e.handover) if e.handover_id else None,
        "deadline": {"agreement": e.deadline.agreement.slug, "obligation": e.deadline.obligation} if e.deadline_id else None,
        "publication_status": e.publication_status,
        "citations": _citations(e),
        "control_changes": sorted(
            ({"district": c.district.slug, "controlled_by": c.controlled_by.slug} for c in e.control_changes.all()),
            key=lambda c: c["district"],
        ),
        "discrepancies": _discrepancies(e),
    }
