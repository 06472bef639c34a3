"""The demo dataset data/nagorno-karabakh-2020.json: the key facts after import."""

import datetime as dt
import re
import zoneinfo
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from timeline import selectors
from timeline.models import (
    Agreement,
    Citation,
    District,
    Event,
    Handover,
    Party,
    Postponement,
    PublicationStatus,
    Source,
)

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json"
STATEMENT = "trilateral-statement-november-2020"
NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731

# The only addresses the project's source files give (the brief of the November statement);
# every other source is the seed report or an editors' reference, with no address.
KNOWN_URLS = {
    "https://www.primeminister.am/en/press-release/item/2020/11/10/Announcement/%20%20%20%20%20%20%20%20%20statement",
    "https://belgrade.mfa.gov.az/en/news/statement-by-the-president-of-the-republic-of-azerbaijan-the-prime-minister-"
    "of-the-republic-of-armenia-and-the-president-of-the-russian-federation-enru",
    "https://jam-news.net/karabakh-truce-ceasefire-news-azerbaijan-armenia-russia-negotiations-format-lavrov-bayramov-"
    "mnatsakanyan/",
}


@pytest.fixture
def demo(db):
    call_command("import_timeline", str(DEMO), stdout=StringIO())


def handover(district_slug: str) -> Handover:
    return Handover.objects.select_related("deadline").get(district__slug=district_slug)


def test_kalbajar_was_postponed_from_15_to_25_november_at_armenias_request(demo):
    kalbajar = handover("kalbajar")
    assert (kalbajar.deadline.original_due_on, kalbajar.deadline.due_on) == (NOV(15), NOV(25))
    postponement = kalbajar.deadline.postponements.get()
    assert (postponement.from_date, postponement.to_date, postponement.decided_on) == (NOV(15), NOV(25), NOV(15))
    assert postponement.requested_by.slug == "armenia"
    assert list(postponement.agreed_by.values_list("slug", flat=True)) == ["azerbaijan"]
    assert "weather" in postponement.reason and "only road" in postponement.reason


def test_kalbajar_was_handed_over_on_25_november_ten_days_after_the_original_deadline(demo):
    kalbajar = handover("kalbajar")
    assert (kalbajar.status, kalbajar.completed_on, kalbajar.delay_days) == (Handover.Status.COMPLETED, NOV(25), 10)
    assert kalbajar.delay_against_current_days == 0
    assert (kalbajar.from_party.slug, kalbajar.to_party.slug) == ("armenia", "azerbaijan")


def test_agdam_was_handed_over_on_time_and_lachin_on_1_december(demo):
    agdam, lachin = handover("agdam"), handover("lachin")
    assert (agdam.status, agdam.completed_on, agdam.delay_days) == (Handover.Status.COMPLETED, NOV(20), 0)
    assert agdam.deadline.postponements.count() == 0
    assert (lachin.status, lachin.completed_on, lachin.delay_days) == (
        Handover.Status.COMPLETED, dt.date(2020, 12, 1), 0
    )
    assert {h.deadline.obligated_party.slug for h in (agdam, lachin)} == {"armenia"}


def test_kalbajar_was_held_by_armenian_forces_from_1992_and_by_azerbaijan_from_25_november_2020(demo):
    kalbajar = District.objects.get(slug="kalbajar")
    history = selectors.district_control_history(kalbajar)
    assert [(p.party.slug, p.since_display, p.until) for p in history] == [
        ("armenian-forces", "1992", NOV(25)),
        ("azerbaijan", "25 November 2020", None),
    ]


def test_the_statement_holds_both_the_signing_day_and_the_moment_it_took_effect(demo):
    statement = Agreement.objects.get(slug=STATEMENT)
    assert statement.signed_on == dt.date(2020, 11, 9)
    assert statement.effective_at == dt.datetime(2020, 11, 9, 21, 0, tzinfo=dt.UTC)
    assert statement.effective_timezone == "Europe/Moscow"
    assert statement.effective_local == dt.datetime(2020, 11, 10, 0, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Moscow"))
    assert list(statement.signatories.values_list("person_name", "party__slug")) == [
        ("Ilham Aliyev", "azerbaijan"), ("Nikol Pashinyan", "armenia"), ("Vladimir Putin", "russia")
    ]
    assert list(statement.provisions.values_list("number", flat=True)) == list(range(1, 10))
    assert {c.source.url for c in statement.citations.select_related("source")} >= {
        url for url in KNOWN_URLS if "jam-news" not in url
    }


@pytest.mark.parametrize("name", ["Karvachar", "Кельбаджар", "Kəlbəcər", "kelbecer", "Kelbajar"])
def test_every_name_of_kalbajar_finds_it(demo, name):
    ids = set(selectors.district_ids_matching(name).values_list("pk", flat=True))
    assert ids == {District.objects.get(slug="kalbajar").pk}


def test_every_editorial_record_cites_a_source(demo):
    uncited = [
        *Event.objects.filter(origin=Event.Origin.EDITORIAL, citations__isnull=True).values_list("slug", flat=True),
        *Agreement.objects.filter(citations__isnull=True).values_list("slug", flat=True),
        *Postponement.objects.filter(citations__isnull=True).values_list("deadline__obligation", flat=True),
        *Handover.objects.filter(citations__isnull=True).values_list("district__slug", flat=True),
    ]
    assert uncited == []


def test_every_quoted_passage_of_the_seed_report_is_in_it_word_for_word(demo):
    report = Source.objects.get(slug="kelbecer-report-2020-11-25")
    assert (report.kind, report.published_on, report.publisher, report.url) == (
        Source.Kind.NEWS_REPORT, NOV(25), "", ""
    )
    shared = Path("/work/shared/sources/kelbecer-report-2020-11-25.txt")
    passages = list(Citation.objects.filter(source=report).values_list("passage", flat=True))
    assert len(passages) >= 15
    if shared.exists():  # the seed report is supplied beside the project, not inside it
        text = shared.read_text(encoding="utf-8")
        assert [p for p in passages if p not in text] == []


def test_no_source_has_an_address_other_than_those_in_the_source_files(demo):
    urls = set(Source.objects.exclude(url="").values_list("url", flat=True))
    assert urls == KNOWN_URLS
    for reference in Source.objects.filter(kind=Source.Kind.REFERENCE):
        assert (reference.url, bool(reference.description)) == ("", True)


def test_the_disagreements_of_the_sources_are_recorded(demo):
    statement = Agreement.objects.get(slug=STATEMENT)
    assert set(statement.discrepancies.values_list("aspect", flat=True)) == {"date signed", "when it was concluded"}
    agdam = District.objects.get(slug="agdam")
    assert "Askeran" in agdam.discrepancies.get().description
    kalbajar_control = Event.objects.get(slug="1992-armenian-forces-control-kalbajar")
    assert "27 years ago" in kalbajar_control.discrepancies.get().description


def test_claims_of_each_capital_are_marked_as_claims(demo):
    claims = dict(Event.objects.filter(claimed_by__isnull=False).values_list("slug", "claimed_by__slug"))
    assert claims == {
        "2020-baku-claims-villages-and-heights": "azerbaijan",
        "2020-yerevan-reports-shelling-of-armenia": "armenia",
    }


def test_everything_in_the_demo_is_published_and_states_have_distinct_colours(demo):
    for model in (Party, Source, District, Agreement, Handover, Event):
        assert not model.objects.exclude(publication_status=PublicationStatus.PUBLISHED).exists(), model
    colours = list(Party.objects.filter(kind=Party.Kind.STATE).values_list("colour", flat=True))
    assert len(colours) == 5 and len(set(colours)) == 5
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colours)


def test_the_co_chairs_of_the_minsk_group_are_recorded(demo):
    group = Party.objects.get(slug="osce-minsk-group")
    assert (group.kind, sorted(group.memberships.values_list("member__slug", "role"))) == (
        Party.Kind.MEDIATOR, [("france", "co-chair"), ("russia", "co-chair"), ("united-states", "co-chair")]
    )


def test_the_demo_file_is_exactly_what_export_writes_back(demo):
    out = StringIO()
    call_command("export_timeline", stdout=out)
    assert out.getvalue() == DEMO.read_text(encoding="utf-8")
