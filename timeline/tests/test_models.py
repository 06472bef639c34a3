"""Every invariant is held twice: ``full_clean()`` gives the friendly message,
and the database refuses the row even when ``clean()`` is bypassed."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from timeline import models
from timeline.tests import factories

pytestmark = pytest.mark.django_db


def assert_refused(instance, field, message_part):
    """clean() names ``field`` with a message containing ``message_part``; the database refuses the row too."""
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    errors = caught.value.message_dict
    assert field in errors, errors
    assert any(message_part in message for message in errors[field]), errors[field]
    with pytest.raises(IntegrityError), transaction.atomic():
        # Model.save() may recompute derived fields; write the row as it is.
        type(instance)._base_manager.bulk_create([instance])


def test_a_handover_between_the_same_party_is_refused():
    party = factories.PartyFactory()
    handover = factories.HandoverFactory.build(
        deadline=factories.DeadlineFactory(), from_party=party, to_party=party
    )
    handover.agreement = handover.deadline.agreement
    handover.district = handover.deadline.district
    handover.status = handover.derive_status()
    assert_refused(handover, "to_party", "two different parties")


def test_only_one_handover_per_district_per_agreement():
    first = factories.HandoverFactory()
    second = models.Handover(
        district=first.district,
        agreement=first.agreement,
        from_party=first.from_party,
        to_party=first.to_party,
    )
    with pytest.raises(ValidationError) as caught:
        second.full_clean()
    assert "__all__" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()


def test_a_handover_cannot_be_both_completed_and_cancelled():
    handover = factories.HandoverFactory()
    handover.completed_on = dt.date(2020, 11, 25)
    handover.cancelled_on = dt.date(2020, 11, 26)
    with pytest.raises(ValidationError) as caught:
        handover.full_clean()
    assert "cancelled_on" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        models.Handover.objects.filter(pk=handover.pk).update(
            completed_on=handover.completed_on, cancelled_on=handover.cancelled_on
        )


def test_handover_status_cannot_contradict_its_dates_in_the_database():
    handover = factories.HandoverFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        models.Handover.objects.filter(pk=handover.pk).update(status="completed")


def test_handover_status_is_derived_not_typed():
    handover = factories.HandoverFactory()
    assert handover.status == "scheduled"
    handover.status = "completed"
    handover.save()
    handover.refresh_from_db()
    assert handover.status == "scheduled"


def test_an_event_ending_before_it_starts_is_refused():
    event = factories.EventFactory.build(
        conflict=factories.ConflictFactory(), date=dt.date(2020, 11, 25), end_date=dt.date(2020, 11, 1),
        end_date_precision="day", span_end=dt.date(2020, 11, 25),
    )
    assert_refused(event, "end_date", "before the start")


@pytest.mark.parametrize(
    ("date", "precision", "expected"),
    [
        (dt.date(1988, 2, 14), "month", "1st of the month"),
        (dt.date(1992, 3, 1), "year", "1 January"),
    ],
)
def test_a_date_must_start_its_period(date, precision, expected):
    event = factories.EventFactory.build(
        conflict=factories.ConflictFactory(), date=date, date_precision=precision, span_end=date
    )
    assert_refused(event, "date", expected)


def test_an_unknown_precision_is_refused():
    event = factories.EventFactory.build(
        conflict=factories.ConflictFactory(), date=dt.date(2020, 11, 1), date_precision="week",
        span_end=dt.date(2020, 11, 1),
    )
    with pytest.raises(ValidationError) as caught:
        event.full_clean()
    assert "date_precision" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        models.Event.objects.bulk_create([event])


def test_span_end_covers_the_whole_period():
    war = factories.EventFactory(
        date=dt.date(1992, 1, 1), date_precision="year", end_date=dt.date(1994, 1, 1), end_date_precision="year"
    )
    month = factories.EventFactory(date=dt.date(1988, 2, 1), date_precision="month")
    assert war.span_end == dt.date(1994, 12, 31)
    assert month.span_end == dt.date(1988, 2, 29)
    assert war.date_display == "1992\u20131994"
    assert month.date_display == "February 1988"


def test_an_end_date_takes_the_start_precision_when_none_is_given():
    event = factories.EventFactory(date=dt.date(2020, 11, 9), end_date=dt.date(2020, 11, 10))
    assert event.end_date_precision == "day"
    assert event.date_display == "9\u201310 November 2020"


def test_a_postponement_to_the_same_date_is_refused():
    deadline = factories.DeadlineFactory()
    postponement = models.Postponement(
        deadline=deadline, sequence=1, from_date=deadline.due_on, to_date=deadline.due_on,
        decided_on=dt.date(2020, 11, 14),
    )
    assert_refused(postponement, "to_date", "same as the previous")


def test_a_citation_must_support_exactly_one_record():
    source = factories.SourceFactory()
    event = factories.EventFactory()
    agreement = factories.AgreementFactory()
    for citation in (models.Citation(source=source), models.Citation(source=source, event=event, agreement=agreement)):
        with pytest.raises(ValidationError):
            citation.full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            citation.save()


def test_a_discrepancy_is_about_exactly_one_record():
    discrepancy = models.Discrepancy(aspect="date signed", description="9 or 10 November")
    with pytest.raises(ValidationError):
        discrepancy.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        discrepancy.save()


def test_latitude_without_longitude_is_refused():
    district = factories.DistrictFactory.build(
        conflict=factories.ConflictFactory(), latitude=Decimal("40.1"), longitude=None
    )
    assert_refused(district, "longitude", "both latitude and longitude")


def test_coordinates_out_of_range_are_refused():
    district = factories.DistrictFactory.build(
        conflict=factories.ConflictFactory(), latitude=Decimal("91"), longitude=Decimal("46")
    )
    with pytest.raises(ValidationError) as caught:
        district.full_clean()
    assert "latitude" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        district.save()


def test_a_boundary_must_be_a_polygon_geometry():
    district = factories.DistrictFactory.build(conflict=factories.ConflictFactory(), boundary={"type": "Point"})
    with pytest.raises(ValidationError) as caught:
        district.full_clean()
    assert "Polygon" in caught.value.message_dict["boundary"][0]


def test_an_unknown_time_zone_is_refused():
    agreement = factories.AgreementFactory.build(
        conflict=factories.ConflictFactory(),
        effective_at=dt.datetime(2020, 11, 9, 21, tzinfo=dt.UTC),
        effective_timezone="Moscow/Standard",
    )
    with pytest.raises(ValidationError) as caught:
        agreement.full_clean()
    assert "Unknown time zone" in caught.value.message_dict["effective_timezone"][0]


def test_an_effective_moment_needs_its_time_zone():
    agreement = factories.AgreementFactory.build(
        conflict=factories.ConflictFactory(), effective_at=dt.datetime(2020, 11, 9, 21, tzinfo=dt.UTC)
    )
    assert_refused(agreement, "effective_timezone", "time zone")


def test_an_agreement_holds_both_the_signing_date_and_the_moment_it_took_effect():
    agreement = factories.AgreementFactory(
        signed_on=dt.date(2020, 11, 9),
        effective_at=dt.datetime(2020, 11, 9, 21, tzinfo=dt.UTC),
        effective_timezone="Europe/Moscow",
    )
    local = agreement.effective_local
    assert (local.date(), local.hour, local.minute) == (dt.date(2020, 11, 10), 0, 0)
    assert local.utcoffset() == dt.timedelta(hours=3)
    assert agreement.signed_on_display == "9 November 2020"


def test_a_source_url_must_be_a_web_address():
    source = factories.SourceFactory.build(url="javascript:alert(1)")
    with pytest.raises(ValidationError) as caught:
        source.full_clean()
    assert "url" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        source.save()


def test_provision_numbers_are_unique_within_an_agreement():
    provision = factories.ProvisionFactory(number=6)
    duplicate = models.Provision(agreement=provision.agreement, number=6, summary="again")
    with pytest.raises(ValidationError):
        duplicate.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_a_signatory_must_name_someone():
    signatory = models.Signatory(agreement=factories.AgreementFactory())
    with pytest.raises(ValidationError):
        signatory.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        signatory.save()


def test_a_party_colour_must_be_hex():
    party = factories.PartyFactory.build(colour="blue")
    assert_refused(party, "colour", "#1f77b4")


def test_a_party_cannot_be_a_member_of_itself():
    party = factories.PartyFactory()
    membership = models.Membership(group=party, member=party, role="co-chair")
    assert_refused(membership, "member", "member of itself")


def test_saving_bumps_the_version_used_for_stale_edit_checks():
    event = factories.EventFactory()
    assert event.version == 1
    event.title = "Changed"
    event.save()
    event.refresh_from_db()
    assert event.version == 2


def test_publishing_stamps_the_first_publication_time_once():
    event = factories.EventFactory(publication_status="draft")
    assert event.published_at is None
    event.publication_status = "published"
    event.save()
    first = event.published_at
    assert first is not None
    event.title = "Corrected"
    event.save()
    assert event.published_at == first


def test_alias_search_keys_ignore_case_and_diacritics():
    alias = factories.DistrictAliasFactory(name="Kəlbəcər", language="az")
    assert alias.search_key == "kelbecer"
    assert alias.district.search_key == alias.district.name.lower()
