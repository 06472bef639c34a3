"""import_timeline at scale: events written in batches, files read incrementally, bounded memory.

``dataset.BATCH`` is made small here so that a few dozen events span several
batches; the code paths are those of a 100,000-event file.
"""

import datetime as dt
import io
import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from timeline import dataset, record_time
from timeline.models import Citation, Conflict, ControlChange, District, Event, Party, Source
from timeline.tests.factories import ConflictFactory, DistrictFactory, PartyFactory, SourceFactory
from timeline.tests.test_dataset_import import import_data, minimal, snapshot

pytestmark = pytest.mark.django_db

BATCH = 5


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(dataset, "BATCH", BATCH)


def many_events(count: int) -> list[dict]:
    """``count`` events of ``minimal()``'s conflict: days, months, spans, claims, control changes."""
    events = []
    for n in range(count):
        day = dt.date(2020, 1, 1) + dt.timedelta(days=n)
        event = {
            "slug": f"event-{n:03d}", "conflict": "test-conflict", "title": f"Event number {n} in Üpper",
            "summary": f"Something happened on day {n}.", "kind": "military", "date": day.isoformat(),
            "districts": ["upper"], "parties": ["north", "south"] if n % 2 else ["south"],
            "publication_status": "published" if n % 3 else "draft",
            "citations": [{"source": "report", "passage": f"Passage {n}.", "locator": f"paragraph {n}"}],
        }
        if n % 4 == 1:
            event |= {"date": day.replace(day=1).isoformat(), "date_precision": "month",
                      "end_date": "2021-06-01", "end_date_precision": "month"}
        if n % 7 == 3:
            event["control_changes"] = [{"district": "upper", "controlled_by": "north"}]
        if n % 5 == 2:
            event["claimed_by"] = "north"
        events.append(event)
    return events


def dataset_with(count: int) -> dict:
    data = minimal()
    data["events"] = many_events(count)
    return data


def editorial_events():
    return Event.objects.filter(origin=Event.Origin.EDITORIAL)


@pytest.mark.parametrize("count", [BATCH - 1, BATCH, BATCH + 1, 2 * BATCH, 3 * BATCH + 2])
def test_every_event_is_written_whatever_the_batch_boundaries(tmp_path, count):
    output = import_data(tmp_path, dataset_with(count))

    assert f"event: created: {count}" in output.splitlines()
    assert editorial_events().count() == count
    assert Event.districts.through.objects.filter(event__origin=Event.Origin.EDITORIAL).count() == count
    assert Citation.objects.filter(event__origin=Event.Origin.EDITORIAL).count() == count
    assert ControlChange.objects.count() == len([n for n in range(count) if n % 7 == 3])
    last = Event.objects.get(slug=f"event-{count - 1:03d}")
    assert list(last.citations.values_list("passage", "locator")) == [(f"Passage {count - 1}.", f"paragraph {count - 1}")]


def test_new_events_get_what_their_save_would_have_computed(tmp_path):
    import_data(tmp_path, dataset_with(3 * BATCH))

    span = Event.objects.get(slug="event-001")
    assert (span.date, span.end_date, span.span_end) == (dt.date(2020, 1, 1), dt.date(2021, 6, 1), dt.date(2021, 6, 30))
    assert span.search_text == Event.search_text_for(span.title, span.summary) == (
        "event number 1 in upper something happened on day 1."
    )
    published, draft = Event.objects.get(slug="event-002"), Event.objects.get(slug="event-003")
    assert (published.publication_status, published.published_at is not None, published.version) == ("published", True, 1)
    assert (draft.publication_status, draft.published_at) == ("draft", None)
    assert Event.objects.get(slug="event-002").claimed_by.slug == "north"


def test_each_new_event_has_one_history_row_holding_its_links_and_citations(tmp_path):
    import_data(tmp_path, dataset_with(2 * BATCH + 1))
    event = Event.objects.get(slug="event-007")

    row = event.history.get()
    assert (row.history_type, row.history_change_reason, row.history_user) == ("+", dataset.CHANGE_REASON, None)
    assert (row.title, row.search_text, row.span_end) == (event.title, event.search_text, event.span_end)
    assert sorted(link.party_id for link in row.parties.all()) == sorted(event.parties.values_list("pk", flat=True))
    assert [link.district_id for link in row.districts.all()] == [event.districts.get().pk]
    assert [c.history_type for c in Citation.history.filter(event_id=event.pk)] == ["+"]


def test_imported_events_show_their_districts_and_citations_as_published(tmp_path):
    import_data(tmp_path, dataset_with(BATCH + 2))
    moment = dt.datetime.now(dt.UTC)

    event = record_time.latest_rows(Event, moment).get(slug="event-005").instance
    record_time.prefetch([event], moment, "districts", "citations__source")

    assert [d.slug for d in event.districts.all()] == ["upper"]
    assert [c.passage for c in event.citations.all()] == ["Passage 5."]


def test_importing_a_file_of_several_batches_twice_changes_nothing(tmp_path):
    data = dataset_with(3 * BATCH)
    import_data(tmp_path, data)
    before = snapshot()

    output = import_data(tmp_path, data)

    assert snapshot() == before
    assert "already up to date, nothing changed" in output


def test_a_second_import_writes_only_the_events_that_changed(tmp_path):
    data = dataset_with(3 * BATCH)
    import_data(tmp_path, data)
    data["events"][7]["districts"] = []
    data["events"][12]["citations"][0]["passage"] = "Corrected passage."

    output = import_data(tmp_path, data)

    assert "event: districts updated: 1" in output.splitlines()
    assert "citation: created: 1" in output.splitlines() and "citation: deleted: 1" in output.splitlines()
    assert not Event.objects.get(slug="event-007").districts.exists()
    assert Event.objects.get(slug="event-012").citations.get().passage == "Corrected passage."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"date_precision": "month"}, "date: At month precision the date must be the 1st of the month (got 2020-01-08)."),
        ({"kind": "skirmish"}, 'kind: must be one of '),
        ({"districts": ["atlantis"]}, 'districts: unknown district "atlantis"'),
    ],
    ids=["model check", "shape check", "reference check"],
)
def test_a_bad_event_in_the_middle_of_a_batch_names_itself_and_nothing_is_written(tmp_path, change, message):
    import_data(tmp_path, minimal())
    before = snapshot()
    data = dataset_with(3 * BATCH)
    data["events"][BATCH + 2] |= change  # the middle of the second batch: the first one has been written by then

    with pytest.raises(CommandError) as failure:
        import_data(tmp_path, data, "bad.json")

    lines = str(failure.value).splitlines()
    assert "nothing was written" in lines[0]
    assert any(line.startswith(f'  events[{BATCH + 2}] (slug "event-007"): {message}') for line in lines), lines
    assert snapshot() == before


def test_problems_in_several_batches_are_all_listed(tmp_path):
    data = dataset_with(3 * BATCH)
    data["events"][1]["kind"] = "skirmish"
    data["events"][3 * BATCH - 1]["parties"] = ["west"]

    with pytest.raises(CommandError) as failure:
        import_data(tmp_path, data)

    lines = str(failure.value).splitlines()
    assert any(line.startswith('  events[1] (slug "event-001"): kind: must be one of') for line in lines)
    assert f'  events[{3 * BATCH - 1}] (slug "event-014"): parties: unknown party "west"' in lines
    assert not Event.objects.exists()


def test_a_row_the_database_refuses_is_named_even_when_the_model_let_it_through(tmp_path, monkeypatch):
    """The CHECK constraints guard every bulk-written row; a refused batch is examined row by row."""
    monkeypatch.setattr(Event, "clean", lambda self: None)  # as if the model's own check had a gap
    data = dataset_with(2 * BATCH)
    data["events"][BATCH + 1]["date_precision"] = "year"

    with pytest.raises(CommandError) as failure:
        import_data(tmp_path, data)

    lines = str(failure.value).splitlines()
    assert any(line.startswith(f'  events[{BATCH + 1}] (slug "event-006"): ') and "event_precision_matches_date" in line
               for line in lines), lines
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "T" * 301, "title: Ensure this value has at most 300 characters (it has 301)."),
        ("summary", "Zero\x00byte", "summary: must not contain the NUL character"),
        ("slug", "event-000\n", 'slug: must be a slug of letters, digits, hyphens and underscores (got "event-000\n")'),
    ],
)
def test_field_checks_of_the_model_are_made_on_the_file(tmp_path, field, value, message):
    data = dataset_with(2)
    data["events"][0][field] = value

    with pytest.raises(CommandError) as failure:
        import_data(tmp_path, data)

    assert message in str(failure.value)
    assert not Event.objects.exists()


# --------------------------------------------------------------------------
# Reading: never the whole file
# --------------------------------------------------------------------------


def test_events_are_read_one_at_a_time_not_with_the_whole_file(monkeypatch):
    monkeypatch.setattr(dataset._Reader, "CHUNK", 1024)
    data = dataset_with(300)
    data["events"].sort(key=lambda e: e["slug"])
    body = json.dumps(data, indent=2, sort_keys=True).encode()  # "events" sorts before "parties": read twice
    stream = io.BytesIO(body)
    reader = dataset._Reader(stream)

    head = reader.head()
    events = reader.events()
    first = next(events)
    position = stream.tell()
    windows = [len(reader.buf)]
    for _ in events:
        windows.append(len(reader.buf))

    assert set(head) == {"format", "version", "conflicts", "parties", "sources", "districts", "agreements", "handovers"}
    assert first["slug"] == "event-000"
    # The first event came once the members before the events and a chunk or two were read, not the whole file.
    assert position <= body.index(b'"events"') + 2 * 1024 < len(body) / 20
    assert len(windows) == 300 and max(windows) <= 4 * 1024  # the window never held more than a few chunks


def test_a_file_that_is_not_seekable_is_copied_aside_and_imported():
    class Pipe(io.RawIOBase):  # standard input: read once, no seeking
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    stats = dataset.load_file(Pipe(json.dumps(dataset_with(BATCH + 1)).encode()))

    assert stats["event: created"] == BATCH + 1


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_invalid_json_anywhere_is_reported_at_the_line_and_column_json_gives(monkeypatch, cut):
    monkeypatch.setattr(dataset._Reader, "CHUNK", 512)
    lines = json.dumps(dataset_with(40), indent=2).split("\n")
    at = int(len(lines) * cut)
    broken = "\n".join([*lines[:at], "}", *lines[at:]])  # between lines: never inside a string
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)

    with pytest.raises(dataset.DatasetError) as failure:
        dataset.load_file(io.BytesIO(broken.encode()))

    error = expected.value
    assert failure.value.errors == [f"Invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}."]


def test_a_key_twice_inside_an_event_is_refused(tmp_path):
    text = json.dumps(dataset_with(2)).replace('"kind": "military"', '"kind": "military", "kind": "other"', 1)

    with pytest.raises(CommandError, match='the key "kind" appears twice in one object'):
        import_data(tmp_path, text)


def test_standard_input_is_read_when_the_file_is_a_dash(monkeypatch, tmp_path):
    class Stdin:
        buffer = io.BufferedReader(io.BytesIO(json.dumps(dataset_with(3)).encode()))

    monkeypatch.setattr("sys.stdin", Stdin)
    out = io.StringIO()

    call_command("import_timeline", "-", stdout=out)

    assert "event: created: 3" in out.getvalue()


def test_the_reading_thread_stops_when_the_import_fails_midway(tmp_path, monkeypatch):
    def fail(self, records, prepared=None, plan=None):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(dataset._Loader, "load_events", fail)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(dataset_with(10 * BATCH)), encoding="utf-8")  # more batches than the queue holds

    with pytest.raises(RuntimeError, match="the database went away"), path.open("rb") as stream:
        dataset.load_file(stream)

    assert not [t for t in threading.enumerate() if t.name == "dataset-reader"]
    assert not Event.objects.exists()


# -- PostgreSQL: batches planned by the reading thread, written without per-row trigger checks ---------

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY, sequences and triggers: PostgreSQL")


def planned_batches(monkeypatch) -> list[bool]:
    """Whether each batch written came with the reading thread's plan."""
    seen = []
    create = dataset._Loader._create_events

    def spy(self, fresh, plan=None, bulk=None):
        seen.append(plan is not None)
        return create(self, fresh, plan, bulk)

    monkeypatch.setattr(dataset._Loader, "_create_events", spy)
    return seen


@on_postgresql
def test_new_events_are_planned_by_the_reading_thread_batch_by_batch(tmp_path, monkeypatch):
    seen = planned_batches(monkeypatch)

    import_data(tmp_path, dataset_with(3 * BATCH + 2))

    assert seen == [True, True, True, True]
    assert editorial_events().count() == 3 * BATCH + 2
    assert not [t for t in threading.enumerate() if t.name == "dataset-reader"]


@on_postgresql
def test_events_naming_a_stored_party_the_file_does_not_carry_are_written_without_a_plan(tmp_path, monkeypatch):
    """The reading thread cannot see what the import's transaction holds; it leaves such a batch to the writer."""
    PartyFactory(slug="west")
    data = dataset_with(BATCH)
    data["events"][2]["parties"] = ["west"]
    seen = planned_batches(monkeypatch)

    import_data(tmp_path, data)

    assert seen == [False]
    assert list(Event.objects.get(slug="event-002").parties.values_list("slug", flat=True)) == ["west"]


@on_postgresql
def test_the_references_of_rows_written_without_triggers_are_checked_and_locked():
    party, district = PartyFactory(), DistrictFactory()
    references = dataset.References()
    references.referenced[Party] |= {party.pk, None}
    references.referenced[District] |= {district.pk}

    assert references.verify() == []


@on_postgresql
def test_a_referenced_row_deleted_during_the_import_stops_it():
    party = PartyFactory(name="Gone")
    references = dataset.References()
    references.referenced[Party] |= {party.pk}
    Party.objects.filter(pk=party.pk).delete()

    assert references.verify() == [
        f"parties {party.pk} were deleted while the file was being imported; import it again"
    ]


@on_postgresql
def test_rows_the_import_inserted_itself_are_not_looked_up_again():
    """A batch's citations name its own new events: only what stood before (the source) is checked."""
    conflict, source = ConflictFactory(), SourceFactory()
    bulk = dataset._Bulk(deferred=True)
    [event_id] = bulk.create(Event, [{**dataset.NEW_EVENT, "conflict_id": conflict.pk, "slug": "new", "title": "New"}])
    bulk.create(Citation, [{**bulk.template(Citation), "event_id": event_id, "source_id": source.pk}])

    assert {model: ids - {None} for model, ids in bulk.referenced.items() if ids - {None}} == {
        Conflict: {conflict.pk}, Source: {source.pk},
    }


@on_postgresql
def test_the_foreign_key_triggers_are_back_on_after_each_batch(tmp_path):
    import_data(tmp_path, dataset_with(BATCH + 1))

    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
