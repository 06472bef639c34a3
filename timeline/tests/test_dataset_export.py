"""export_timeline: a deterministic dataset that imports back into the same data."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command

from timeline import dataset, services
from timeline.models import Discrepancy, District, Event, ProvisionStatusChange
from timeline.tests import factories

pytestmark = pytest.mark.django_db

NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731


def export() -> str:
    out = StringIO()
    call_command("export_timeline", stdout=out)
    return out.getvalue()


def build_timeline():
    """Records made through factories and services, not through the importer."""
    conflict = factories.ConflictFactory(slug="test-conflict", name="Test conflict")
    north = factories.PartyFactory(slug="north", name="North", colour="#0072B2")
    south = factories.PartyFactory(slug="south", name="South")
    group = factories.PartyFactory(slug="group", name="Group", kind="mediator")
    factories.models.Membership.objects.create(group=group, member=north, role="co-chair")
    source = factories.SourceFactory(slug="report", title="Report")
    upper = factories.DistrictFactory(slug="upper", name="Upper", conflict=conflict, latitude="40.100000")
    town = factories.DistrictFactory(slug="town", name="Town", conflict=conflict, parent=upper, kind="town")
    factories.DistrictAliasFactory(district=upper, name="Верхний", language="ru")
    factories.DistrictAliasFactory(district=upper, name="Üpper", language="az")
    agreement = factories.AgreementFactory(
        slug="ceasefire", conflict=conflict, effective_at=dt.datetime(2020, 11, 9, 21, tzinfo=dt.UTC),
        effective_timezone="Europe/Moscow",
    )
    factories.SignatoryFactory(agreement=agreement, party=north, person_name="A. Leader", order=0)
    provision = factories.ProvisionFactory(agreement=agreement, number=1, summary="Upper returns.")
    deadline = factories.DeadlineFactory(
        agreement=agreement, district=upper, provision=provision, obligation="Return of Upper",
        original_due_on=NOV(15), due_on=NOV(15), obligated_party=south,
    )
    handover = factories.HandoverFactory(deadline=deadline, from_party=south, to_party=north)
    factories.CitationFactory(source=source, event=None, deadline=deadline, passage="Due on the 15th.")
    services.deadline_postpone(
        deadline=deadline, to_date=NOV(25), decided_on=NOV(15), requested_by=south, agreed_by=[north], reason="Snow."
    )
    services.handover_complete(handover=handover, completed_on=NOV(25))
    event = factories.EventFactory(
        slug="2020-11-25-army-enters-upper", conflict=conflict, districts=[upper, town], parties=[north],
        handover=handover,
    )
    factories.CitationFactory(source=source, event=event, passage="The army entered.", locator="paragraph 1")
    factories.ControlChangeFactory(event=event, district=upper, controlled_by=north)
    discrepancy = Discrepancy.objects.create(agreement=agreement, aspect="date signed", description="9 or 10.")
    discrepancy.sources.set([source])
    change = ProvisionStatusChange.objects.create(provision=provision, status="implemented", from_date=NOV(25))
    change.evidence_events.set([event])
    change.evidence_handovers.set([handover])
    services.derived_events_sync_all()


def empty_database():
    """Delete every record, children first (flush cannot TRUNCATE inside the test's transaction on PostgreSQL)."""
    m = factories.models
    for model in (m.Citation, m.Discrepancy, m.ControlChange, m.ProvisionStatusChange, m.Event, m.Handover,
                  m.Agreement, m.DistrictAlias, m.Membership, m.Party, m.Source):
        model.objects.all().delete()
    m.District.objects.filter(parent__isnull=False).delete()
    m.District.objects.all().delete()
    m.Conflict.objects.all().delete()


def test_export_then_import_into_an_empty_database_gives_the_same_file(tmp_path):
    build_timeline()
    first = export()
    empty_database()
    assert not any(model.objects.exists() for model in (Event, District, factories.models.Party))
    (tmp_path / "a.json").write_text(first, encoding="utf-8")
    call_command("import_timeline", str(tmp_path / "a.json"), stdout=StringIO())
    assert export() == first


def test_export_leaves_out_derived_events():
    build_timeline()
    assert Event.objects.exclude(origin=Event.Origin.EDITORIAL).count() == 4
    data = json.loads(export())
    assert [e["slug"] for e in data["events"]] == ["2020-11-25-army-enters-upper"]


def test_export_writes_the_records_every_field_names():
    build_timeline()
    data = json.loads(export())
    assert (data["format"], data["version"]) == ("conflict-timeline", 1)
    agreement = data["agreements"][0]
    assert agreement["effective_at"] == "2020-11-09T21:00:00Z"
    assert agreement["effective_timezone"] == "Europe/Moscow"
    deadline = agreement["deadlines"][0]
    assert deadline["original_due_on"] == "2020-11-15"
    assert "due_on" not in deadline  # derived from the postponements
    assert deadline["postponements"] == [
        {"to_date": "2020-11-25", "decided_on": "2020-11-15", "requested_by": "south", "agreed_by": ["north"],
         "reason": "Snow.", "citations": []}
    ]
    assert agreement["provisions"][0]["status_changes"][0]["evidence_handovers"] == [
        {"agreement": "ceasefire", "district": "upper"}
    ]
    upper = next(d for d in data["districts"] if d["slug"] == "upper")
    assert upper["latitude"] == 40.1
    assert upper["aliases"] == [
        {"name": "Üpper", "language": "az", "kind": "exonym"},
        {"name": "Верхний", "language": "ru", "kind": "exonym"},
    ]
    assert data["handovers"][0] == {
        "agreement": "ceasefire", "district": "upper", "deadline": "Return of Upper", "from_party": "south",
        "to_party": "north", "completed_on": "2020-11-25", "cancelled_on": None, "summary": "",
        "publication_status": "published", "citations": [], "discrepancies": [],
    }


def test_export_is_sorted_whatever_the_order_rows_were_made_in():
    conflict = factories.ConflictFactory(slug="c")
    for slug in ("zulu", "alpha", "mike"):
        factories.DistrictFactory(slug=slug, name=slug.title(), conflict=conflict)
    text = export()
    assert [d["slug"] for d in json.loads(text)["districts"]] == ["alpha", "mike", "zulu"]
    assert text == dataset.dumps(json.loads(text))  # keys sorted, two-space indent, final newline
    assert text.endswith("}\n")


def test_export_to_a_file_writes_the_same_text_as_to_stdout(tmp_path):
    build_timeline()
    call_command("export_timeline", str(tmp_path / "out.json"), stderr=StringIO())
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == export()


def test_export_takes_the_same_number_of_queries_whatever_the_number_of_rows(django_assert_num_queries):
    build_timeline()
    with django_assert_num_queries(34) as one:
        dataset.dump()
    conflict = District.objects.get(slug="upper").conflict
    for n in range(3):
        district = factories.DistrictFactory(slug=f"more-{n}", conflict=conflict)
        factories.DistrictAliasFactory(district=district)
        event = factories.EventFactory(slug=f"more-event-{n}", conflict=conflict, districts=[district])
        factories.CitationFactory(event=event)
    with django_assert_num_queries(len(one.captured_queries)):
        dataset.dump()
