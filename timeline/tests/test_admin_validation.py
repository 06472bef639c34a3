"""Every rule of the record shows as an error on the field at fault, never as a server error, and nothing is saved."""

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError

from timeline import models, services
from timeline.tests import factories
from timeline.tests.test_admin import NOV, admin_url, errors_in, form_post_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_client(client, superuser):
    client.force_login(superuser)
    return client


def post_page(client, url, **values):
    """Post the page at ``url`` as the editor would after filling in ``values``."""
    data = form_post_data(client.get(url))
    data.update(values)
    return client.post(url, data)


def add_inline_row(data: dict, prefix: str, **fields) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)


def handover_values(district, party_from, party_to, agreement=None) -> dict:
    return {
        "publication_status": "draft",
        "district": str(district.pk),
        "from_party": str(party_from.pk),
        "to_party": str(party_to.pk),
        **({"agreement": str(agreement.pk)} if agreement else {}),
    }


def event_values(conflict, **overrides) -> dict:
    return {
        "publication_status": "draft", "title": "Talks", "conflict": str(conflict.pk), "kind": "negotiation",
        "date": "2020-11-25", "date_precision": "day", "summary": "They met.", **overrides,
    }


def test_a_handover_to_the_same_party_is_refused_on_the_receiving_party_and_writes_nothing(editor_client):
    district, party = factories.DistrictFactory(), factories.PartyFactory()

    response = post_page(editor_client, admin_url(models.Handover, "add"), **handover_values(district, party, party))

    assert response.status_code == 200
    assert errors_in(response) == {"to_party": ["A handover needs two different parties."]}
    assert models.Handover.objects.count() == 0
    assert models.Event.objects.count() == 0


def test_a_second_handover_of_a_district_under_one_agreement_is_refused_on_the_district(editor_client):
    first = factories.HandoverFactory()
    values = handover_values(first.district, factories.PartyFactory(), factories.PartyFactory(), first.agreement)

    response = post_page(editor_client, admin_url(models.Handover, "add"), **values)

    assert errors_in(response) == {
        "district": [f"The {first.agreement} already has a handover of {first.district}."]
    }
    assert models.Handover.objects.count() == 1


def test_an_end_date_before_the_start_is_refused_on_the_end_date(editor_client):
    conflict = factories.ConflictFactory()

    response = post_page(
        editor_client, admin_url(models.Event, "add"), **event_values(conflict, end_date="2020-11-20")
    )

    assert errors_in(response) == {"end_date": ["The end date is before the start date."]}
    assert models.Event.objects.count() == 0


def test_a_date_that_does_not_start_its_month_is_refused_at_month_precision(editor_client):
    conflict = factories.ConflictFactory()

    response = post_page(
        editor_client, admin_url(models.Event, "add"), **event_values(conflict, date_precision="month")
    )

    assert errors_in(response) == {
        "date": ["At month precision the date must be the 1st of the month (got 2020-11-25)."]
    }


def test_a_source_date_at_year_precision_must_be_the_first_of_january(editor_client):
    response = post_page(
        editor_client, admin_url(models.Source, "add"),
        title="Yearbook", slug="yearbook", kind="reference", publication_status="draft",
        published_on="2020-11-25", published_on_precision="year",
    )

    assert errors_in(response) == {
        "published_on": ["At year precision the date must be 1 January (got 2020-11-25)."]
    }


def test_a_citation_of_two_records_at_once_is_refused(editor_client):
    source, event, agreement = factories.SourceFactory(), factories.EventFactory(), factories.AgreementFactory()

    response = post_page(
        editor_client, admin_url(models.Citation, "add"),
        source=str(source.pk), event=str(event.pk), agreement=str(agreement.pk), order="0",
    )

    assert errors_in(response) == {"__all__": ["A citation supports exactly one record."]}
    assert models.Citation.objects.count() == 0


def test_a_citation_of_no_record_is_refused(editor_client):
    response = post_page(editor_client, admin_url(models.Citation, "add"), source=str(factories.SourceFactory().pk))

    assert errors_in(response) == {"__all__": ["A citation supports exactly one record."]}


@pytest.mark.parametrize(
    ("boundary", "message"),
    [
        ('{"type": "Point", "coordinates": [46.1, 40.1]}',
         'Give a GeoJSON geometry whose "type" is Polygon or MultiPolygon.'),
        ('{"type": "Polygon"}', 'The GeoJSON geometry needs a "coordinates" list.'),
        ("not json at all", "Enter a valid JSON."),
    ],
)
def test_a_boundary_that_is_not_a_polygon_is_refused_on_the_boundary(editor_client, boundary, message):
    district = factories.DistrictFactory()

    response = post_page(editor_client, admin_url(models.District, "change", district.pk), boundary=boundary)

    assert errors_in(response) == {"boundary": [message]}
    district.refresh_from_db()
    assert district.boundary is None


def test_a_latitude_without_a_longitude_is_refused_on_the_longitude(editor_client):
    district = factories.DistrictFactory()
    data = form_post_data(editor_client.get(admin_url(models.District, "change", district.pk)))
    data.pop("longitude")

    response = editor_client.post(admin_url(models.District, "change", district.pk), data)

    assert errors_in(response) == {"longitude": ["Give both latitude and longitude, or neither."]}


def test_an_unknown_time_zone_is_refused_on_the_time_zone(editor_client):
    agreement = factories.AgreementFactory()

    response = post_page(
        editor_client, admin_url(models.Agreement, "change", agreement.pk),
        effective_at_0="2020-11-10", effective_at_1="00:00:00", effective_timezone="Mars/Olympus",
    )

    assert errors_in(response) == {
        "effective_timezone": ["Unknown time zone 'Mars/Olympus'; use e.g. Europe/Moscow."]
    }


def test_an_inline_row_breaking_its_rule_is_an_error_on_that_row(editor_client):
    agreement = factories.AgreementFactory()
    url = admin_url(models.Agreement, "change", agreement.pk)
    data = form_post_data(editor_client.get(url))
    add_inline_row(data, "signatories", capacity="witness", order="0")

    response = editor_client.post(url, data)

    assert errors_in(response) == {"signatories-0-__all__": ["Name the party, the person, or both."]}
    assert agreement.signatories.count() == 0


def test_the_same_alias_twice_is_refused_as_duplicate_rows(editor_client):
    district = factories.DistrictFactory()
    url = admin_url(models.District, "change", district.pk)
    data = form_post_data(editor_client.get(url))
    add_inline_row(data, "aliases", name="Karvachar", language="hy-Latn", kind="transliteration")
    add_inline_row(data, "aliases", name="Karvachar", language="hy-Latn", kind="transliteration")

    response = editor_client.post(url, data)

    assert response.status_code == 200
    assert errors_in(response)["aliases-__all__"] == [
        "Please correct the duplicate data for name and language, which must be unique."
    ]
    assert district.aliases.count() == 0


def test_a_party_cannot_be_made_a_member_of_itself(editor_client):
    party = factories.PartyFactory()

    response = post_page(
        editor_client, admin_url(models.Membership, "add"), group=str(party.pk), member=str(party.pk), role="member"
    )

    assert errors_in(response) == {"member": ["A party cannot be a member of itself."]}


def test_a_postponement_on_its_own_page_to_the_date_the_deadline_has_is_refused(editor_client):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    services.deadline_postpone(deadline=deadline, to_date=NOV(25), decided_on=NOV(14))

    response = post_page(
        editor_client, admin_url(models.Postponement, "add"),
        deadline=str(deadline.pk), to_date="2020-11-25", decided_on="2020-11-20",
    )

    assert errors_in(response) == {
        "to_date": [
            "The new date is the same as the previous one (25 November 2020); a postponement must move the deadline."
        ]
    }
    assert deadline.postponements.count() == 1


def test_saving_over_a_change_made_since_the_page_was_opened_is_refused(editor_client):
    party = factories.PartyFactory(name="First name")
    url = admin_url(models.Party, "change", party.pk)
    data = form_post_data(editor_client.get(url))
    party.name = "Changed by a colleague"
    party.save()
    data["name"] = "My change"

    response = editor_client.post(url, data)

    assert errors_in(response) == {
        "__all__": [
            "Someone saved this record after you opened it (you opened version 1; version 2 is saved now). "
            "Nothing was saved. Changed since: name: “First name” → “Changed by a colleague”. "
            "Open it again to see their changes, then make yours."
        ]
    }
    party.refresh_from_db()
    assert party.name == "Changed by a colleague"


def test_a_rule_only_a_service_can_see_is_reported_and_nothing_is_saved(editor_client, monkeypatch):
    # Services may refuse what the forms let through; the admin must roll the whole save back.
    def refuse(**kwargs):
        raise ValidationError("The service refuses this agreement.")

    monkeypatch.setattr(services, "derived_events_sync_agreement", refuse)
    conflict = factories.ConflictFactory()
    url = admin_url(models.Agreement, "add")

    response = post_page(
        editor_client, url, title="Refused", slug="refused", conflict=str(conflict.pk), kind="other",
        signed_on="2020-11-09", signed_on_precision="day", publication_status="draft",
    )

    assert response.status_code == 302
    assert response["Location"] == url
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == "Nothing was saved: The service refuses this agreement."
    assert models.Agreement.objects.count() == 0
    assert models.Event.objects.count() == 0
