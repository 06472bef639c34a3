"""factory_boy factories for every model; published by default so pages and API see them."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from timeline import models


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct horse battery staple")


class ConflictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Conflict
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Conflict {n}")
    slug = factory.Sequence(lambda n: f"conflict-{n}")


class PartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Party

    name = factory.Sequence(lambda n: f"Party {n}")
    slug = factory.Sequence(lambda n: f"party-{n}")
    kind = models.Party.Kind.STATE
    publication_status = models.PublicationStatus.PUBLISHED


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.District

    conflict = factory.SubFactory(ConflictFactory)
    name = factory.Sequence(lambda n: f"District {n}")
    slug = factory.Sequence(lambda n: f"district-{n}")
    kind = models.District.Kind.DISTRICT
    latitude = factory.Sequence(lambda n: 40 + (n % 10) / 10)
    longitude = factory.Sequence(lambda n: 46 + (n % 10) / 10)
    publication_status = models.PublicationStatus.PUBLISHED


class DistrictAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.DistrictAlias

    district = factory.SubFactory(DistrictFactory)
    name = factory.Sequence(lambda n: f"Alias {n}")
    language = "en"


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Source

    title = factory.Sequence(lambda n: f"Report {n}")
    slug = factory.Sequence(lambda n: f"report-{n}")
    kind = models.Source.Kind.NEWS_REPORT
    publisher = "Example News"
    published_on = dt.date(2020, 11, 25)
    publication_status = models.PublicationStatus.PUBLISHED


class AgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Agreement

    conflict = factory.SubFactory(ConflictFactory)
    title = factory.Sequence(lambda n: f"Agreement {n}")
    slug = factory.Sequence(lambda n: f"agreement-{n}")
    kind = models.Agreement.Kind.CEASEFIRE_STATEMENT
    signed_on = dt.date(2020, 11, 9)
    publication_status = models.PublicationStatus.PUBLISHED


class SignatoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Signatory

    agreement = factory.SubFactory(AgreementFactory)
    party = factory.SubFactory(PartyFactory)
    person_name = factory.Sequence(lambda n: f"Person {n}")
    role = "President"


class ProvisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Provision

    agreement = factory.SubFactory(AgreementFactory)
    number = factory.Sequence(lambda n: n + 1)
    summary = factory.Sequence(lambda n: f"Point {n}")


class DeadlineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Deadline

    agreement = factory.SubFactory(AgreementFactory)
    district = factory.SubFactory(DistrictFactory, conflict=factory.SelfAttribute("..agreement.conflict"))
    obligation = factory.Sequence(lambda n: f"Return of district {n}")
    original_due_on = dt.date(2020, 11, 15)
    due_on = factory.SelfAttribute("original_due_on")


class HandoverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Handover

    deadline = factory.SubFactory(DeadlineFactory)
    agreement = factory.SelfAttribute("deadline.agreement")
    district = factory.SelfAttribute("deadline.district")
    from_party = factory.SubFactory(PartyFactory)
    to_party = factory.SubFactory(PartyFactory)
    publication_status = models.PublicationStatus.PUBLISHED


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Event
        skip_postgeneration_save = True

    conflict = factory.SubFactory(ConflictFactory)
    slug = factory.Sequence(lambda n: f"event-{n}")
    title = factory.Sequence(lambda n: f"Event {n}")
    summary = "Something happened."
    kind = models.Event.Kind.POLITICAL
    date = dt.date(2020, 11, 25)
    date_precision = models.Precision.DAY
    publication_status = models.PublicationStatus.PUBLISHED

    @factory.post_generation
    def districts(self, create, extracted, **kwargs):
        if create and extracted:
            self.districts.set(extracted)

    @factory.post_generation
    def parties(self, create, extracted, **kwargs):
        if create and extracted:
            self.parties.set(extracted)


class CitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Citation

    source = factory.SubFactory(SourceFactory)
    event = factory.SubFactory(EventFactory)
    passage = "The words that support it."


class ControlChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ControlChange

    event = factory.SubFactory(EventFactory)
    district = factory.SubFactory(DistrictFactory)
    controlled_by = factory.SubFactory(PartyFactory)
