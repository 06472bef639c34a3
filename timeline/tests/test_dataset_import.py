"""import_timeline: loading a dataset file, idempotence, and refusing bad files whole."""

import copy
import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from timeline.models import (
    Agreement,
    Deadline,
    District,
    Event,
    Handover,
    Party,
    PublicationStatus,
)

pytestmark = pytest.mark.django_db

AGREEMENT = "ceasefire-2020"
OBLIGATION = "Return of the Upper district"


def minimal() -> dict:
    """A small but complete dataset: every kind of record once."""
    cite = [{"source": "report", "passage": "The words.", "locator": "paragraph 1"}]
    return {
        "format": "conflict-timeline",
        "version": 1,
        "conflicts": [{"slug": "test-conflict", "name": "Test conflict"}],
        "parties": [
            {"slug": "north", "name": "North", "kind": "state", "colour": "#0072B2", "publication_status": "published"},
            {"slug": "south", "name": "South", "kind": "state", "publication_status": "published"},
            {
                "slug": "group", "name": "Contact group", "kind": "mediator", "publication_status": "published",
                "memberships": [{"member": "north", "role": "co-chair"}],
            },
        ],
        "sources": [
            {"slug": "report", "title": "A report", "kind": "news_report", "published_on": "2020-11-25",
             "publication_status": "published"},
        ],
        "districts": [
            {
                "slug": "upper", "conflict": "test-conflict", "name": "Upper", "latitude": 40.1, "longitude": 46.04,
                "publication_status": "published",
                "aliases": [{"name": "Üpper", "language": "az"}, {"name": "Верхний", "language": "ru"}],
            },
        ],
        "agreements": [
            {
                "slug": AGREEMENT, "conflict": "test-conflict", "title": "Ceasefire statement",
                "kind": "ceasefire_statement", "signed_on": "2020-11-09",
                "effective_at": "2020-11-10T00:00:00+03:00", "effective_timezone": "Europe/Moscow",
                "publication_status": "published",
                "signatories": [{"party": "north", "person_name": "A. Leader"}, {"party": "south"}],
                "provisions": [{"number": 1, "summary": "Upper returns to North."}],
                "deadlines": [
                    {
                        "obligation": OBLIGATION, "provision": 1, "district": "upper", "obligated_party": "south",
                        "original_due_on": "2020-11-15", "citations": cite,
                        "postponements": [
                            {"to_date": "2020-11-25", "decided_on": "2020-11-15", "requested_by": "south",
                             "agreed_by": ["north"], "reason": "Snow on the only road.", "citations": cite},
                        ],
                    }
                ],
                "citations": cite,
                "discrepancies": [{"aspect": "date signed", "description": "9 or 10 November.", "sources": ["report"]}],
            }
        ],
        "handovers": [
            {"agreement": AGREEMENT, "district": "upper", "deadline": OBLIGATION, "from_party": "south",
             "to_party": "north", "completed_on": "2020-11-25", "publication_status": "published", "citations": cite},
        ],
        "events": [
            {
                "slug": "1992-south-holds-upper", "conflict": "test-conflict", "title": "South holds Upper",
                "summary": "South takes Upper.", "kind": "military", "date": "1992-01-01", "date_precision": "year",
                "districts": ["upper"], "parties": ["south"], "publication_status": "published", "citations": cite,
                "control_changes": [{"district": "upper", "controlled_by": "south"}],
            },
            {
                "slug": "2020-11-25-army-enters-upper", "conflict": "test-conflict", "title": "Army enters Upper",
                "summary": "North's army enters Upper.", "kind": "military", "date": "2020-11-25",
                "districts": ["upper"], "parties": ["north"], "publication_status": "published", "citations": cite,
                "handover": {"agreement": AGREEMENT, "district": "upper"},
            },
        ],
    }


def import_data(tmp_path, data, name="dataset.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = StringIO()
    call_command("import_timeline", str(path), stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Every row of every timeline table (history tables included), to compare before and after."""
    return {
        model._meta.label: sorted(model.objects.values_list(), key=repr)
        for model in apps.get_app_config("timeline").get_models()
    }


def test_it_imports_every_kind_of_record(tmp_path):
    import_data(tmp_path, minimal())
    upper = District.objects.get(slug="upper")
    assert sorted(upper.aliases.values_list("name", "language")) == [("Üpper", "az"), ("Верхний", "ru")]
    deadline = Deadline.objects.get(obligation=OBLIGATION)
    assert (deadline.original_due_on, deadline.due_on) == (dt.date(2020, 11, 15), dt.date(2020, 11, 25))
    postponement = deadline.postponements.get()
    assert (postponement.sequence, postponement.from_date, postponement.requested_by.slug) == (
        1, dt.date(2020, 11, 15), "south"
    )
    assert list(postponement.agreed_by.values_list("slug", flat=True)) == ["north"]
    handover = Handover.objects.get(district=upper)
    assert (handover.status, handover.delay_days) == (Handover.Status.COMPLETED, 10)
    agreement = Agreement.objects.get(slug=AGREEMENT)
    assert agreement.effective_at == dt.datetime(2020, 11, 9, 21, 0, tzinfo=dt.UTC)
    assert list(agreement.signatories.values_list("party__slug", "person_name", "order")) == [
        ("north", "A. Leader", 0), ("south", "", 1)
    ]
    assert agreement.discrepancies.get().aspect == "date signed"
    event = Event.objects.get(slug="1992-south-holds-upper")
    assert list(event.control_changes.values_list("district__slug", "controlled_by__slug")) == [("upper", "south")]
    assert list(event.citations.values_list("source__slug", "passage", "locator")) == [
        ("report", "The words.", "paragraph 1")
    ]
    assert list(Party.objects.get(slug="group").memberships.values_list("member__slug", "role")) == [
        ("north", "co-chair")
    ]


def test_it_re_derives_the_timeline_entries_it_does_not_carry(tmp_path):
    import_data(tmp_path, minimal())
    derived = sorted(
        Event.objects.exclude(origin=Event.Origin.EDITORIAL).values_list("origin", "date", "publication_status")
    )
    assert derived == [
        ("agreement_signed", dt.date(2020, 11, 9), "published"),
        ("deadline_due", dt.date(2020, 11, 15), "published"),
        ("deadline_postponed", dt.date(2020, 11, 15), "published"),
        ("handover_completed", dt.date(2020, 11, 25), "published"),
    ]


def test_importing_the_same_file_twice_changes_nothing(tmp_path):
    import_data(tmp_path, minimal())
    before = snapshot()
    output = import_data(tmp_path, minimal())
    assert snapshot() == before
    assert "already up to date, nothing changed" in output


def test_changing_one_field_writes_only_that_record(tmp_path):
    data = minimal()
    import_data(tmp_path, data)
    before = snapshot()
    history_rows = Event.objects.get(slug="1992-south-holds-upper").history.count()
    data["events"][0]["title"] = "South holds Upper (corrected)"
    output = import_data(tmp_path, data)
    event = Event.objects.get(slug="1992-south-holds-upper")
    assert (event.title, event.version) == ("South holds Upper (corrected)", 2)
    assert event.history.count() == history_rows + 1
    after = snapshot()
    changed = {label for label in after if after[label] != before[label]}
    # The new history row snapshots the event's districts and parties with it.
    assert changed == {
        "timeline.Event", "timeline.HistoricalEvent",
        "timeline.HistoricalEvent_districts", "timeline.HistoricalEvent_parties",
    }
    assert "event: updated: 1" in output


def test_a_missing_publication_status_means_draft(tmp_path):
    data = minimal()
    del data["events"][0]["publication_status"]
    import_data(tmp_path, data)
    assert Event.objects.get(slug="1992-south-holds-upper").publication_status == PublicationStatus.DRAFT


def test_nested_records_left_out_of_the_file_are_removed(tmp_path):
    data = minimal()
    import_data(tmp_path, data)
    data["districts"][0]["aliases"] = [{"name": "Üpper", "language": "az"}]
    import_data(tmp_path, data)
    assert list(District.objects.get(slug="upper").aliases.values_list("name", flat=True)) == ["Üpper"]


def test_a_file_may_name_records_already_in_the_database(tmp_path):
    import_data(tmp_path, minimal())
    extra = {
        "format": "conflict-timeline", "version": 1,
        "events": [{"slug": "2020-12-01-later", "conflict": "test-conflict", "title": "Later", "summary": "Later.",
                    "kind": "political", "date": "2020-12-01", "districts": ["upper"]}],
    }
    import_data(tmp_path, extra, "extra.json")
    assert list(Event.objects.get(slug="2020-12-01-later").districts.values_list("slug", flat=True)) == ["upper"]


def test_removing_a_postponement_restores_the_original_deadline(tmp_path):
    data = minimal()
    import_data(tmp_path, data)
    data["agreements"][0]["deadlines"][0]["postponements"] = []
    import_data(tmp_path, data)
    deadline = Deadline.objects.get(obligation=OBLIGATION)
    assert (deadline.due_on, deadline.postponements.count()) == (dt.date(2020, 11, 15), 0)
    assert not Event.objects.filter(origin=Event.Origin.DEADLINE_POSTPONED).exists()


# --------------------------------------------------------------------------
# Bad files: refused whole, naming the record and field at fault
# --------------------------------------------------------------------------


def _set(path: str, value):
    """A change to ``minimal()``: ``events.0.date`` -> value (the key is deleted when value is ...)."""

    def change(data):
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is ...:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _append(path: str, value):
    def change(data):
        target = data
        for key in path.split("."):
            target = target[int(key)] if key.isdigit() else target[key]
        target.append(copy.deepcopy(value))

    return change


E0 = 'events[0] (slug "1992-south-holds-upper")'
DL = f'agreements[0] (slug "{AGREEMENT}").deadlines[0] (obligation "{OBLIGATION}")'
BAD_FILES = {
    "an unknown top-level key": (_set("evnets", []), 'evnets: unknown field; did you mean "events"?'),
    "an unknown record key": (
        _set("events.0.date_precison", "day"), f'{E0}: date_precison: unknown field; did you mean "date_precision"?'
    ),
    "a missing required field": (_set("events.0.summary", ...), f"{E0}: summary: required"),
    "a wrong type": (
        _set("districts.0.latitude", "forty"), 'districts[0] (slug "upper"): latitude: must be a number (got a string)'
    ),
    "a list where a slug is expected": (
        _set("events.0.claimed_by", ["south"]), f"{E0}: claimed_by: must be a string (got a list)"
    ),
    "a date that does not exist": (
        _set("events.0.date", "2020-13-01"), f'{E0}: date: "2020-13-01" is not a valid date (month must be in 1..12)'
    ),
    "a date in another form": (
        _set("events.0.date", "25/11/2020"), f'{E0}: date: "25/11/2020" is not a valid date (use the form YYYY-MM-DD)'
    ),
    "an unknown precision": (
        _set("events.0.date_precision", "week"), f'{E0}: date_precision: must be one of day, month, year (got "week")'
    ),
    "a date that does not match its precision": (
        _set("events.1.date_precision", "month"),
        'events[1] (slug "2020-11-25-army-enters-upper"): date: '
        "At month precision the date must be the 1st of the month (got 2020-11-25).",
    ),
    "an end before the start": (
        _set("events.0.end_date", "1991-01-01"), f"{E0}: end_date: The end date is before the start date."
    ),
    "an unknown district": (_set("events.0.districts", ["upper", "atlantis"]), f'{E0}: districts: unknown district "atlantis"'),
    "an unknown party in a nested record": (
        _set("events.0.control_changes.0.controlled_by", "west"),
        f'{E0}.control_changes[0]: controlled_by: unknown party "west"',
    ),
    "a citation of an unknown source": (
        _set("events.0.citations.0.source", "nowhere"), f'{E0}.citations[0]: source: unknown source "nowhere"'
    ),
    "a duplicate slug": (
        _append("events", minimal()["events"][0]), 'events[2]: duplicate slug "1992-south-holds-upper" within the file'
    ),
    "a duplicate alias": (
        _append("districts.0.aliases", {"name": "Üpper", "language": "az"}),
        'districts[0] (slug "upper").aliases[2]: duplicate name and language "Üpper", "az" within the file',
    ),
    "a handover to the same party": (
        _set("handovers.0.to_party", "south"),
        f'handovers[0] (district "upper", agreement "{AGREEMENT}"): to_party: A handover needs two different parties.',
    ),
    "a handover naming a deadline the agreement does not have": (
        _set("handovers.0.deadline", "Return of Atlantis"),
        f'handovers[0] (district "upper", agreement "{AGREEMENT}"): deadline: '
        f'agreement "{AGREEMENT}" has no deadline with obligation "Return of Atlantis"',
    ),
    "a postponement to the same date": (
        _set("agreements.0.deadlines.0.postponements.0.to_date", "2020-11-15"),
        f"{DL}.postponements[0]: to_date: The new date is the same as the previous one.",
    ),
    "a deadline naming a point the agreement does not have": (
        _set("agreements.0.deadlines.0.provision", 7), f"{DL}: provision: the agreement has no point 7 in this file"
    ),
    "an unknown time zone": (
        _set("agreements.0.effective_timezone", "Mars/Olympus"),
        f"agreements[0] (slug \"{AGREEMENT}\"): effective_timezone: Unknown time zone 'Mars/Olympus'; use e.g. Europe/Moscow.",
    ),
    "a moment without a UTC offset": (
        _set("agreements.0.effective_at", "2020-11-10T00:00:00"),
        f'agreements[0] (slug "{AGREEMENT}"): effective_at: "2020-11-10T00:00:00" needs a UTC offset, '
        "e.g. 2020-11-10T00:00:00+03:00",
    ),
    "a colour that is not #RRGGBB": (
        _set("parties.0.colour", "blue"), 'parties[0] (slug "north"): colour: Use a colour like #1f77b4.'
    ),
    "a record that is not an object": (_set("events.1", "2020-11-25"), "events[1]: must be an object (got a string)"),
    "a party that is a member of itself": (
        _set("parties.2.memberships.0.member", "group"),
        'parties[2] (slug "group").memberships[0]: member: A party cannot be a member of itself.',
    ),
    "a wrong format": (_set("format", "geojson"), 'format: must be "conflict-timeline" (got "geojson")'),
    "an unsupported version": (_set("version", 2), "version: unsupported version 2 (this site reads 1)"),
}


@pytest.mark.parametrize("change,message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_whole_naming_the_record_and_field(tmp_path, change, message):
    import_data(tmp_path, minimal())
    before = snapshot()
    data = minimal()
    # Changes that would be written if the file were accepted: none of them may be.
    data["parties"].append({"slug": "newcomer", "name": "Newcomer", "kind": "state"})
    data["events"][0]["title"] = "Edited title"
    change(data)
    with pytest.raises(CommandError) as failure:
        import_data(tmp_path, data, "bad.json")
    assert f"  {message}" in str(failure.value).splitlines()
    assert "nothing was written" in str(failure.value)
    assert snapshot() == before


def test_invalid_json_is_refused_with_its_line_and_column(tmp_path):
    text = '{\n  "format": "conflict-timeline",\n  "version": 1,\n  "events": [}\n'
    with pytest.raises(CommandError, match=r"Invalid JSON at line 4, column 14: Expecting value\."):
        import_data(tmp_path, text)
    assert not Event.objects.exists()


def test_a_key_given_twice_is_refused(tmp_path):
    text = '{"format": "conflict-timeline", "version": 1, "version": 1}'
    with pytest.raises(CommandError, match='the key "version" appears twice in one object'):
        import_data(tmp_path, text)


def test_every_problem_of_a_file_is_listed_at_once(tmp_path):
    data = minimal()
    data["events"][0]["date_precision"] = "week"
    data["events"][1]["districts"] = ["atlantis"]
    with pytest.raises(CommandError) as failure:
        import_data(tmp_path, data)
    lines = str(failure.value).splitlines()
    assert f'  {E0}: date_precision: must be one of day, month, year (got "week")' in lines
    assert '  events[1] (slug "2020-11-25-army-enters-upper"): districts: unknown district "atlantis"' in lines


def test_a_missing_file_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*nowhere.json: No such file or directory"):
        call_command("import_timeline", str(tmp_path / "nowhere.json"))


def test_a_refused_file_exits_with_a_non_zero_code(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(CommandError) as failure:
        call_command("import_timeline", str(path))
    assert failure.value.returncode == 1
    assert "The dataset must be a JSON object (got a list)." in str(failure.value)


def test_the_example_in_the_format_documentation_imports(tmp_path):
    doc = (Path(settings.BASE_DIR) / "docs" / "dataset-format.md").read_text(encoding="utf-8")
    example = doc.split("## A small example", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    import_data(tmp_path, example)
    derived = sorted(Event.objects.exclude(origin=Event.Origin.EDITORIAL).values_list("origin", "date"))
    assert derived == [
        ("agreement_signed", dt.date(2020, 11, 9)),
        ("deadline_due", dt.date(2020, 11, 15)),
        ("deadline_postponed", dt.date(2020, 11, 15)),
        ("handover_completed", dt.date(2020, 11, 25)),
    ]
    assert Handover.objects.get().delay_days == 10


def test_a_new_event_may_not_take_the_slug_of_a_derived_entry(tmp_path):
    import_data(tmp_path, minimal())
    derived = Event.objects.get(origin=Event.Origin.HANDOVER_COMPLETED)
    before = snapshot()
    data = minimal()
    data["events"][1]["slug"] = derived.slug
    with pytest.raises(CommandError) as failure:
        import_data(tmp_path, data, "bad.json")
    assert f'  events[1] (slug "{derived.slug}"): slug: is already used by a derived timeline entry' in str(
        failure.value
    ).splitlines()
    assert snapshot() == before


def test_imported_events_have_a_history_row_saying_where_they_came_from(tmp_path):
    import_data(tmp_path, minimal())
    record = Event.objects.get(slug="1992-south-holds-upper").history.get()
    assert (record.history_type, record.history_change_reason) == ("+", "Imported from a dataset file")


def test_a_party_renamed_by_a_later_file_is_renamed_in_the_entries_that_name_it(tmp_path):
    import_data(tmp_path, minimal())
    postponed = Event.objects.get(origin="deadline_postponed")
    assert "at the request of South; agreed by North." in postponed.summary
    # A later file of parties alone: the agreement naming them is not in it.
    later = {"format": "conflict-timeline", "version": 1, "parties": [
        {**party, "name": "Northern state"} if party["slug"] == "north" else party for party in minimal()["parties"]
    ]}
    import_data(tmp_path, later, name="later.json")
    postponed.refresh_from_db()
    assert "at the request of South; agreed by Northern state." in postponed.summary
