"""Fixtures for the API tests: clients for each kind of caller and a small, realistic world."""

import datetime as dt
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from timeline import services
from timeline.models import Agreement, Event, Handover, PublicationStatus
from timeline.tests import factories

NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731


@pytest.fixture(autouse=True)
def fresh_throttle_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anon():
    return APIClient()


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def member(db):
    """An authenticated account that is not staff."""
    return token_client(factories.UserFactory(username="reader"))


@pytest.fixture
def staff_without_perms(db):
    return token_client(factories.UserFactory(username="intern", is_staff=True))


@pytest.fixture
def editor_user(db):
    """Staff with every model permission of the timeline, in the Administrators group
    (so the four-eyes rule, tested in test_workflow_api.py, does not stand in the way)."""
    user = factories.UserFactory(username="editor", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="timeline"))
    user.groups.add(Group.objects.get(name="Administrators"))
    return user


@pytest.fixture
def editor(editor_user):
    """Staff with every model permission of the timeline."""
    return token_client(editor_user)


@dataclass
class World:
    conflict: object
    baku: object
    yerevan: object
    moscow: object
    kalbajar: object
    agdam: object
    lachin: object
    agreement: Agreement
    handover: Handover
    agdam_handover: Handover
    editorial: Event
    draft: Event


def build_world() -> World:
    """Two states and a mediator, three districts, the 2020 statement with a
    postponed and completed handover (15 -> 25 November, completed 25th),
    one editorial event and one draft."""
    conflict = factories.ConflictFactory(name="Test conflict", slug="test-conflict")
    baku = factories.PartyFactory(name="Azerbaijan", slug="azerbaijan", colour="#1f77b4")
    yerevan = factories.PartyFactory(name="Armenia", slug="armenia")
    moscow = factories.PartyFactory(name="Russia", slug="russia", kind="mediator")
    kalbajar = factories.DistrictFactory(conflict=conflict, name="Kalbajar", slug="kalbajar",
                                         latitude="40.1000", longitude="46.0400")
    for name, language, kind in [("Kəlbəcər", "az", "official"), ("Karvachar", "hy-Latn", "transliteration"),
                                 ("Кельбаджар", "ru", "exonym")]:
        factories.DistrictAliasFactory(district=kalbajar, name=name, language=language, kind=kind)
    agdam = factories.DistrictFactory(conflict=conflict, name="Agdam", slug="agdam",
                                      boundary={"type": "Polygon", "coordinates": [[[46.9, 40.0], [47.0, 40.0],
                                                                                     [47.0, 40.1], [46.9, 40.0]]]})
    lachin = factories.DistrictFactory(conflict=conflict, name="Lachin", slug="lachin", latitude=None, longitude=None)
    source = factories.SourceFactory(title="Statement text", slug="statement-text", kind="official_text",
                                     publisher="Kremlin", url="https://example.org/statement")
    agreement = factories.AgreementFactory(
        conflict=conflict, title="Trilateral statement", slug="trilateral-statement", signed_on=NOV(9),
        effective_at=dt.datetime(2020, 11, 9, 21, 0, tzinfo=dt.UTC), effective_timezone="Europe/Moscow",
    )
    factories.SignatoryFactory(agreement=agreement, party=baku, person_name="Ilham Aliyev", role="President")
    factories.ProvisionFactory(agreement=agreement, number=6, summary="Return of Kalbajar by 15 November.")
    factories.CitationFactory(event=None, agreement=agreement, source=source, passage="point 6", locator="point 6")
    handover = factories.HandoverFactory(
        deadline__agreement=agreement, deadline__district=kalbajar, deadline__obligation="Return of Kalbajar",
        deadline__original_due_on=NOV(15), deadline__due_on=NOV(15),
        from_party=yerevan, to_party=baku,
    )
    services.deadline_postpone(deadline=handover.deadline, to_date=NOV(25), decided_on=NOV(15),
                               requested_by=yerevan, agreed_by=[baku, moscow], reason="Weather.")
    handover = services.handover_complete(handover=handover, completed_on=NOV(25))
    agdam_handover = factories.HandoverFactory(
        deadline__agreement=agreement, deadline__district=agdam, deadline__obligation="Return of Agdam",
        deadline__original_due_on=NOV(20), deadline__due_on=NOV(20), from_party=yerevan, to_party=baku,
    )
    services.handover_refresh(handover=agdam_handover)
    services.derived_events_sync_agreement(agreement=agreement)
    editorial = factories.EventFactory(
        conflict=conflict, slug="war-begins", title="War begins", summary="Fighting starts along the line.",
        kind="military", date=dt.date(1988, 2, 1), date_precision="month", districts=[kalbajar], parties=[yerevan],
    )
    factories.CitationFactory(event=editorial, source=source, passage="Fighting started.", locator="p. 1")
    draft = factories.EventFactory(
        conflict=conflict, slug="secret-draft", title="Unreviewed claim", summary="Not yet checked.",
        date=NOV(1), districts=[kalbajar], publication_status=PublicationStatus.DRAFT,
    )
    return World(conflict, baku, yerevan, moscow, kalbajar, agdam, lachin, agreement,
                 Handover.objects.get(pk=handover.pk), Handover.objects.get(pk=agdam_handover.pk), editorial, draft)


@pytest.fixture
def world(db) -> World:
    return build_world()


def many_events(conflict, count, **kwargs):
    """``count`` published events, each with a district, a party and a citation."""
    events = []
    for n in range(count):
        district = factories.DistrictFactory(conflict=conflict)
        party = factories.PartyFactory()
        event = factories.EventFactory(conflict=conflict, date=dt.date(2000, 1, 1) + dt.timedelta(days=n),
                                       districts=[district], parties=[party], **kwargs)
        factories.CitationFactory(event=event)
        events.append(event)
    return events
