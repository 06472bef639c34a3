"""Every list runs the same number of SQL queries whatever the page size and the number of rows."""

import datetime as dt

import pytest

from timeline import services
from timeline.models import Discrepancy
from timeline.tests import factories
from timeline.tests.api.conftest import many_events

pytestmark = pytest.mark.django_db


def grow(conflict, n):
    """``n`` of everything, each with its related rows, so a missing join or prefetch would show."""
    many_events(conflict, n)
    for i in range(n):
        district = factories.DistrictFactory(conflict=conflict)
        factories.DistrictAliasFactory(district=district)
        party, other = factories.PartyFactory(), factories.PartyFactory()
        source = factories.SourceFactory()
        agreement = factories.AgreementFactory(conflict=conflict)
        Discrepancy.objects.create(agreement=agreement, aspect="date signed", description="Sources differ.")
        agreement.discrepancies.get().sources.add(source)
        factories.ControlChangeFactory(district=district, controlled_by=party,
                                       event=factories.EventFactory(conflict=conflict))
        factories.SignatoryFactory(agreement=agreement, party=party)
        factories.ProvisionFactory(agreement=agreement, number=1)
        handover = factories.HandoverFactory(deadline__agreement=agreement, deadline__district=district,
                                             from_party=party, to_party=other)
        services.deadline_postpone(deadline=handover.deadline, to_date=dt.date(2020, 12, 1),
                                   decided_on=dt.date(2020, 11, 10), requested_by=party, agreed_by=[other])
        if i % 2:
            services.handover_complete(handover=handover, completed_on=dt.date(2020, 12, 1))


@pytest.mark.parametrize(("path", "queries"), [
    # Each count starts with the record clock's query: anonymous answers are cached under its
    # version (timeline.cache), and every request below is a cache miss (new data or a new URL).
    ("/api/v1/events/", 1 + 2),  # events; their districts, parties and citations in one UNION
    ("/api/v1/events/?district={district}&party={party}&q=war", 1 + 4),  # + slug checks of both filters
    ("/api/v1/districts/", 1 + 5),  # count, districts, aliases, handovers and control changes of the page
    ("/api/v1/parties/", 1 + 2),
    ("/api/v1/sources/", 1 + 2),
    # count, agreements, signatories, provisions, deadlines, their postponements, agreed_by and citations,
    # the agreements' citations, discrepancies and their sources
    ("/api/v1/agreements/", 1 + 11),
    ("/api/v1/deadlines/", 1 + 6),  # count, deadlines, postponements, agreed_by, postponement citations, citations
    ("/api/v1/handovers/", 1 + 6),  # the same, through each handover's deadline
    ("/api/v1/deadlines/?overdue=true", 1 + 6),
    ("/api/v1/events/?format=csv", 1 + 2),
    ("/api/v1/districts/?format=geojson", 1 + 5),
])
def test_a_list_runs_a_constant_number_of_queries_for_3_or_30_rows_and_page_size_10_or_500(anon, world, django_assert_num_queries, path, queries):
    path = path.format(district="kalbajar", party="armenia")
    separator = "&" if "?" in path else "?"
    grow(world.conflict, 3)
    with django_assert_num_queries(queries):
        small = anon.get(f"{path}{separator}page_size=10")
    assert small.status_code == 200
    grow(world.conflict, 27)
    for size in (10, 500):
        with django_assert_num_queries(queries):
            response = anon.get(f"{path}{separator}page_size={size}")
        assert response.status_code == 200


def test_the_event_list_runs_as_many_queries_deep_into_the_cursor(anon, world, django_assert_num_queries):
    many_events(world.conflict, 25)
    url = "/api/v1/events/?page_size=5"
    for _ in range(4):
        url = anon.get(url).json()["next"]
    with django_assert_num_queries(1 + 2):  # the record clock (timeline.cache), then the page
        assert anon.get(url).status_code == 200
