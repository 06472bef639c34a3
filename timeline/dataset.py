"""The dataset format: parse, validate, load and dump a whole timeline as JSON.

A dataset is one JSON document, ``{"format": "conflict-timeline", "version": 1,
...}``, whose records reference each other by slug (docs/dataset-format.md
describes every field). The management commands ``import_timeline`` and
``export_timeline`` and the admin's bulk import all go through this module:

* ``load_file(stream)`` imports a file of any size in bounded memory. The
  file is read twice, never whole (``_Reader``): first everything but the
  events (small: conflicts, parties, sources, districts, agreements,
  handovers), then the events one at a time, in batches of ``BATCH``. Each
  batch is validated and, while the file has shown no problem, written, all
  in one transaction. A second thread (``_Events``) reads, checks and
  prepares the next batches while the database writes one; it never touches
  the database;
* ``parse(text)`` reads a whole JSON text (bad JSON names its line and column)
  and ``validate(raw)`` checks its shape: known keys only, required fields,
  types, lengths, dates, choices, slug references, duplicates; it returns the
  normalised records (defaults filled in) or raises ``DatasetError`` listing
  every problem. ``load(data)`` writes such validated data (the admin's bulk
  import, ``load_text``);
* writing happens in one transaction. Rows that already hold the file's values
  are not touched (no save, no ``version`` bump, no history row), so loading
  the same file twice changes nothing. Top-level records other than events are
  few: each is checked with the model's ``full_clean()`` and saved. New events,
  the bulk of a file, are checked in Python with the model's own ``clean()``
  (the shape check has done the per-field checks) and written per batch with
  their history rows, many-to-many links (and their history), control changes
  and citations in a fixed number of statements: ``COPY`` on PostgreSQL,
  ``bulk_create`` elsewhere (``_Bulk``). The database's CHECK constraints still
  guard every row: a batch they refuse is checked again row by row to name the
  record. Derived timeline entries are not in the file: loading re-derives them
  through ``services``;
* ``dump()`` returns the database as a dataset, deterministically ordered,
  and ``dumps()`` serialises it so that dump -> load -> dump is byte-identical.

Every problem is reported as ``path (label): field: message``, e.g.
``events[3] (slug "2020-11-25-army-enters-kalbajar"): date_precision: must be
one of day, month, year (got "week")``.
"""

import codecs
import datetime as dt
import difflib
import io
import json
import queue
import re
import shutil
import tempfile
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from itertools import islice
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import CharField, Model, Prefetch
from django.utils import timezone

from timeline import cache, planner, services
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

# The model each kind of record is written to; its CharFields' max_length bound the file's strings.
MODELS = {
    **SLUGGED, "membership": Membership, "alias": DistrictAlias, "signatory": Signatory, "provision": Provision,
    "status_change": ProvisionStatusChange, "deadline": Deadline, "postponement": Postponement, "handover": Handover,
    "event": Event, "control_change": ControlChange, "citation": Citation, "discrepancy": Discrepancy,
}


def _max_lengths() -> dict[tuple[str, str], int]:
    """(kind, field) -> the model's max_length, for every string field stored in a CharField."""
    limits = {}
    for kind, model in MODELS.items():
        for name, field in SPECS[kind].items():
            if field.type not in ("str", "slug"):
                continue
            try:
                model_field = model._meta.get_field(name)
            except FieldDoesNotExist:  # a key of the format that is not a column of its own
                continue
            if isinstance(model_field, CharField) and model_field.max_length:
                limits[(kind, name)] = model_field.max_length
    return limits


MAX_LENGTH = _max_lengths()

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXTUAL = frozenset({"str", "slug", "ref", "choice"})
# \Z, not $: Django's slug validator refuses a final newline too.
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")


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
# Reading JSON: a whole text, or a file member by member
# --------------------------------------------------------------------------


def _reject_duplicate_keys(pairs):
    seen = dict(pairs)
    if len(seen) < len(pairs):  # only then is the duplicate looked for
        keys = set()
        for key, _ in pairs:
            if key in keys:
                raise ValueError(f'the key "{key}" appears twice in one object')
            keys.add(key)
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


_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _Reader:
    """A dataset file read without ever holding it whole.

    The top-level object is walked member by member; each member's value, and
    each element of the ``events`` list, is decoded on its own by the standard
    library's ``json`` (C speed, ``Decimal`` fractions, duplicate keys refused,
    the same messages as ``parse``, with the line and column in the file). The
    reader keeps a window of about ``CHUNK`` characters of the file, longer
    only while a single value is longer.

    ``head()`` returns every member but the events (whose syntax it checks);
    ``events()`` reads the file again from the start and yields the events one
    by one. The stream must be seekable (``load_file`` copies standard input to
    a temporary file first).
    """

    CHUNK = 1 << 20  # characters read at a time

    def __init__(self, stream):
        self.stream = stream
        self.strict = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_reject_duplicate_keys)
        self.loose = json.JSONDecoder()  # only to find where a value ends
        self._rewind()

    def _rewind(self) -> None:
        self.stream.seek(0)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof = "", 0, False
        self.line, self.column = 1, 0  # where buf[0] is in the file (line from 1, characters before it on its line)
        self.bytes = 0

    # -- the window -------------------------------------------------------------

    def _more(self, size: int = 0) -> bool:
        """Drop what was read, append the next part of the file; False at its end."""
        if self.eof:
            return False
        done, self.buf = self.buf[: self.pos], self.buf[self.pos :]
        self.pos = 0
        newlines = done.count("\n")
        self.line += newlines
        self.column = len(done) - done.rfind("\n") - 1 if newlines else self.column + len(done)
        chunk = self.stream.read(max(size, self.CHUNK))
        pending = len(self.decoder.getstate()[0])
        try:
            self.buf += self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise DatasetError([f"The file is not UTF-8 text (byte {self.bytes - pending + exc.start})."]) from exc
        self.bytes += len(chunk)
        self.eof = not chunk
        return True

    def _next(self) -> str:
        """Skip whitespace; the next character, "" at the end of the file."""
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def _error(self, message: str, pos: int | None = None) -> DatasetError:
        pos = self.pos if pos is None else pos
        before = self.buf[:pos]
        newlines = before.count("\n")
        column = pos - before.rfind("\n") if newlines else self.column + pos + 1
        return DatasetError([f"Invalid JSON at line {self.line + newlines}, column {column}: {message}."])

    def _value(self, decoder: json.JSONDecoder):
        """Decode the value at the reading position, reading on while it runs past the window."""
        self._next()
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Near the end of the window the value may just be cut off: read on (doubling, so a
                # long value costs linear time) and try again; anywhere else the JSON is wrong.
                cut = exc.pos >= len(self.buf) - 64 or exc.msg.startswith("Unterminated string")
                if cut and self._more(len(self.buf) - self.pos):
                    continue
                raise self._error(exc.msg, exc.pos) from exc
            except ValueError as exc:
                raise DatasetError([f"Invalid JSON: {exc}."]) from exc
            except RecursionError as exc:
                raise DatasetError(["Invalid JSON: nested too deeply to read."]) from exc
            if end == len(self.buf) and self._more(len(self.buf) - self.pos):
                continue  # a number may go on in the next part of the file
            self.pos = end
            return value

    def _expect(self, char: str, message: str) -> None:
        if self._next() != char:
            raise self._error(message)
        self.pos += 1

    def _after_member(self, closing: str) -> bool:
        """Past the comma between two members or elements: True; past the closing bracket: False."""
        char = self._next()
        self.pos += 1
        if char == ",":
            return True
        if char == closing:
            return False
        self.pos -= 1
        raise self._error("Expecting ',' delimiter")

    def _members(self) -> Iterator[str]:
        """The keys of the top-level object, each left for the caller to read its value."""
        self.pos += 1  # the "{"
        if self._next() == "}":
            self.pos += 1
            return
        seen = set()
        while True:
            if self._next() != '"':
                raise self._error("Expecting property name enclosed in double quotes")
            key = self._value(self.loose)
            if key in seen:
                raise DatasetError([f'Invalid JSON: the key "{key}" appears twice in one object.'])
            seen.add(key)
            self._expect(":", "Expecting ':' delimiter")
            yield key
            if not self._after_member("}"):
                return

    def _elements(self, decoder: json.JSONDecoder) -> Iterator[Any]:
        self.pos += 1  # the "["
        if self._next() == "]":
            self.pos += 1
            return
        while True:
            yield self._value(decoder)
            if not self._after_member("]"):
                return

    # -- the two passes ------------------------------------------------------------

    def head(self) -> dict:
        """Every top-level member but a list of events (left out; its syntax is checked)."""
        self._rewind()
        if self._next() == "\ufeff":
            raise self._error("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        if self._next() != "{":
            document = self._value(self.strict)
            self._end()
            raise DatasetError([f"The dataset must be a JSON object (got {_json_type(document)})."])
        head = {}
        for key in self._members():
            if key == "events" and self._next() == "[":
                for _ in self._elements(self.loose):
                    pass
            else:
                head[key] = self._value(self.strict)
        self._end()
        return head

    def events(self) -> Iterator[Any]:
        """The elements of the top-level ``events`` list, one at a time (nothing if there is none)."""
        self._rewind()
        if self._next() != "{":
            return
        for key in self._members():
            if key == "events" and self._next() == "[":
                yield from self._elements(self.strict)
                return
            self._value(self.loose)

    def _end(self) -> None:
        if self._next():
            raise self._error("Extra data")


@contextmanager
def _seekable(stream):
    """``stream`` if it can be read twice, else a temporary copy of it (standard input)."""
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        yield stream
        return
    with tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(stream, copy)
        copy.seek(0)
        yield copy


def _chunks(items, size: int):
    """``items`` (any iterable) in lists of ``size``, read lazily."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class _Events:
    """The events of a file, read, shape-checked, prepared (``_prepare_events``) and planned
    (``plan(checked, prepared)``, ``_Loader.plan_events``) a few batches ahead in a second thread,
    while the main thread waits for the database to write the batch before: it waits with the GIL
    released, so the two overlap. That thread never touches the import's transaction (it draws new
    ids from the sequences on its own connection); it hands over (checked batch, prepared rows,
    plan or None) through a queue of at most ``AHEAD`` batches, so memory stays bounded."""

    AHEAD = 2

    def __init__(self, reader: _Reader, validation: "_Validation", plan=None):
        self.reader, self.validation, self.plan = reader, validation, plan
        self.queue: queue.Queue = queue.Queue(maxsize=self.AHEAD)
        self.stop = threading.Event()
        self.head_loaded = threading.Event()  # plans refer to the head's rows: none is made before
        self.thread = threading.Thread(target=self._read, name="dataset-reader", daemon=True)

    def _read(self) -> None:
        try:
            start = 0
            for batch in _chunks(self.reader.events(), BATCH):
                checked = self.validation.shape(batch, start)
                start += len(batch)
                prepared = _prepare_events(checked.records) if not checked.errors else {}
                planned = None
                if self.plan and self._wait(self.head_loaded) and not self.validation.errors:
                    planned = self.plan(checked, prepared)
                if not self._put((checked, prepared, planned)):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the main thread, which raises it
            self._put(exc)
        finally:
            if self.plan:
                connection.close()  # this thread's own (plan_events drew ids on it), never the import's

    def _wait(self, event: threading.Event) -> bool:
        while not event.wait(0.1):
            if self.stop.is_set():
                return False
        return True

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self):
        self.thread.start()
        return self

    def __iter__(self):
        while (item := self.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()


# --------------------------------------------------------------------------
# Validation of the shape
# --------------------------------------------------------------------------


class _Checker:
    """Walks raw records against ``SPECS``, collecting every problem."""

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
        if not raw.keys() <= spec.keys():
            for key in sorted(set(raw) - set(spec)):
                close = difflib.get_close_matches(key, spec, n=1)
                hint = f'; did you mean "{close[0]}"?' if close else f" (known fields: {', '.join(spec)})"
                self.errors.append(f"{_at(where, key)} unknown field{hint}")
        out = {}
        for name, field in spec.items():
            out[name] = self.value(raw.get(name), field, where, name, kind)
        return out

    def value(self, value, field: Field, where: str, name: str, kind: str = ""):
        type_ = field.type
        if value is None or (value == "" and type_ in _TEXTUAL):
            if field.required:
                self.errors.append(f"{_at(where, name)} required")
            if type_ in ("records", "refs"):
                return []
            return field.default
        # Where a message points (``_at``) is only worked out for a problem: most values have none.
        # The commonest types return first (millions of values on a large import).
        if type_ in _TEXTUAL:
            if not isinstance(value, str):
                self.errors.append(f"{_at(where, name)} must be a string (got {_json_type(value)})")
                return field.default
            if "\x00" in value:
                self.errors.append(f"{_at(where, name)} must not contain the NUL character")
                return field.default
            limit = MAX_LENGTH.get((kind, name))
            if limit is not None and len(value) > limit:
                self.errors.append(f"{_at(where, name)} Ensure this value has at most {limit} characters (it has {len(value)}).")
                return field.default
            if type_ == "str":
                return value
            if type_ == "ref":
                self.refs.append((where, name, field.target, value))
                return value
        elif type_ == "records":
            if not isinstance(value, list):
                self.errors.append(f"{_at(where, name)} must be a list (got {_json_type(value)})")
                return []
            records = [self.record(item, field.target, f"{_child(where, name)}[{n}]") for n, item in enumerate(value)]
            return [r for r in records if r is not None]
        if type_ == "slug" and not _SLUG.match(value):
            self.errors.append(f'{_at(where, name)} must be a slug of letters, digits, hyphens and underscores (got "{value}")')
        elif type_ == "choice" and value not in field.choices:
            self.errors.append(f'{_at(where, name)} must be one of {", ".join(field.choices)} (got "{value}")')
            return field.default
        elif type_ == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.errors.append(f"{_at(where, name)} must be a whole number (got {_json_type(value)})")
                return None
        elif type_ == "number":
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                self.errors.append(f"{_at(where, name)} must be a number (got {_json_type(value)})")
                return None
        elif type_ == "date":
            return self._date(value, where, name)
        elif type_ == "datetime":
            return self._datetime(value, where, name)
        elif type_ == "json":
            if not isinstance(value, dict):
                self.errors.append(f"{_at(where, name)} must be an object (got {_json_type(value)})")
                return None
            if _has_nul(value):
                self.errors.append(f"{_at(where, name)} must not contain the NUL character")
                return None
            return _plain(value)
        elif type_ == "refs":
            if not isinstance(value, list) or not all(isinstance(v, str) and "\x00" not in v for v in value):
                self.errors.append(f"{_at(where, name)} must be a list of slugs")
                return []
            if len(value) > 1 and len(set(value)) < len(value):
                for slug in sorted({v for v in value if value.count(v) > 1}):
                    self.errors.append(f'{_at(where, name)} "{slug}" is listed twice')
            for slug in value:
                self.refs.append((where, name, field.target, slug))
            return list(dict.fromkeys(value))
        elif type_ == "record":
            return self.record(value, field.target, _child(where, name))
        return value

    def _date(self, value, where: str, name: str):
        if not isinstance(value, str):
            self.errors.append(f"{_at(where, name)} must be a date string YYYY-MM-DD (got {_json_type(value)})")
            return None
        try:
            if not _DATE.match(value):
                raise ValueError("use the form YYYY-MM-DD")
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            self.errors.append(f'{_at(where, name)} "{value}" is not a valid date ({exc})')
            return None

    def _datetime(self, value, where: str, name: str):
        if not isinstance(value, str):
            self.errors.append(f"{_at(where, name)} must be an ISO 8601 date and time (got {_json_type(value)})")
            return None
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            self.errors.append(f'{_at(where, name)} "{value}" is not an ISO 8601 date and time such as 2020-11-10T00:00:00+03:00')
            return None
        if moment.tzinfo is None:
            self.errors.append(f'{_at(where, name)} "{value}" needs a UTC offset, e.g. 2020-11-10T00:00:00+03:00')
            return None
        return moment.astimezone(dt.UTC)


def _at(where: str, name: str) -> str:
    """The start of a message about field ``name`` of the record at ``where``."""
    return f"{where}: {name}:" if where else f"{name}:"


def _child(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


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


def _check_format(raw: Any) -> None:
    if not isinstance(raw, dict):
        raise DatasetError([f"The dataset must be a JSON object (got {_json_type(raw)})."])
    if raw.get("format") != FORMAT:
        raise DatasetError([f'format: must be "{FORMAT}" (got {json.dumps(raw.get("format"), default=str)})'])
    if isinstance(raw.get("version"), bool) or raw.get("version") not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise DatasetError([f"version: unsupported version {json.dumps(raw.get('version'), default=str)} (this site reads {supported})"])


def _stored(kind: str):
    """The rows a slug of ``kind`` may name in the database (events: editorial ones only)."""
    return Event.objects.filter(origin=Event.Origin.EDITORIAL) if kind == "event" else SLUGGED[kind].objects


def validate(raw: Any) -> dict:
    """Check a parsed dataset's shape and references; return it normalised or raise ``DatasetError``."""
    _check_format(raw)
    events = raw.get("events")
    head = {key: value for key, value in raw.items() if key != "events" or not isinstance(events, list)}
    validation = _Validation(head)
    records = []
    for start in range(0, len(events) if isinstance(events, list) else 0, BATCH):
        records += [rec for _, rec in validation.events(events[start : start + BATCH], start)]
    validation.finish()
    validation.data["events"] = records
    return validation.data


class _Validation:
    """The checks of one dataset, in two parts so that a file need not be held whole.

    The constructor checks everything but the events (the *head*: a few
    hundred records); ``events(batch, start)`` checks the events batch by batch
    as they are read, against the head, the events before them and the
    database (one query per batch for slugs of neither); ``finish()`` checks
    what needed every event first (evidence named by status changes) and
    raises ``DatasetError`` with every problem found, if any.
    """

    MAX_ERRORS = 1000  # lines kept; the rest are counted

    def __init__(self, head: dict):
        _check_format(head)
        checker = _Checker()
        self.data = checker.record(head, "dataset", "") or {}
        self.errors: list[str] = checker.errors
        self.dropped = 0
        data = self.data
        for section, kind in SECTIONS.items():
            if kind in SLUGGED:
                _duplicates(self.errors, data.get(section, []), lambda r: r["slug"], "slug", section)
        _check_nested_duplicates(data, self.errors)
        self.declared = {kind: {r["slug"] for r in data[section]} for section, kind in SECTIONS.items() if kind in SLUGGED}
        self.declared["event"] = set()  # filled as the events are read
        self.found: dict[str, set[str]] = defaultdict(set)  # slugs looked up in the database, and found
        self.looked_up: dict[str, set[str]] = defaultdict(set)
        self.evidence = [ref for ref in checker.refs if ref[2] == "event"]  # needs every event first
        self._check_references([ref for ref in checker.refs if ref[2] != "event"])
        self.obligations = {(a["slug"], d["obligation"]) for a in data["agreements"] for d in a["deadlines"]}
        self.handovers = {(h["agreement"], h["district"]) for h in data["handovers"]}
        self.file_agreements = {a["slug"] for a in data["agreements"]}
        self.stored_deadlines: set[tuple[str, str]] = set()
        self.deadline_agreements_looked_up: set[str] = set()
        self.stored_handovers: set[tuple[str | None, str]] = set()
        self.handover_districts_looked_up: set[str] = set()
        if not self.errors:
            self._check_head_compound_references()

    def add(self, errors: list[str]) -> None:
        room = max(self.MAX_ERRORS - len(self.errors), 0)
        self.errors += errors[:room]
        self.dropped += len(errors) - len(errors[:room])

    def events(self, batch: list, start: int) -> list[tuple[int, dict]]:
        """Check raw events ``start``, ``start + 1`` ...; their normalised records, by position."""
        return self.references(self.shape(batch, start))

    def shape(self, batch: list, start: int) -> "_Checked":
        """The checks of a batch of events that need no database (``_Events`` makes them in its own thread)."""
        checker = _Checker()
        errors = checker.errors
        out = []
        seen = self.declared["event"]
        for n, raw in enumerate(batch, start):
            rec = checker.record(raw, "event", f"events[{n}]")
            if rec is None:
                continue
            slug = rec["slug"]
            if slug is not None:
                if slug in seen:
                    errors.append(f'events[{n}]: duplicate slug "{slug}" within the file')
                seen.add(slug)
            if len(rec["control_changes"]) > 1:
                path = f'events[{n}] (slug "{slug}").control_changes'
                _duplicates(errors, rec["control_changes"], lambda c: c["district"], "district", path)
            if rec["end_date"] is not None and not rec["end_date_precision"]:
                # The model fills an end date's missing precision with the start's: do it here so a re-import compares equal.
                rec["end_date_precision"] = rec["date_precision"]
            out.append((n, rec))
        # Only slugs the file does not declare need the database (``references``, in the writing thread).
        declared = self.declared
        refs = [ref for ref in checker.refs if ref[3] not in declared[ref[2]]]
        return _Checked(out, refs, errors)

    def references(self, checked: "_Checked") -> list[tuple[int, dict]]:
        """The checks of a batch of events against the database: slugs and compound keys of stored records."""
        errors = checked.errors + self._check_references(checked.refs, report=False)
        if not errors:
            errors += self._check_event_compound_references(checked.records)
        self.add(errors)
        return checked.records

    def finish(self) -> None:
        self.add(self._check_references(self.evidence, report=False))
        if self.errors:
            more = [f"... and {self.dropped} more problems"] if self.dropped else []
            raise DatasetError(self.errors + more)

    # -- references -------------------------------------------------------------------

    def _check_references(self, refs, report: bool = True) -> list[str]:
        """Every slug names a record of the file or one already stored: one query per kind not yet looked up."""
        wanted = defaultdict(set)
        for _, _, target, slug in refs:
            if slug not in self.declared[target] and slug not in self.looked_up[target]:
                wanted[target].add(slug)
        for target, slugs in wanted.items():
            for batch in _batches(sorted(slugs)):
                self.found[target] |= set(_stored(target).filter(slug__in=batch).values_list("slug", flat=True))
            self.looked_up[target] |= slugs
        errors = [
            f'{where}: {name}: unknown {target} "{slug}"'
            for where, name, target, slug in refs
            if slug not in self.declared[target] and slug not in self.found[target]
        ]
        if report:
            self.errors += errors
        return errors

    def _check_head_compound_references(self) -> None:
        """Deadlines named by handovers (agreement + obligation) and handovers named as evidence."""
        data, wanted_deadlines, wanted_handovers = self.data, [], []
        for n, h in enumerate(data["handovers"]):
            if h["deadline"]:
                where = f"handovers[{n}]{_label(h, 'handover')}: deadline"
                if not h["agreement"]:
                    self.errors.append(f"{where}: a deadline can only be named together with its agreement")
                else:
                    wanted_deadlines.append((where, h["agreement"], h["deadline"]))
        for n, agreement in enumerate(data["agreements"]):
            for p in agreement["provisions"]:
                for change in p["status_changes"]:
                    for ref in change["evidence_handovers"]:
                        where = f'agreements[{n}] (slug "{agreement["slug"]}").provisions (number {p["number"]}): evidence_handovers'
                        wanted_handovers.append((where, ref["agreement"], ref["district"]))
        self.errors += self._deadline_errors(wanted_deadlines) + self._handover_errors(wanted_handovers)

    def _check_event_compound_references(self, records: list[tuple[int, dict]]) -> list[str]:
        wanted_deadlines, wanted_handovers = [], []
        for n, event in records:
            where = f'events[{n}] (slug "{event["slug"]}")'
            if event["deadline"]:
                wanted_deadlines.append((f"{where}: deadline", event["deadline"]["agreement"], event["deadline"]["obligation"]))
            if event["handover"]:
                wanted_handovers.append((f"{where}: handover", event["handover"]["agreement"], event["handover"]["district"]))
        return self._deadline_errors(wanted_deadlines) + self._handover_errors(wanted_handovers)

    def _deadline_errors(self, wanted) -> list[str]:
        outside = {a for _, a, _ in wanted if a not in self.file_agreements} - self.deadline_agreements_looked_up
        if outside:
            self.stored_deadlines |= set(
                Deadline.objects.filter(agreement__slug__in=outside).values_list("agreement__slug", "obligation")
            )
            self.deadline_agreements_looked_up |= outside
        errors = []
        for where, agreement, obligation in wanted:
            key = (agreement, obligation)
            if key not in self.obligations and (agreement in self.file_agreements or key not in self.stored_deadlines):
                errors.append(f'{where}: agreement "{agreement}" has no deadline with obligation "{obligation}"')
        return errors

    def _handover_errors(self, wanted) -> list[str]:
        missing = [(w, a, d) for w, a, d in wanted if (a, d) not in self.handovers]
        districts = {d for _, _, d in missing} - self.handover_districts_looked_up
        if districts:
            self.stored_handovers |= set(
                Handover.objects.filter(district__slug__in=districts).values_list("agreement__slug", "district__slug")
            )
            self.handover_districts_looked_up |= districts
        errors = []
        for where, agreement, district in missing:
            if (agreement, district) not in self.stored_handovers:
                under = f' under agreement "{agreement}"' if agreement else " without an agreement"
                errors.append(f'{where}: no handover of district "{district}"{under}')
        return errors


@dataclass
class _Checked:
    """A batch of events through ``_Validation.shape``: records by position, the slugs they name, problems."""

    records: list[tuple[int, dict]]
    refs: list[tuple[str, str, str, str]]
    errors: list[str]


@dataclass
class _Plan:
    """A batch of new events ready to write (``_Loader._plan``): its statements (``bulk``), the rows by
    position, the new events' ids and what it creates."""

    bulk: "_Bulk"
    fresh: list[tuple[int, dict, dict]]
    ids: list[int]
    changes: int
    citations: int
    disputed: list[tuple[int, list[dict], str]]


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

# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

CHANGE_REASON = "Imported from a dataset file"
BATCH = 2000


def load_text(text: str | bytes) -> Counter:
    """Parse, validate and load a dataset; returns what was created, updated, deleted and left unchanged."""
    return load(validate(parse(text)))


def load_file(stream) -> Counter:
    """Load a dataset file (an open binary stream) of any size, all or nothing, in bounded memory.

    Everything but the events is read and checked first; then, in one
    transaction, it is written and the events are read, checked and written
    batch by batch. Once a problem is found nothing more is written, but the
    rest of the file is still checked, so every problem is listed at once.
    """
    with _seekable(stream) as file:
        reader = _Reader(file)
        validation = _Validation(reader.head())
        with transaction.atomic():
            loader = _Loader(validation.data)
            with _Events(reader, validation, loader.plan_events) as events:
                # The reading thread reads and checks the first events meanwhile; it plans none before this.
                if not validation.errors:
                    loader.load_head()
                events.head_loaded.set()
                statistics = planner.GrowthStatistics(GROWING_TABLES, first=BATCH)
                for checked, prepared, plan in events:
                    records = validation.references(checked)
                    if not validation.errors:
                        validation.add(loader.load_events(records, prepared, plan))
                        statistics.grew(len(records))
            validation.finish()
            loader.finish()
            # Bulk writes send no signals: move the record version with the import (timeline.cache).
            cache.bump()
    return loader.stats


def load(data: dict) -> Counter:
    """Write a validated dataset in one transaction (all or nothing)."""
    with transaction.atomic():
        loader = _Loader(data)
        loader.load_head()
        statistics = planner.GrowthStatistics(GROWING_TABLES, first=BATCH)
        for batch in _batches(list(enumerate(data["events"]))):
            errors = loader.load_events(batch)
            if errors:
                raise DatasetError(errors)
            statistics.grew(len(batch))
        loader.finish()
        # Bulk writes send no signals: move the record version with the import (timeline.cache).
        cache.bump()
    return loader.stats


# The tables an import grows that it also looks up (each batch reads events back by slug, links'
# history rows join their event's history row, and the foreign-key checks at commit look events
# and event history rows up): analyzed as they grow, or those lookups scan them (timeline.planner).
GROWING_TABLES = {
    Event._meta.db_table: ["id", "slug"],
    Event.history.model._meta.db_table: ["history_id", "id", "history_type"],
}


def _batches(items, size: int | None = None):
    """``items`` in lists of ``size`` (``BATCH``): bounded IN lists and INSERT statements on every database."""
    items, size = list(items), size or BATCH
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


def _refused(where: str, exc: DatabaseError) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{where}: refused by the database ({reason})"


def _differs(obj: Model, name: str, value) -> bool:
    field = obj._meta.get_field(name)
    if field.is_relation:
        return getattr(obj, field.attname) != (value.pk if value is not None else None)
    return getattr(obj, name) != value


# Per kind, the fields that name other records or hold records that may: (name, type, target kind).
_LINKING = {
    kind: [(name, f.type, f.target) for name, f in spec.items() if f.type in ("ref", "refs", "record", "records")]
    for kind, spec in SPECS.items()
}


def _referenced(record: dict, kind: str, found: dict[str, set[str]]) -> None:
    """Add the slugs ``record`` names, by kind, to ``found`` (walks the specs, no query)."""
    for name, type_, target in _LINKING[kind]:
        value = record.get(name)
        if not value:
            continue
        if type_ == "ref":
            found[target].add(value)
        elif type_ == "refs":
            found[target].update(value)
        elif type_ == "record":
            _referenced(value, target, found)
        else:
            for item in value:
                _referenced(item, target, found)


def _copy_str(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


# By exact type, the common cases first: millions of values go through here on a large import.
_COPY_BY_TYPE = {
    str: _copy_str,
    int: str,
    type(None): lambda value: "\\N",
    bool: lambda value: "t" if value else "f",
    dt.date: dt.date.isoformat,
    dt.datetime: dt.datetime.isoformat,
}


def _copy_line(values) -> str:
    """Values as one line of PostgreSQL's COPY text format (without its newline): the commonest
    types inline, since a large import sends millions of values."""
    out = []
    for value in values:
        kind = type(value)
        if kind is str:
            out.append(_copy_str(value))
        elif kind is int:
            out.append(str(value))
        elif value is None:
            out.append("\\N")
        else:
            out.append(_copy_text(value))
    return "\t".join(out)


def _copy_text(value) -> str:
    """A value in PostgreSQL's COPY text format."""
    convert = _COPY_BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, str):  # subclasses (choices enums) from here on
        return _copy_str(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, dict | list):
        return _copy_text(json.dumps(value))
    return str(value)


# Bytes psycopg2 reads from a COPY's text at a time (its default is 8 KiB: a thousand reads per batch).
COPY_READ = 1 << 20


def next_ids(model, n: int) -> list[int]:
    """``n`` new ids from ``model``'s sequence (PostgreSQL), on this thread's connection.

    Sequences are outside transactions, so the reading thread draws ids on its
    own connection for rows the import's connection writes."""
    with connection.cursor() as cursor:
        # The sequence looked up once (a scalar subquery), not per row: that was 6 of every 7 ms here.
        cursor.execute(
            "SELECT nextval((SELECT pg_get_serial_sequence(%s, %s))::regclass) FROM generate_series(1, %s)",
            [connection.ops.quote_name(model._meta.db_table), model._meta.pk.column, n],
        )
        return [row[0] for row in cursor.fetchall()]


class References:
    """What new rows written without their foreign-key triggers (``_Bulk.run``) refer to, checked
    as the triggers would have: each referenced row exists and is locked ``FOR KEY SHARE`` until
    the import commits, so that it cannot be deleted meanwhile; one query per referenced table.
    Rows a batch inserted itself (an event its links and citations name) are not collected
    (``_Bulk.referenced``): no other transaction sees them."""

    def __init__(self):
        self.referenced: dict[type[Model], set[int]] = defaultdict(set)

    @staticmethod
    def allowed() -> bool:
        """Whether this connection may turn triggers off (a superuser, or granted ``SET`` on
        ``session_replication_role``): tried inside a savepoint, which a refusal rolls back."""
        if connection.vendor != "postgresql":
            return False
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute("SET LOCAL session_replication_role = origin")
        except DatabaseError:
            return False
        return True

    def add(self, bulk: "_Bulk") -> None:
        for model, ids in bulk.referenced.items():
            self.referenced[model] |= ids

    def verify(self) -> list[str]:
        """The references that do not hold (none unless a record was deleted during the import)."""
        problems = []
        with connection.cursor() as cursor:
            for model, ids in self.referenced.items():
                wanted = sorted(ids - {None})
                if not wanted:
                    continue
                table, pk = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(model._meta.pk.column)
                cursor.execute(f"SELECT {pk} FROM {table} WHERE {pk} = ANY(%s) FOR KEY SHARE", [wanted])  # noqa: S608
                missing = set(wanted) - {row[0] for row in cursor.fetchall()}
                if missing:
                    problems.append(
                        f"{model._meta.verbose_name_plural} {', '.join(map(str, sorted(missing)[:10]))} "
                        "were deleted while the file was being imported; import it again"
                    )
        self.referenced.clear()
        return problems


class _Bulk:
    """New rows written in bulk, with the django-simple-history rows their saves would have written.

    Rows are dicts of column attnames (every concrete field but the primary
    key). On PostgreSQL their ids are taken from the table's sequence (one
    query) and the rows sent with ``COPY`` (one statement); elsewhere they go
    through ``bulk_create``. Either way no ``save()`` runs: callers compute
    what ``save()`` would have (``span_end``, ``search_text``, ``published_at``
    ...) with the model's own functions.

    The history rows are those ``simple_history.utils.bulk_create_with_history``
    writes (one "+" row per row: its values, the moment of the batch, the
    import's change reason, no user; the admin's bulk import attributes them
    afterwards), copied by the database from the rows just written
    (``INSERT ... SELECT``), so they cost no Python per row. ``links`` also
    writes the history of many-to-many links (``m2m_fields``: one row per link
    of each new row, attached to its "+" history row), which the
    record-as-published views (``timeline.record_time``) read.
    """

    def __init__(self, deferred: bool = False, now: dt.datetime | None = None):
        self.copy = connection.vendor == "postgresql"
        self.history = getattr(settings, "SIMPLE_HISTORY_ENABLED", True)
        self.now = now or timezone.now()
        # ``deferred`` (PostgreSQL): the statements are recorded, to be sent by ``run()`` on the import's
        # connection; the reading thread plans a batch so while the database writes the one before.
        self.deferred = deferred and self.copy
        self.steps: list[tuple[str, list | io.BytesIO]] = []
        # What the deferred rows refer to, by model, but for rows of this bulk (``References``).
        self.referenced: dict[type[Model], set[int]] = defaultdict(set)
        self.written: set[type[Model]] = set()
        # Rows created here: id -> the id of their "+" history row, by model (``links`` attaches to it).
        self.history_ids: dict[type[Model], dict[int, int]] = defaultdict(dict)

    def run(self, without_triggers: bool = False) -> None:
        """Send the recorded statements, in order (the import's connection, this thread).

        ``without_triggers``: with ``session_replication_role = replica``, so that the
        foreign-key triggers neither queue nor run a check per row (a third of a large
        import's database time, most of it at commit). ``References.verify`` makes the
        same checks, once per referenced row. The caller runs this inside a savepoint,
        whose rollback would restore the setting too."""
        steps, self.steps = self.steps, []
        with connection.cursor() as cursor:
            if without_triggers:
                cursor.execute("SET LOCAL session_replication_role = replica")
            for sql, params in steps:
                self._execute(cursor, sql, params)
            if without_triggers:
                cursor.execute("SET LOCAL session_replication_role = origin")

    def _send(self, sql: str, params) -> None:
        if self.deferred:
            self.steps.append((sql, params))
            return
        with connection.cursor() as cursor:
            self._execute(cursor, sql, params)

    @staticmethod
    def _execute(cursor, sql: str, params) -> None:
        if isinstance(params, io.BytesIO):
            # psycopg2's own cursor (Django's wrapper has no copy_expert), its errors made Django's.
            with connection.wrap_database_errors:
                cursor.cursor.copy_expert(sql, params, size=COPY_READ)
        else:
            cursor.execute(sql, params)

    def template(self, model) -> dict:
        """A new row of ``model`` with its defaults, stamped now."""
        row = {f.attname: f.get_default() for f in model._meta.concrete_fields if not f.primary_key}
        for name in ("created_at", "updated_at"):
            if name in row:
                row[name] = self.now
        return row

    def insert(self, model, rows: list[dict]) -> list[int]:
        """Insert ``rows``; their new ids, in order."""
        return self._insert(model, rows)[0]

    def _insert(self, model, rows: list[dict]) -> tuple[list[int], list[str], list[str]]:
        """Insert ``rows``: their new ids, in order, and on PostgreSQL the columns (the primary key
        first) and the lines of the ``COPY`` that wrote them, which ``create`` sends again as history."""
        if not rows:
            return [], [], []
        if not self.copy:
            objs = [model(**row) for row in rows]
            model._base_manager.bulk_create(objs)
            return [obj.pk for obj in objs], [], []
        columns = list(rows[0])
        ids = next_ids(model, len(rows))
        self.written.add(model)
        if self.deferred:
            for field in model._meta.concrete_fields:
                if field.is_relation and field.db_constraint and field.related_model not in self.written:
                    self.referenced[field.related_model].update(row[field.attname] for row in rows)
        # Columns with the same value in every row (stamps, defaults, references a batch does not use)
        # are written once, after the others.
        first = rows[0]
        same = [c for c in columns if all(row[c] is first[c] for row in rows)]
        varying = [c for c in columns if c not in same]
        columns = [model._meta.pk.column, *varying, *same]
        tail = "".join("\t" + _copy_text(first[c]) for c in same)
        if varying:
            pick = itemgetter(*varying) if len(varying) > 1 else lambda row: (row[varying[0]],)
            lines = [f"{id_}\t{_copy_line(pick(row))}{tail}" for id_, row in zip(ids, rows, strict=True)]
        else:
            lines = [f"{id_}{tail}" for id_ in ids]
        self._copy(model, columns, lines)
        return ids, columns, lines

    def _copy(self, model, columns: list[str], lines: list[str]) -> None:
        quote = connection.ops.quote_name
        self._send(
            f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN",
            io.BytesIO(("\n".join(lines) + "\n").encode()),
        )

    def create(self, model, rows: list[dict]) -> list[int]:
        """Insert ``rows`` and their history rows; their new ids, in order."""
        ids, columns, lines = self._insert(model, rows)
        if not ids or not self.history or not hasattr(model, "history"):
            return ids
        historical = model.history.model
        fixed = {
            "history_date": connection.ops.adapt_datetimefield_value(self.now),
            "history_change_reason": CHANGE_REASON, "history_type": "+", "history_user_id": None,
        }
        if self.copy:
            # The history rows are the lines just sent, each after its history id and before the fixed columns.
            # A KeyError here is a history column this import does not know how to fill.
            extra = [f for f in historical._meta.concrete_fields if not f.primary_key and f.column not in columns]
            suffix = "".join("\t" + _copy_text(fixed[f.attname]) for f in extra)
            history_ids = next_ids(historical, len(ids))
            self._copy(
                historical, [historical._meta.pk.column, *columns, *(f.column for f in extra)],
                [f"{hid}\t{line}{suffix}" for hid, line in zip(history_ids, lines, strict=True)],
            )
            self.history_ids[model].update(zip(ids, history_ids, strict=True))
            return ids
        stored = {f.attname: f.column for f in model._meta.concrete_fields}
        chosen, params = [], []
        for field in historical._meta.concrete_fields:
            if field.primary_key:
                continue
            if field.attname in stored:
                chosen.append((field.column, f"r.{self._quote(stored[field.attname])}"))
            else:  # a KeyError here is a history column this import does not know how to fill
                chosen.append((field.column, "%s"))
                params.append(fixed[field.attname])
        self._copy_rows(historical, chosen, params, model, "r", model._meta.pk.column, ids)
        return ids

    def links(self, model, name: str, pairs: list[tuple[int, int]]) -> int:
        """Many-to-many links (new row's id, target id) of new rows of ``model``, with their history rows
        (the links as they stood in each row's "+" history row)."""
        if not pairs:
            return 0
        field = model._meta.get_field(name)
        through = field.remote_field.through
        source, target = f"{field.m2m_field_name()}_id", f"{field.m2m_reverse_field_name()}_id"
        link_ids = self.insert(through, [{source: a, target: b} for a, b in pairs])
        if not (self.history and hasattr(model, "history") and field in model.history.model._history_m2m_fields):
            return len(pairs)
        historical = model.history.model
        history_links = getattr(historical, name).model
        if self.copy:
            # Each link's history row, attached to its row's "+" history row (``create`` of this bulk).
            owners = self.history_ids[model]
            fields = [f for f in history_links._meta.concrete_fields if not f.primary_key]
            lines = []
            for link_id, (a, b) in zip(link_ids, pairs, strict=True):
                values = {"history_id": owners[a], through._meta.pk.attname: link_id, source: a, target: b}
                lines.append("\t".join(str(values[f.attname]) for f in fields))
            ids = next_ids(history_links, len(lines))
            self._copy(
                history_links, [history_links._meta.pk.column, *(f.column for f in fields)],
                [f"{id_}\t{line}" for id_, line in zip(ids, lines, strict=True)],
            )
            return len(pairs)
        linked = {f.attname: f.column for f in through._meta.concrete_fields}
        chosen = [
            (f.column, "h.history_id" if f.attname == "history_id" else f"l.{self._quote(linked[f.attname])}")
            for f in history_links._meta.concrete_fields if not f.primary_key
        ]
        join = (
            f" JOIN {self._quote(historical._meta.db_table)} h ON h.{self._quote('id')} = "
            f"l.{self._quote(through._meta.get_field(field.m2m_field_name()).column)} AND h.history_type = '+'"
        )
        # h.id is restricted too (it equals l.event_id), so the join reads only this batch's history rows.
        self._copy_rows(
            history_links, chosen, [], through, "l", source, sorted({a for a, _ in pairs}), join,
            also=f"h.{self._quote('id')}",
        )
        return len(pairs)

    @staticmethod
    def _quote(name: str) -> str:
        return connection.ops.quote_name(name)

    def _copy_rows(self, into, chosen, params, source_model, alias, key, ids, join="", also="") -> None:
        """``INSERT INTO into (...) SELECT ... FROM source_model alias [join] WHERE alias.key IN ids
        [AND also IN ids]``: the history rows where there is no ``COPY`` (SQLite)."""
        q = self._quote
        columns = ", ".join(q(column) for column, _ in chosen)
        selected = ", ".join(expression for _, expression in chosen)
        # Names come from the models' meta, quoted; values are parameters.
        sql = (
            f"INSERT INTO {q(into._meta.db_table)} ({columns}) SELECT {selected} "  # noqa: S608
            f"FROM {q(source_model._meta.db_table)} {alias}{join} WHERE "
        )
        keys = [f"{alias}.{q(key)}", *([also] if also else [])]
        with connection.cursor() as cursor:
            for start in range(0, len(ids), 500):  # bounded parameter lists
                part = ids[start : start + 500]
                listed = ", ".join(["%s"] * len(part))
                condition = " AND ".join(f"{k} IN ({listed})" for k in keys)
                cursor.execute(sql + condition, [*params, *part * len(keys)])


# The kind of record each model holds, as ``SPECS`` names it.
KINDS = {model: kind for kind, model in MODELS.items()}
# The fields of an event given by the file, and every column of a new one with its default.
EVENT_FIELDS = ("slug", "title", "summary", "body", "kind", "date", "date_precision", "end_date",
                "end_date_precision", "publication_status")
NEW_EVENT = {f.attname: None if f.has_default() and callable(f.default) else f.get_default()
             for f in Event._meta.concrete_fields if not f.primary_key} | {"origin": Event.Origin.EDITORIAL}


def _prepare_events(records: list[tuple[int, dict]]) -> dict[int, dict | ValidationError]:
    """For each event (position, record), what its row takes from the model: checked with
    ``Event.clean()``, with ``span_end`` and ``search_text`` computed by the model's functions
    (``bulk_create`` and ``COPY`` skip ``save()``); or the ``ValidationError``.

    No database access: the reading thread (``_Events``) runs it. One model instance is
    reused for every event."""
    probe = Event(origin=Event.Origin.EDITORIAL)
    prepared = {}
    for n, rec in records:
        for name in EVENT_FIELDS:
            setattr(probe, name, rec[name])
        try:
            probe.clean()
        except ValidationError as exc:
            prepared[n] = exc
            continue
        computed = {name: getattr(probe, name) for name in EVENT_FIELDS}
        computed["span_end"] = probe.compute_span_end()
        computed["search_text"] = Event.search_text_for(probe.title, probe.summary)
        prepared[n] = computed
    return prepared


class _Loader:
    """Writes one validated dataset. Slug -> row maps are built once per kind (for the events,
    once per batch for the slugs not seen yet), so looking up references costs no query per
    row; only rows that change are written."""

    def __init__(self, data: dict):
        self.data = data
        self.stats: Counter = Counter()
        self.rows: dict[str, dict[str, Model]] = defaultdict(dict)
        self.deadlines: dict[tuple[str, str], Deadline] = {}
        self.handovers: dict[tuple[str | None, str], Handover] = {}
        self.provisions: dict[tuple[str, int], Provision] = {}
        # (record kind, instance, citations) and (record kind, instance, discrepancies) of the head, written at the end.
        self.cited: list[tuple[str, Model, list[dict]]] = []
        self.disputed: list[tuple[str, Model, list[dict], str]] = []
        self.touched_deadlines: set[int] = set()
        self.writes = 0  # rows saved or deleted and link sets changed, to tell what an import touched
        self.updated: set[tuple[str, int]] = set()  # (kind, pk) of stored rows this load changed
        # (kind, pk) of rows created by this load: nothing of theirs needs comparing.
        self.fresh_ids: set[tuple[str, int]] = set()
        # Events named as evidence by status changes: slug -> id, noted as the events go by.
        self.evidence = {
            slug for a in data.get("agreements") or [] for p in a["provisions"] for c in p["status_changes"]
            for slug in c["evidence_events"]
        }
        self.event_ids: dict[str, int] = {}
        # What the rows of planned batches refer to, checked once at the end (``References``).
        self.references = References()

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
        # Foreign keys were resolved from rows already loaded: skip the per-row existence queries. A new row's
        # keys were looked up and found free, so its uniqueness and constraint checks (one query each) are left
        # to the database, whose refusal names the record below.
        relations = [f.name for f in obj._meta.concrete_fields if f.is_relation]
        try:
            obj.full_clean(exclude=relations, validate_unique=not creating, validate_constraints=not creating)
        except ValidationError as exc:
            raise DatasetError(_messages(where, exc)) from exc
        try:
            obj.save()
        except DatabaseError as exc:  # a constraint the checks above leave to the database
            raise DatasetError([_refused(where, exc)]) from exc
        self.count(obj, "created" if creating else "updated")
        self.writes += 1
        kind = KINDS.get(type(obj), obj._meta.model_name)
        (self.fresh_ids if creating else self.updated).add((kind, obj.pk))
        return True

    def set_m2m(self, obj: Model, name: str, wanted_ids: set[int], have: set[int]) -> None:
        if wanted_ids != have:
            getattr(obj, name).set(wanted_ids)
            self.count(obj, f"{name} updated")
            self.writes += 1

    def existing(self, kind: str, slugs) -> dict[str, Model]:
        return {row.slug: row for batch in _batches(sorted(set(slugs))) for row in _stored(kind).filter(slug__in=batch)}

    def ref(self, kind: str, slug: str | None) -> Model | None:
        return self.rows[kind][slug] if slug else None

    def pk(self, kind: str, slug: str | None) -> int | None:
        return self.rows[kind][slug].pk if slug else None

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
            self.writes += 1
        return result

    # -- the head, in dependency order ---------------------------------------------------

    def load_head(self) -> None:
        """Everything but the events: conflicts, parties, sources, districts, agreements, handovers."""
        data = self.data
        referenced = defaultdict(set)
        for section, kind in SECTIONS.items():
            if kind == "event":
                continue
            for record in data[section]:
                _referenced(record, kind, referenced)
                if kind in SLUGGED:
                    referenced[kind].add(record["slug"])
        for kind in SLUGGED:
            self.rows[kind] = self.existing(kind, referenced[kind])
        self.load_conflicts()
        self.load_parties()
        self.load_sources()
        self.load_districts()
        self.load_agreements()
        self.load_handovers()

    def finish(self) -> None:
        """What needed every event first, then the citations and discrepancies of the head, then derived state."""
        if problems := self.references.verify():
            raise DatasetError(problems)
        missing = self.evidence - set(self.event_ids)
        if missing:
            self.event_ids |= dict(_stored("event").filter(slug__in=missing).values_list("slug", "pk"))
        self.load_status_changes()
        by_kind = defaultdict(list)
        for kind, obj, citations in self.cited:
            by_kind[kind].append((obj.pk, citations))
        for kind, items in by_kind.items():
            self.sync_citations(kind, items)
        by_kind = defaultdict(list)
        for kind, obj, items, where in self.disputed:
            by_kind[kind].append((obj.pk, items, where))
        for kind, entries in by_kind.items():
            self.sync_discrepancies(kind, entries)
        self.rederive()

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
            if ("deadline", deadline.pk) in self.updated:
                self.touched_deadlines.add(deadline.pk)
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
                writes = self.writes
                written = self.sync_children(Postponement, stored[deadline.pk], wanted, {"deadline": deadline})
                for i, p in enumerate(d["postponements"]):
                    postponement = written[i + 1]
                    parties = {self.pk("party", slug) for slug in p["agreed_by"]}
                    self.set_m2m(postponement, "agreed_by", parties, agreed.get(postponement.pk, set()))
                    self.cited.append(("postponement", postponement, p["citations"]))
                if self.writes != writes and ("deadline", deadline.pk) not in self.fresh_ids:
                    # deadline_refresh renumbers, chains and re-derives a stored deadline whose postponements
                    # changed. A new deadline's were written in order and chained already.
                    self.touched_deadlines.add(deadline.pk)

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

    # -- the events, batch by batch ---------------------------------------------------------

    def load_events(
        self, records: list[tuple[int, dict]], prepared: dict | None = None, plan: "_Plan | None" = None
    ) -> list[str]:
        """Write one batch of validated events (position in the file, record).

        New events are checked with the model's ``clean()`` (``_prepare_events``,
        which ``prepared`` holds when the reading thread has run it) and written
        in bulk (``_create_events``); events already stored are compared and only
        those that differ are saved (``_update_events``). Returns the problems
        that stop the batch; nothing of it is written then. ``plan``: the
        reading thread's statements for the batch (``plan_events``), sent as
        they are when none of its events is stored yet.
        """
        if not records:
            return []
        slugs = [rec["slug"] for _, rec in records]
        if plan is not None and not self._any_stored(slugs):
            self._create_events(plan.fresh, plan)
            return []
        if prepared is None:
            prepared = _prepare_events(records)
        found = defaultdict(set)
        for _, rec in records:
            _referenced(rec, "event", found)
        for kind, found_slugs in found.items():
            if kind != "event" and (missing := found_slugs - self.rows[kind].keys()):
                self.rows[kind] |= self.existing(kind, missing)
        stored = {e.slug: e for e in Event.objects.filter(slug__in=slugs)}
        now = timezone.now()
        errors, fresh, known = [], [], []
        for n, rec in records:
            where = f'events[{n}] (slug "{rec["slug"]}")'
            obj = stored.get(rec["slug"])
            if obj is None:
                if isinstance(prepared[n], ValidationError):
                    errors += _messages(where, prepared[n])
                else:
                    fresh.append((n, rec, self._new_event(rec, prepared[n], now)))
            elif obj.origin != Event.Origin.EDITORIAL:
                errors.append(f"{where}: slug: is already used by a derived timeline entry")
            else:
                known.append((n, rec, obj, where))
        if errors:
            return errors
        if fresh:
            self._create_events(fresh, bulk=_Bulk(now=now))
        if known:
            self._update_events(known)
        for _, rec, obj, _ in known:
            if rec["slug"] in self.evidence:
                self.event_ids[rec["slug"]] = obj.pk
        return []

    def _any_stored(self, slugs: list[str]) -> bool:
        """Whether an event with one of ``slugs`` is stored (one array parameter: no per-slug work)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {connection.ops.quote_name(Event._meta.db_table)} WHERE slug = ANY(%s) LIMIT 1",  # noqa: S608
                [slugs],
            )
            return cursor.fetchone() is not None

    def _event_values(self, rec: dict) -> dict:
        values = {k: rec[k] for k in EVENT_FIELDS if k != "slug"}
        values["conflict"] = self.ref("conflict", rec["conflict"])
        values["claimed_by"] = self.ref("party", rec["claimed_by"])
        values["agreement"] = self.ref("agreement", rec["agreement"])
        values["handover"] = self._handover_for(rec["handover"]) if rec["handover"] else None
        values["deadline"] = self._deadline_for(rec["deadline"]) if rec["deadline"] else None
        return values

    def _new_event(self, rec: dict, computed: dict, now: dt.datetime, *, look_up: bool = True) -> dict:
        """The row of a new event: what the file and ``_prepare_events`` give, its references' ids, and
        what ``save()`` would set. ``look_up=False``: no query (the reading thread); a reference not
        loaded yet raises ``KeyError``."""
        published = rec["publication_status"] == PublicationStatus.PUBLISHED
        handover, deadline = rec["handover"], rec["deadline"]
        if look_up:
            handover_id = self._handover_for(handover).pk if handover else None
            deadline_id = self._deadline_for(deadline).pk if deadline else None
        else:
            handover_id = self.handovers[(handover["agreement"], handover["district"])].pk if handover else None
            deadline_id = self.deadlines[(deadline["agreement"], deadline["obligation"])].pk if deadline else None
        return {
            **NEW_EVENT, **computed,
            "conflict_id": self.pk("conflict", rec["conflict"]),
            "claimed_by_id": self.pk("party", rec["claimed_by"]),
            "agreement_id": self.pk("agreement", rec["agreement"]),
            "handover_id": handover_id,
            "deadline_id": deadline_id,
            "published_at": now if published else None,  # as PublishableModel.save()
            "created_at": now, "updated_at": now,
        }

    @cached_property
    def without_triggers(self) -> bool:
        """Whether planned batches are sent without their foreign-key triggers (where the connection may)."""
        return References.allowed()

    def plan_events(self, checked: "_Checked", prepared: dict) -> "_Plan | None":
        """In the reading thread: the statements that would write a batch of new events, with their ids
        drawn from the sequences on that thread's own connection, for ``load_events`` to send while this
        thread reads on. No query sees the import's transaction, so ``None`` (``load_events`` does it
        all then) wherever that could matter: not PostgreSQL, a problem found, a reference not loaded
        yet. Whether the events are new is only known to ``load_events``: it drops the plan otherwise."""
        bulk = _Bulk(deferred=True)
        if not bulk.deferred or checked.errors or not checked.records:
            return None
        records = checked.records
        if any(isinstance(prepared[n], ValidationError) for n, _ in records):
            return None
        try:
            fresh = [(n, rec, self._new_event(rec, prepared[n], bulk.now, look_up=False)) for n, rec in records]
            return self._plan(bulk, fresh)
        except KeyError:  # a record of the database the file only names: load_events looks it up
            return None

    def _plan(self, bulk: _Bulk, fresh: list[tuple[int, dict, dict]]) -> "_Plan":
        """New events with their history, links (and their history), control changes and citations,
        through ``bulk``: a fixed number of statements per batch, sent now or recorded (``_Bulk.deferred``)."""
        ids = bulk.create(Event, [row for _, _, row in fresh])
        pairs = list(zip(ids, [rec for _, rec, _ in fresh], strict=True))
        districts, parties = self.rows["district"], self.rows["party"]
        bulk.links(Event, "districts", [(pk, districts[s].pk) for pk, rec in pairs for s in rec["districts"]])
        bulk.links(Event, "parties", [(pk, parties[s].pk) for pk, rec in pairs for s in rec["parties"]])
        template = bulk.template(ControlChange)
        changes = [
            {**template, "event_id": pk, "district_id": districts[c["district"]].pk,
             "controlled_by_id": parties[c["controlled_by"]].pk}
            for pk, rec in pairs for c in rec["control_changes"]
        ]
        bulk.create(ControlChange, changes)
        template = bulk.template(Citation)
        citations = [
            row for pk, rec in pairs
            for row in self._citation_rows(template, "event", pk, self._citations_wanted(rec["citations"]))
        ]
        bulk.create(Citation, citations)
        disputed = [(pk, rec["discrepancies"], f'events[{n}] (slug "{rec["slug"]}")')
                    for pk, (n, rec, _) in zip(ids, fresh, strict=True) if rec["discrepancies"]]
        return _Plan(bulk, fresh, ids, len(changes), len(citations), disputed)

    def _create_events(self, fresh: list[tuple[int, dict, dict]], plan: "_Plan | None" = None, bulk=None) -> None:
        """New events (``_plan``), written inside a savepoint, so that a batch the database refuses can be
        examined row by row to name the record at fault. ``plan``: their statements, already recorded."""
        try:
            with transaction.atomic():
                if plan is None:
                    plan = self._plan(bulk or _Bulk(), fresh)
                plan.bulk.run(without_triggers=self.without_triggers)
                if self.without_triggers:
                    self.references.add(plan.bulk)
                self.fresh_ids |= {("event", pk) for pk in plan.ids}
                self.sync_discrepancies("event", plan.disputed)
        except DatabaseError as exc:
            raise DatasetError(self._examine(fresh, exc)) from exc
        self.count(Event, "created", len(plan.ids))
        self.count(ControlChange, "created", plan.changes)
        self.count(Citation, "created", plan.citations)
        for pk, (_, rec, _) in zip(plan.ids, fresh, strict=True):
            if rec["slug"] in self.evidence:
                self.event_ids[rec["slug"]] = pk

    def _examine(self, fresh: list[tuple[int, dict, dict]], exc: DatabaseError) -> list[str]:
        """Why the database refused a batch of new events: each row checked with every model check."""
        problems = []
        for n, rec, row in fresh:
            event = Event(**row)
            try:
                event.full_clean(exclude=["slug"])
            except ValidationError as error:
                problems += _messages(f'events[{n}] (slug "{rec["slug"]}")', error)
        if problems:
            return problems
        first, last = fresh[0][0], fresh[-1][0]
        return [_refused(f"events[{first}] to events[{last}]", exc)]

    def _update_events(self, known: list[tuple[int, dict, Event, str]]) -> None:
        """Events already stored: compared with the file; only what differs is written."""
        for _, rec, obj, where in known:
            self.write(obj, self._event_values(rec), where)
        events = [obj for _, _, obj, _ in known]
        have_districts, have_parties, changes = defaultdict(set), defaultdict(set), defaultdict(dict)
        for row in Event.districts.through.objects.filter(event__in=events):
            have_districts[row.event_id].add(row.district_id)
        for row in Event.parties.through.objects.filter(event__in=events):
            have_parties[row.event_id].add(row.party_id)
        for change in ControlChange.objects.filter(event__in=events).select_related("district"):
            changes[change.event_id][change.district.slug] = change
        for n, rec, event, _ in known:
            self.set_m2m(event, "districts", {self.pk("district", s) for s in rec["districts"]}, have_districts[event.pk])
            self.set_m2m(event, "parties", {self.pk("party", s) for s in rec["parties"]}, have_parties[event.pk])
            wanted = [
                (c["district"],
                 {"district": self.ref("district", c["district"]), "controlled_by": self.ref("party", c["controlled_by"])},
                 f'events[{n}] (slug "{rec["slug"]}").control_changes[{i}]')
                for i, c in enumerate(rec["control_changes"])
            ]
            self.sync_children(ControlChange, changes[event.pk], wanted, {"event": event})
        self.sync_citations("event", [(event.pk, rec["citations"]) for _, rec, event, _ in known])
        self.sync_discrepancies("event", [(event.pk, rec["discrepancies"], where) for _, rec, event, where in known])

    # -- what every record may carry ------------------------------------------------------------

    def _citations_wanted(self, citations: list[dict]) -> list[tuple[int, str, str]]:
        sources = self.rows["source"]
        return [(sources[c["source"]].pk, c["passage"], c["locator"]) for c in citations]

    @staticmethod
    def _citation_rows(template: dict, kind: str, pk: int, wanted: list[tuple[int, str, str]]) -> list[dict]:
        return [
            {**template, f"{kind}_id": pk, "source_id": source_id, "passage": passage, "locator": locator, "order": n}
            for n, (source_id, passage, locator) in enumerate(wanted)
        ]

    def sync_citations(self, kind: str, items: list[tuple[int, list[dict]]]) -> None:
        """Make each record's citations (record id, file's citations) the file's; a list is replaced
        only where it differs. New citations are written in bulk with their history rows."""
        bulk = _Bulk()
        have = defaultdict(list)
        stored = [pk for pk, _ in items if (kind, pk) not in self.fresh_ids]
        for batch in _batches(stored):
            rows = Citation.objects.filter(**{f"{kind}_id__in": batch}).order_by("order", "id")
            for parent_id, source_id, passage, locator in rows.values_list(
                f"{kind}_id", "source_id", "passage", "locator"
            ):
                have[parent_id].append((source_id, passage, locator))
        stale, fresh = [], []
        template = bulk.template(Citation)
        for pk, citations in items:
            wanted = self._citations_wanted(citations)
            if wanted == have[pk]:
                self.count(Citation, "unchanged", len(wanted))
                continue
            if have[pk]:
                stale.append(pk)
            fresh.extend(self._citation_rows(template, kind, pk, wanted))
        for batch in _batches(stale):
            deleted, _ = Citation.objects.filter(**{f"{kind}_id__in": batch}).delete()
            self.count(Citation, "deleted", deleted)
        bulk.create(Citation, fresh)
        self.count(Citation, "created", len(fresh))

    def sync_discrepancies(self, kind: str, entries: list[tuple[int, list[dict], str]]) -> None:
        """Make each record's discrepancies (record id, file's discrepancies, where) the file's."""
        have = defaultdict(list)
        stored = [pk for pk, _, _ in entries if (kind, pk) not in self.fresh_ids]
        for batch in _batches(stored):
            rows = Discrepancy.objects.filter(**{f"{kind}_id__in": batch}).prefetch_related("sources").order_by("id")
            for d in rows:
                sources = sorted(s.pk for s in d.sources.all())
                have[getattr(d, f"{kind}_id")].append((d.aspect, d.description, sources))
        for pk, items, where in entries:
            wanted = [
                (i["aspect"], i["description"], sorted(self.pk("source", s) for s in i["sources"])) for i in items
            ]
            if wanted == have[pk]:
                self.count(Discrepancy, "unchanged", len(wanted))
                continue
            if have[pk]:
                deleted, _ = Discrepancy.objects.filter(**{f"{kind}_id": pk}).delete()
                self.count(Discrepancy, "deleted", deleted)
            for n, (aspect, description, source_ids) in enumerate(wanted):
                discrepancy = Discrepancy(**{f"{kind}_id": pk}, aspect=aspect, description=description)
                self.write(discrepancy, {}, f"{where}.discrepancies[{n}]")
                discrepancy.sources.set(source_ids)

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
                    events = {self.event_ids[s] for s in c["evidence_events"]}
                    handovers = {self._handover_for(h).pk for h in c["evidence_handovers"]}
                    self.set_m2m(change, "evidence_events", events, evidence_events[change.pk])
                    self.set_m2m(change, "evidence_handovers", handovers, evidence_handovers[change.pk])
                    self.cited.append(("status_change", change, c["citations"]))

    def rederive(self) -> None:
        """Bring derived state (due dates, handover status, derived timeline entries) in step, via services.

        ``services.deadline_refresh`` for each stored deadline whose row or postponements this import
        changed (it refreshes the deadline's handover and entries too), ``handover_refresh`` for the
        file's handovers, then what ``services.derived_events_sync_all`` does for the file's
        agreements, without syncing again what was just synced.
        """
        synced_deadlines, synced_handovers = set(), set()
        for deadline in Deadline.objects.filter(pk__in=self.touched_deadlines).order_by("pk"):
            services.deadline_refresh(deadline=deadline)
            synced_deadlines.add(deadline.pk)
        for handover in self.handovers.values():
            if handover.pk not in synced_handovers:
                services.handover_refresh(handover=handover)
                synced_handovers.add(handover.pk)
        for rec in self.data["agreements"]:
            agreement = self.rows["agreement"][rec["slug"]]
            services.derived_events_sync_agreement(agreement=agreement)
            for deadline in agreement.deadlines.all():
                if deadline.pk not in synced_deadlines:
                    services.derived_events_sync_deadline(deadline=deadline)
                    synced_deadlines.add(deadline.pk)
        for handover in Handover.objects.exclude(pk__in=synced_handovers):
            services.derived_events_sync_handover(handover=handover)
            synced_handovers.add(handover.pk)
        # Derived entries write parties' names: those this import renamed or (un)published are written
        # anew where the syncs above did not reach (deadlines of agreements the file does not carry).
        if parties := [pk for kind, pk in self.updated if kind == "party"]:
            services.derived_events_sync_parties(
                party_ids=parties, except_deadlines=synced_deadlines, except_handovers=synced_handovers
            )

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
