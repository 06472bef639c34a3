"""The domain model of the Conflict Timeline.

A conflict is recorded as structured, sourced history:

* ``Party``: a state, de facto authority, armed force, mediator or organisation.
* ``District``: a territory that changes hands, with every ``DistrictAlias``.
* ``Agreement`` with ``Signatory`` rows, numbered ``Provision`` rows, each
  provision's implementation history (``ProvisionStatusChange``) and its
  ``Deadline`` rows; a deadline's ``Postponement`` rows are its history, its
  original date is never overwritten.
* ``Handover``: a district passing from one party to another under an agreement.
* ``Event``: any dated entry of the timeline, at day, month or year precision.
  Agreement signings, deadlines, postponements and completed handovers appear
  as *derived* events that ``services`` keep in step with their record, so no
  editor types them twice.
* ``Source`` and ``Citation``: every fact cites the passage that supports it;
  ``Discrepancy`` records where sources disagree instead of choosing silently.

Who controlled a district when is not typed anywhere: it is derived from
completed handovers and from ``ControlChange`` rows attached to dated events
(see ``selectors.district_control_history``).

Nothing here is specific to one conflict; a second conflict is data.
"""

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from timeline import dates, links
from timeline.text import fold

# --------------------------------------------------------------------------
# Shared building blocks
# --------------------------------------------------------------------------


class Precision(models.TextChoices):
    DAY = dates.DAY, "day"
    MONTH = dates.MONTH, "month"
    YEAR = dates.YEAR, "year"


class PublicationStatus(models.TextChoices):
    DRAFT = "draft", "draft"
    IN_REVIEW = "in_review", "in review"
    PUBLISHED = "published", "published"
    WITHDRAWN = "withdrawn", "withdrawn"


def precision_matches(date_field: str, precision_field: str) -> Q:
    """A date at month precision is the 1st of its month; at year precision, 1 January."""
    return (
        Q(**{precision_field: Precision.DAY})
        | Q(**{precision_field: Precision.MONTH, f"{date_field}__day": 1})
        | Q(**{precision_field: Precision.YEAR, f"{date_field}__day": 1, f"{date_field}__month": 1})
    )


def where_set(prefix: str, *fields: str) -> list[models.Index]:
    """Partial indexes, ``{prefix}_{field}_set``, of references that most rows leave empty: an empty one
    costs nothing to write or keep, and ``field = x`` (a lookup, a cascade) still uses the index."""
    return [
        models.Index(fields=[name], name=f"{prefix}_{name}_set", condition=Q(**{f"{name}__isnull": False}))
        for name in fields
    ]


def exactly_one_of(*fields: str) -> Q:
    """Exactly one of the nullable foreign keys ``fields`` is set."""
    condition = Q()
    for chosen in fields:
        branch = Q(**{f"{chosen}__isnull": False})
        for other in fields:
            if other != chosen:
                branch &= Q(**{f"{other}__isnull": True})
        condition |= branch
    return condition


def validate_precision(value: dt.date | None, precision: str, field: str) -> dict:
    if value is None or dates.is_period_start(value, precision):
        return {}
    hint = "the 1st of the month" if precision == Precision.MONTH else "1 January"
    return {field: f"At {precision} precision the date must be {hint} (got {value.isoformat()})."}


web_url_validator = URLValidator(schemes=["http", "https"])
colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f77b4.")


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


class PublishableQuerySet(models.QuerySet):
    def published(self):
        return self.filter(publication_status=PublicationStatus.PUBLISHED)


class PublishableModel(TimeStampedModel):
    """A record readers see only once it has passed review.

    ``version`` rises by one on every save; it is what ``If-Match`` and the
    admin's stale-edit check compare, so a second editor cannot silently
    overwrite the first.
    """

    publication_status = models.CharField(
        max_length=16,
        choices=PublicationStatus.choices,
        default=PublicationStatus.DRAFT,
        db_index=True,
    )
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When this record was first published."
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = PublishableQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_published(self) -> bool:
        return self.publication_status == PublicationStatus.PUBLISHED

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self.version += 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "version", "updated_at"}
        if self.publication_status == PublicationStatus.PUBLISHED and self.published_at is None:
            self.published_at = timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "published_at"}
        super().save(*args, **kwargs)


def review_permissions(model_name: str) -> list[tuple[str, str]]:
    """The permission that lets a reviewer publish, correct and withdraw a record of ``model_name``.

    Editors hold add/change; only holders of ``review_<model>`` make anything public
    (see ``timeline.workflow``).
    """
    return [(f"review_{model_name}", "Can publish, correct and withdraw")]


# --------------------------------------------------------------------------
# Conflicts, parties, territories
# --------------------------------------------------------------------------


class Conflict(TimeStampedModel):
    """The conflict a record belongs to; lets one database hold many."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    summary = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Party(PublishableModel):
    class Kind(models.TextChoices):
        STATE = "state", "state"
        DE_FACTO_AUTHORITY = "de_facto_authority", "de facto authority"
        ARMED_FORCES = "armed_forces", "armed forces"
        MEDIATOR = "mediator", "mediator group"
        ORGANISATION = "organisation", "organisation"
        OTHER = "other", "other"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    short_name = models.CharField(
        max_length=80, blank=True, help_text="How the timeline names it briefly, e.g. 'Baku' or 'Yerevan'."
    )
    kind = models.CharField(max_length=24, choices=Kind.choices, db_index=True)
    description = models.TextField(blank=True)
    colour = models.CharField(
        max_length=7,
        blank=True,
        validators=[colour_validator],
        help_text="Colour of this party on maps and control bars, e.g. #1f77b4.",
    )

    history = HistoricalRecords()

    class Meta:
        permissions = review_permissions("party")
        ordering = ["name"]
        verbose_name_plural = "parties"
        constraints = [
            models.CheckConstraint(
                condition=Q(colour="") | Q(colour__regex=r"^#[0-9a-fA-F]{6}$"),
                name="party_colour_is_hex",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def public_name(self) -> str:
        """The name readers see: ``UNPUBLISHED_PARTY`` until the party is published."""
        return party_public_name(self.name, self.publication_status)

    @staticmethod
    def path_for(slug: str) -> str:
        """The address of a party's page (the timeline filtered to it), from its slug alone."""
        return f"{links.path('timeline:home')}?party={slug}"

    def get_absolute_url(self):
        return self.path_for(self.slug)


class Membership(TimeStampedModel):
    """A party's place in a group: Russia as a co-chair of the OSCE Minsk Group."""

    group = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="member_of")
    role = models.CharField(max_length=80, help_text="e.g. co-chair, member")
    started_on = models.DateField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["group", "role", "member"]
        constraints = [
            models.UniqueConstraint(fields=["group", "member", "role"], name="membership_unique"),
            models.CheckConstraint(condition=~Q(group=F("member")), name="membership_not_self"),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(started_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="membership_end_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.member} ({self.role} of {self.group})"

    def clean(self):
        if self.group_id and self.group_id == self.member_id:
            raise ValidationError({"member": "A party cannot be a member of itself."})
        if self.started_on and self.ended_on and self.ended_on < self.started_on:
            raise ValidationError({"ended_on": "The end is before the start."})


class District(PublishableModel):
    class Kind(models.TextChoices):
        REGION = "region", "region"
        DISTRICT = "district", "district"
        TOWN = "town", "town"
        VILLAGE = "village", "village"
        CORRIDOR = "corridor", "corridor"
        OTHER = "other", "other"

    conflict = models.ForeignKey(Conflict, on_delete=models.PROTECT, related_name="districts")
    name = models.CharField(max_length=200, help_text="The canonical name the site uses.")
    slug = models.SlugField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DISTRICT, db_index=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
        help_text="The territory this one lies within, if any.",
    )
    latitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(Decimal(-90)), MaxValueValidator(Decimal(90))],
    )
    longitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(Decimal(-180)), MaxValueValidator(Decimal(180))],
    )
    boundary = models.JSONField(
        null=True, blank=True, help_text="Optional GeoJSON geometry (Polygon or MultiPolygon), WGS 84."
    )
    description = models.TextField(blank=True)
    search_key = models.CharField(max_length=200, editable=False, db_index=True)

    history = HistoricalRecords()

    class Meta:
        permissions = review_permissions("district")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["conflict", "name"], name="district_name_unique_per_conflict"),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(
                    latitude__isnull=False,
                    longitude__isnull=False,
                    latitude__gte=-90,
                    latitude__lte=90,
                    longitude__gte=-180,
                    longitude__lte=180,
                ),
                name="district_location_valid",
            ),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="district_not_own_parent"),
        ]

    def __str__(self):
        return self.name

    @property
    def public_name(self) -> str:
        """The name readers see where a published record names this district: ``UNPUBLISHED_DISTRICT``
        until it is published (its page, and the API, do not exist for it until then)."""
        return self.name if self.is_published else UNPUBLISHED_DISTRICT

    def get_absolute_url(self):
        return links.slug_path("timeline:district-detail", self.slug)

    def clean(self):
        errors = {}
        if (self.latitude is None) != (self.longitude is None):
            errors["longitude"] = "Give both latitude and longitude, or neither."
        if self.pk and self.parent_id == self.pk:
            errors["parent"] = "A district cannot lie within itself."
        if self.parent_id and self.conflict_id and self.parent.conflict_id != self.conflict_id:
            errors["parent"] = "The parent territory belongs to another conflict."
        if self.boundary is not None:
            if not isinstance(self.boundary, dict) or self.boundary.get("type") not in {"Polygon", "MultiPolygon"}:
                errors["boundary"] = 'Give a GeoJSON geometry whose "type" is Polygon or MultiPolygon.'
            elif not isinstance(self.boundary.get("coordinates"), list):
                errors["boundary"] = 'The GeoJSON geometry needs a "coordinates" list.'
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        self.search_key = fold(self.name)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_key"}
        super().save(*args, **kwargs)


class DistrictAlias(TimeStampedModel):
    """Another name of a district, in any spelling or script, with its language."""

    class Kind(models.TextChoices):
        OFFICIAL = "official", "official name"
        LOCAL = "local", "local name"
        EXONYM = "exonym", "name in another language"
        TRANSLITERATION = "transliteration", "transliteration"
        HISTORICAL = "historical", "historical name"

    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=200)
    language = models.CharField(
        max_length=35, help_text="A BCP 47 language tag: en, az, hy, ru, az-Latn, hy-Latn ..."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EXONYM)
    search_key = models.CharField(max_length=200, editable=False, db_index=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["district", "language", "name"]
        verbose_name_plural = "district aliases"
        constraints = [
            models.UniqueConstraint(fields=["district", "name", "language"], name="alias_unique_per_language"),
            models.CheckConstraint(condition=~Q(name=""), name="alias_name_not_empty"),
            models.CheckConstraint(condition=~Q(language=""), name="alias_language_not_empty"),
        ]

    def __str__(self):
        return f"{self.name} ({self.language})"

    def save(self, *args, **kwargs):
        self.search_key = fold(self.name)
        super().save(*args, **kwargs)


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


class Source(PublishableModel):
    """A document that supports facts: an official text, a news report, a reference work."""

    class Kind(models.TextChoices):
        OFFICIAL_TEXT = "official_text", "official text"
        NEWS_REPORT = "news_report", "news report"
        REFERENCE = "reference", "reference work"
        ANALYSIS = "analysis", "analysis"
        BRIEF = "brief", "source brief"
        OTHER = "other", "other"

    title = models.CharField(max_length=300)
    slug = models.SlugField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    publisher = models.CharField(max_length=200, blank=True, help_text="Leave empty if unknown; never guess.")
    author = models.CharField(max_length=200, blank=True)
    published_on = models.DateField(null=True, blank=True)
    published_on_precision = models.CharField(max_length=5, choices=Precision.choices, default=Precision.DAY)
    url = models.URLField(
        max_length=500, blank=True, validators=[web_url_validator],
        help_text="Only an address where the document really is; leave empty rather than invent one.",
    )
    language = models.CharField(max_length=35, blank=True)
    description = models.TextField(
        blank=True, help_text="What this source is, and how it reached the record if it has no public address."
    )

    history = HistoricalRecords()

    class Meta:
        permissions = review_permissions("source")
        ordering = ["-published_on", "title"]
        constraints = [
            models.CheckConstraint(
                condition=precision_matches("published_on", "published_on_precision") | Q(published_on__isnull=True),
                name="source_precision_matches_date",
            ),
            models.CheckConstraint(
                condition=Q(url="") | Q(url__startswith="http://") | Q(url__startswith="https://"),
                name="source_url_is_web",
            ),
        ]

    def __str__(self):
        return self.title

    def clean(self):
        errors = validate_precision(self.published_on, self.published_on_precision, "published_on")
        if errors:
            raise ValidationError(errors)

    @property
    def published_on_display(self) -> str:
        if self.published_on is None:
            return ""
        return dates.format_date(self.published_on, self.published_on_precision)


# --------------------------------------------------------------------------
# Agreements, provisions, deadlines
# --------------------------------------------------------------------------


class Agreement(PublishableModel):
    class Kind(models.TextChoices):
        CEASEFIRE_STATEMENT = "ceasefire_statement", "ceasefire statement"
        HUMANITARIAN_CEASEFIRE = "humanitarian_ceasefire", "humanitarian ceasefire"
        ARMISTICE_PROTOCOL = "armistice_protocol", "armistice protocol"
        PEACE_AGREEMENT = "peace_agreement", "peace agreement"
        MEMORANDUM = "memorandum", "memorandum"
        JOINT_STATEMENT = "joint_statement", "joint statement"
        OTHER = "other", "other"

    conflict = models.ForeignKey(Conflict, on_delete=models.PROTECT, related_name="agreements")
    title = models.CharField(max_length=300)
    short_title = models.CharField(max_length=120, blank=True)
    slug = models.SlugField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    summary = models.TextField(blank=True)
    signed_on = models.DateField(
        help_text="The date the text was signed. If sources give another date, record it as a discrepancy."
    )
    signed_on_precision = models.CharField(max_length=5, choices=Precision.choices, default=Precision.DAY)
    signed_at_place = models.CharField(max_length=200, blank=True)
    effective_at = models.DateTimeField(
        null=True, blank=True, help_text="The moment it took effect (stored in UTC; shown in the zone below)."
    )
    effective_timezone = models.CharField(
        max_length=64, blank=True, help_text="The IANA time zone its text states the moment in, e.g. Europe/Moscow."
    )

    history = HistoricalRecords()

    class Meta:
        permissions = review_permissions("agreement")
        ordering = ["signed_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=precision_matches("signed_on", "signed_on_precision"),
                name="agreement_precision_matches_date",
            ),
            models.CheckConstraint(
                condition=Q(effective_at__isnull=True, effective_timezone="")
                | Q(effective_at__isnull=False) & ~Q(effective_timezone=""),
                name="agreement_effective_moment_has_zone",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return links.slug_path("timeline:agreement-detail", self.slug)

    def clean(self):
        errors = validate_precision(self.signed_on, self.signed_on_precision, "signed_on")
        if self.effective_timezone:
            try:
                zoneinfo.ZoneInfo(self.effective_timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errors["effective_timezone"] = f"Unknown time zone {self.effective_timezone!r}; use e.g. Europe/Moscow."
        if self.effective_at is not None and not self.effective_timezone:
            errors["effective_timezone"] = "Say which time zone the moment it took effect is given in."
        if self.effective_at is None and self.effective_timezone:
            errors["effective_at"] = "A time zone was given without the moment it took effect."
        if errors:
            raise ValidationError(errors)

    @property
    def effective_local(self) -> dt.datetime | None:
        """The moment it took effect in the zone its text uses (00:00 Moscow time)."""
        if self.effective_at is None or not self.effective_timezone:
            return None
        return self.effective_at.astimezone(zoneinfo.ZoneInfo(self.effective_timezone))

    @property
    def signed_on_display(self) -> str:
        return dates.format_date(self.signed_on, self.signed_on_precision)


class Signatory(TimeStampedModel):
    class Capacity(models.TextChoices):
        SIGNATORY = "signatory", "signatory"
        MEDIATOR = "mediator", "mediator"
        GUARANTOR = "guarantor", "guarantor"
        WITNESS = "witness", "witness"

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="signatories")
    party = models.ForeignKey(Party, null=True, blank=True, on_delete=models.PROTECT, related_name="signatures")
    person_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=200, blank=True, help_text="e.g. President of the Republic of Azerbaijan")
    capacity = models.CharField(max_length=16, choices=Capacity.choices, default=Capacity.SIGNATORY)
    order = models.PositiveSmallIntegerField(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering = ["agreement", "order", "id"]
        verbose_name_plural = "signatories"
        constraints = [
            models.CheckConstraint(
                condition=Q(party__isnull=False) | ~Q(person_name=""), name="signatory_names_someone"
            ),
            models.UniqueConstraint(
                fields=["agreement", "party", "person_name", "capacity"], name="signatory_unique"
            ),
        ]

    def __str__(self):
        who = self.person_name or str(self.party)
        return f"{who} ({self.get_capacity_display()})"

    def clean(self):
        if self.party_id is None and not self.person_name:
            raise ValidationError("Name the party, the person, or both.")


class Provision(TimeStampedModel):
    """A numbered point of an agreement."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="provisions")
    number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    summary = models.TextField(help_text="A short summary of what the point says.")
    text = models.TextField(blank=True, help_text="The wording, where it is quoted from an official text.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["agreement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="provision_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="provision_number_positive"),
        ]

    def __str__(self):
        return f"{self.agreement.short_title or self.agreement.title}, point {self.number}"


class ProvisionStatus(models.TextChoices):
    NOT_STARTED = "not_started", "not started"
    IN_PROGRESS = "in_progress", "in progress"
    PARTLY_IMPLEMENTED = "partly_implemented", "partly implemented"
    IMPLEMENTED = "implemented", "implemented"
    BREACHED = "breached", "breached"
    SUPERSEDED = "superseded", "superseded"
    DISPUTED = "disputed", "disputed"


class ProvisionStatusChange(TimeStampedModel):
    """One dated step of a provision's implementation: history, never overwritten.

    ``claimed_by`` is empty when the record establishes the status itself and
    names a party when only that party asserts it; two parties asserting
    different statuses make the provision disputed.
    """

    provision = models.ForeignKey(Provision, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=20, choices=ProvisionStatus.choices)
    from_date = models.DateField(help_text="The day this status took effect.")
    claimed_by = models.ForeignKey(
        Party, null=True, blank=True, on_delete=models.PROTECT, related_name="provision_claims"
    )
    note = models.TextField(blank=True)
    evidence_events = models.ManyToManyField("Event", blank=True, related_name="evidence_for")
    evidence_handovers = models.ManyToManyField("Handover", blank=True, related_name="evidence_for")

    history = HistoricalRecords()

    class Meta:
        ordering = ["provision", "from_date", "id"]
        indexes = [models.Index(fields=["status", "from_date"])]

    def __str__(self):
        return f"{self.provision}: {self.get_status_display()} from {self.from_date}"


class Deadline(TimeStampedModel):
    """An obligation in an agreement with a due date, usually about a district.

    ``original_due_on`` is what the text set and is never changed by a
    postponement; ``due_on`` is the current date, kept equal to the last
    postponement's ``to_date`` by ``services.deadline_postpone``.
    """

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="deadlines")
    provision = models.ForeignKey(
        Provision, null=True, blank=True, on_delete=models.SET_NULL, related_name="deadlines"
    )
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.PROTECT, related_name="deadlines"
    )
    obligation = models.CharField(max_length=300, help_text="What is due, e.g. 'Return of the Kalbajar district'.")
    obligated_party = models.ForeignKey(
        Party, null=True, blank=True, on_delete=models.PROTECT, related_name="obligations"
    )
    original_due_on = models.DateField()
    due_on = models.DateField(db_index=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "obligation"], name="deadline_obligation_unique"),
        ]

    def __str__(self):
        return f"{self.obligation} (due {self.due_on:%d %B %Y})"

    def clean(self):
        errors = {}
        if self.provision_id and self.agreement_id and self.provision.agreement_id != self.agreement_id:
            errors["provision"] = "This point belongs to another agreement."
        if self.district_id and self.agreement_id and self.district.conflict_id != self.agreement.conflict_id:
            errors["district"] = "This district belongs to another conflict."
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if self.due_on is None:
            self.due_on = self.original_due_on
        super().save(*args, **kwargs)

    @property
    def is_postponed(self) -> bool:
        return self.due_on != self.original_due_on


class Postponement(TimeStampedModel):
    """A deadline moved from one date to another: who asked, who agreed, why, when."""

    deadline = models.ForeignKey(Deadline, on_delete=models.CASCADE, related_name="postponements")
    sequence = models.PositiveSmallIntegerField(
        editable=False, help_text="1 for the first postponement of this deadline, 2 for the next ..."
    )
    from_date = models.DateField(help_text="The due date before this postponement.")
    to_date = models.DateField(help_text="The new due date.")
    requested_by = models.ForeignKey(
        Party, null=True, blank=True, on_delete=models.PROTECT, related_name="postponements_requested"
    )
    agreed_by = models.ManyToManyField(Party, blank=True, related_name="postponements_agreed")
    reason = models.TextField(blank=True)
    decided_on = models.DateField(help_text="The day the postponement was agreed or announced.")

    history = HistoricalRecords(m2m_fields=[agreed_by])

    class Meta:
        ordering = ["deadline", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["deadline", "sequence"], name="postponement_sequence_unique"),
            models.CheckConstraint(condition=~Q(to_date=F("from_date")), name="postponement_changes_date"),
        ]

    def __str__(self):
        return f"{self.deadline.obligation}: {self.from_date} \u2192 {self.to_date}"

    def clean(self):
        if self.from_date and self.to_date and self.from_date == self.to_date:
            raise ValidationError({"to_date": "The new date is the same as the previous one."})


class Handover(PublishableModel):
    """A district passing from one party to another under an agreement and its deadline.

    ``status`` is derived, never typed: completed once ``completed_on`` is set,
    cancelled once ``cancelled_on`` is, postponed while its deadline has been
    moved, scheduled otherwise (``refresh_status``).
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "scheduled"
        POSTPONED = "postponed", "postponed"
        COMPLETED = "completed", "completed"
        CANCELLED = "cancelled", "cancelled"

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="handovers")
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.PROTECT, related_name="handovers"
    )
    deadline = models.OneToOneField(
        Deadline, null=True, blank=True, on_delete=models.SET_NULL, related_name="handover"
    )
    from_party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="handovers_given")
    to_party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="handovers_received")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SCHEDULED, editable=False, db_index=True
    )
    completed_on = models.DateField(null=True, blank=True, db_index=True)
    cancelled_on = models.DateField(null=True, blank=True)
    summary = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        permissions = review_permissions("handover")
        ordering = ["district__name", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(from_party=F("to_party")), name="handover_parties_differ"),
            models.UniqueConstraint(
                fields=["district", "agreement"], name="handover_one_per_district_per_agreement"
            ),
            models.CheckConstraint(
                condition=Q(completed_on__isnull=True) | Q(cancelled_on__isnull=True),
                name="handover_not_both_completed_and_cancelled",
            ),
            models.CheckConstraint(
                condition=(Q(status="completed") & Q(completed_on__isnull=False))
                | (Q(status="cancelled") & Q(cancelled_on__isnull=False, completed_on__isnull=True))
                | (Q(status__in=["scheduled", "postponed"]) & Q(completed_on__isnull=True, cancelled_on__isnull=True)),
                name="handover_status_matches_dates",
            ),
        ]

    def __str__(self):
        return f"{self.district}: {self.from_party} \u2192 {self.to_party}"

    def get_absolute_url(self):
        # Filtered to its district, so the row is on the page whatever page of the tracker it falls on;
        # a district not yet published is not named (its row's anchor is the handover's id).
        if not self.district.is_published:
            return f"{links.path('timeline:handover-list')}#handover-{self.pk}"
        slug = self.district.slug
        return f"{links.path('timeline:handover-list')}?district={slug}#handover-{slug}"

    def clean(self):
        self.status = self.derive_status()
        errors = {}
        if self.from_party_id and self.from_party_id == self.to_party_id:
            errors["to_party"] = "A handover needs two different parties."
        if self.completed_on and self.cancelled_on:
            errors["cancelled_on"] = "A handover cannot be both completed and cancelled."
        if self.deadline_id:
            if self.agreement_id and self.deadline.agreement_id != self.agreement_id:
                errors["deadline"] = "This deadline belongs to another agreement."
            if self.district_id and self.deadline.district_id not in (None, self.district_id):
                errors["deadline"] = "This deadline is about another district."
        if self.district_id and self.agreement_id and self.district.conflict_id != self.agreement.conflict_id:
            errors["district"] = "This district belongs to another conflict than the agreement."
        if errors:
            raise ValidationError(errors)

    def derive_status(self) -> str:
        if self.completed_on is not None:
            return self.Status.COMPLETED
        if self.cancelled_on is not None:
            return self.Status.CANCELLED
        if self.deadline_id is not None and self.deadline.is_postponed:
            return self.Status.POSTPONED
        return self.Status.SCHEDULED

    def save(self, *args, **kwargs):
        self.status = self.derive_status()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "status"}
        super().save(*args, **kwargs)

    @property
    def original_due_on(self) -> dt.date | None:
        return self.deadline.original_due_on if self.deadline_id else None

    @property
    def due_on(self) -> dt.date | None:
        return self.deadline.due_on if self.deadline_id else None

    @property
    def delay_days(self) -> int | None:
        """Days between the original deadline and completion (negative if early)."""
        if self.completed_on is None or self.original_due_on is None:
            return None
        return (self.completed_on - self.original_due_on).days

    @property
    def delay_against_current_days(self) -> int | None:
        """Days between the current (postponed) deadline and completion."""
        if self.completed_on is None or self.due_on is None:
            return None
        return (self.completed_on - self.due_on).days


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


# How the pages name a party that is not published yet wherever a published record names it (the
# party behind a claim, a handover, a postponement, a period of control): the record is shown,
# without the name (the API gives null for such a party, or leaves it out of a list).
UNPUBLISHED_PARTY = "a party not yet published"
# The same for a district (a handover, a deadline or a change of control of it).
UNPUBLISHED_DISTRICT = "a district not yet published"


def party_public_name(name: str, publication_status: str) -> str:
    """The name a page gives a party, from its name and publication status (``Party.public_name``,
    or rows that carry the two)."""
    return name if publication_status == PublicationStatus.PUBLISHED else UNPUBLISHED_PARTY


class Event(dates.DatedEntry, PublishableModel):
    """A dated entry of the timeline.

    Most events are written by editors (``origin=editorial``). The others are
    derived from an agreement, a deadline, a postponement or a handover and
    kept in step with it by ``services.derived_events_sync``; editors change
    the record they come from, not the derived event.
    """

    class Kind(models.TextChoices):
        POLITICAL = "political", "political"
        MILITARY = "military", "military"
        CEASEFIRE = "ceasefire", "ceasefire"
        AGREEMENT = "agreement", "agreement"
        DEADLINE = "deadline", "deadline"
        HANDOVER = "handover", "handover"
        NEGOTIATION = "negotiation", "negotiation"
        HUMANITARIAN = "humanitarian", "humanitarian"
        DISPLACEMENT = "displacement", "displacement"
        STATEMENT = "statement", "statement"
        OTHER = "other", "other"

    class Origin(models.TextChoices):
        EDITORIAL = "editorial", "written by an editor"
        AGREEMENT_SIGNED = "agreement_signed", "agreement signed"
        DEADLINE_DUE = "deadline_due", "deadline set"
        DEADLINE_POSTPONED = "deadline_postponed", "deadline postponed"
        HANDOVER_COMPLETED = "handover_completed", "handover completed"

    conflict = models.ForeignKey(Conflict, on_delete=models.PROTECT, related_name="events")
    slug = models.SlugField(max_length=140, unique=True)
    title = models.CharField(max_length=300)
    summary = models.TextField()
    body = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.EDITORIAL, editable=False)

    date = models.DateField(help_text="The first day of the period: 1988-02-01 for 'February 1988'.")
    date_precision = models.CharField(max_length=5, choices=Precision.choices, default=Precision.DAY)
    end_date = models.DateField(null=True, blank=True, help_text="For a span such as 1992-1994.")
    end_date_precision = models.CharField(max_length=5, choices=Precision.choices, blank=True)
    span_end = models.DateField(
        editable=False, help_text="The last day the entry covers at its precision; used for range filters."
    )
    search_text = models.TextField(
        editable=False, default="",
        help_text="Title and summary folded for search (see search_text_for); kept in step by save().",
    )

    # Events are the table that grows (a million rows and more) and most leave these references empty:
    # their indexes are partial (``Meta.indexes``), so the empty ones cost nothing to write or keep.
    claimed_by = models.ForeignKey(
        Party, null=True, blank=True, on_delete=models.PROTECT, related_name="claims", db_index=False,
        help_text="Set when this is one side's statement, not an established fact.",
    )
    districts = models.ManyToManyField(District, blank=True, related_name="events")
    parties = models.ManyToManyField(Party, blank=True, related_name="events")
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_index=False
    )
    handover = models.ForeignKey(
        Handover, null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_index=False
    )
    deadline = models.ForeignKey(
        Deadline, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    postponement = models.ForeignKey(
        Postponement, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    # Not indexed alone: event_public_timeline and event_public_span_end lead with it.
    publication_status = models.CharField(
        max_length=16, choices=PublicationStatus.choices, default=PublicationStatus.DRAFT
    )

    # The historical rows are read by id and date (timeline.record_time), by history_id, and by
    # user; indexes on their other columns would only slow every write (an import writes 100,000s).
    history = HistoricalRecords(m2m_fields=[districts, parties], no_db_index=[
        "publication_status", "updated_at", "conflict", "claimed_by", "agreement", "handover", "deadline",
        "postponement", "kind", "slug",
    ])

    class Meta:
        permissions = review_permissions("event")
        ordering = ["date", "id"]
        indexes = [
            models.Index(fields=["publication_status", "date", "id"], name="event_public_timeline"),
            models.Index(fields=["publication_status", "span_end"], name="event_public_span_end"),
            models.Index(fields=["conflict", "date"], name="event_conflict_date"),
            models.Index(fields=["kind"], name="event_kind"),
            *where_set("event", "claimed_by", "agreement", "handover", "deadline", "postponement"),
        ]
        constraints = [
            models.CheckConstraint(condition=precision_matches("date", "date_precision"), name="event_precision_matches_date"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True, end_date_precision="")
                | Q(end_date__isnull=False) & precision_matches("end_date", "end_date_precision"),
                name="event_end_precision_matches_end_date",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("date")), name="event_end_not_before_start"
            ),
            models.CheckConstraint(condition=Q(span_end__gte=F("date")), name="event_span_end_not_before_start"),
            models.CheckConstraint(condition=~Q(title=""), name="event_title_not_empty"),
            models.UniqueConstraint(
                fields=["agreement"], condition=Q(origin="agreement_signed"), name="event_one_per_agreement_signing"
            ),
            models.UniqueConstraint(
                fields=["deadline"], condition=Q(origin="deadline_due"), name="event_one_per_deadline"
            ),
            models.UniqueConstraint(
                fields=["postponement"], condition=Q(origin="deadline_postponed"), name="event_one_per_postponement"
            ),
            models.UniqueConstraint(
                fields=["handover"], condition=Q(origin="handover_completed"), name="event_one_per_handover_completion"
            ),
        ]

    def __str__(self):
        return f"{self.date_display}: {self.title}"

    def get_absolute_url(self):
        return links.slug_path("timeline:event-detail", self.slug)

    def clean(self):
        errors = {}
        errors.update(validate_precision(self.date, self.date_precision, "date"))
        if self.end_date is not None:
            if not self.end_date_precision:
                self.end_date_precision = self.date_precision
            errors.update(validate_precision(self.end_date, self.end_date_precision, "end_date"))
            if self.date and self.end_date < self.date:
                errors["end_date"] = "The end date is before the start date."
        elif self.end_date_precision:
            errors["end_date_precision"] = "A precision was given without an end date."
        if errors:
            raise ValidationError(errors)
        if self.date is not None:
            self.span_end = self.compute_span_end()

    def save(self, *args, **kwargs):
        if self.end_date is not None and not self.end_date_precision:
            self.end_date_precision = self.date_precision
        self.span_end = self.compute_span_end()
        self.search_text = self.search_text_for(self.title, self.summary)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            update_fields = {*update_fields, "span_end", "end_date_precision"}
            if {"title", "summary"} & update_fields:
                update_fields.add("search_text")
            kwargs["update_fields"] = update_fields
        super().save(*args, **kwargs)

    @staticmethod
    def search_text_for(title: str, summary: str) -> str:
        """What ``?q=`` matches in an event's own words: title and summary, folded.

        ``bulk_create`` skips ``save()``: whoever bulk-creates events (importer,
        synthetic data) sets ``search_text=Event.search_text_for(title, summary)``.
        """
        return fold(f"{title} {summary}")

    def compute_span_end(self) -> dt.date:
        if self.end_date is not None:
            return dates.period_end(self.end_date, self.end_date_precision or self.date_precision)
        return dates.period_end(self.date, self.date_precision)

    @property
    def is_claim(self) -> bool:
        return self.claimed_by_id is not None

    @property
    def public_claimant(self):
        """The claiming party when readers may see it: a claim by a party that is not published
        yet stays a claim (``is_claim``) but does not name it, as the API's ``claimed_by`` is null."""
        party = self.claimed_by if self.claimed_by_id is not None else None
        return party if party is not None and party.is_published else None

    @property
    def claimant_name(self) -> str:
        """Who claims it, as the pages say it (``Party.public_name``); empty when it is not a claim."""
        return self.claimed_by.public_name if self.claimed_by_id is not None else ""

    @property
    def is_derived(self) -> bool:
        return self.origin != self.Origin.EDITORIAL


class ControlChange(TimeStampedModel):
    """What a dated event says about who controls a district from its date on.

    Together with completed handovers these rows are the whole source of a
    district's control history; nothing else stores it.
    """

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="control_changes")
    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="control_changes")
    controlled_by = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="control_changes")

    history = HistoricalRecords()

    class Meta:
        ordering = ["district", "event__date"]
        constraints = [
            models.UniqueConstraint(fields=["event", "district"], name="control_change_one_per_event_district"),
        ]

    def __str__(self):
        return f"{self.district}: {self.controlled_by} (from {self.event.date_display})"


# --------------------------------------------------------------------------
# Citations and discrepancies
# --------------------------------------------------------------------------

CITING_FIELDS = ("event", "agreement", "deadline", "postponement", "handover", "status_change")


class Citation(TimeStampedModel):
    """A source cited for exactly one record, with the passage or point it supports."""

    # Each citation fills exactly one of these (most of them ``event``): the others' indexes are partial
    # (``Meta.indexes``), so an empty reference costs nothing to write or keep.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="citations")
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.CASCADE, related_name="citations")
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.CASCADE, related_name="citations", db_index=False
    )
    deadline = models.ForeignKey(
        Deadline, null=True, blank=True, on_delete=models.CASCADE, related_name="citations", db_index=False
    )
    postponement = models.ForeignKey(
        Postponement, null=True, blank=True, on_delete=models.CASCADE, related_name="citations", db_index=False
    )
    handover = models.ForeignKey(
        Handover, null=True, blank=True, on_delete=models.CASCADE, related_name="citations", db_index=False
    )
    status_change = models.ForeignKey(
        ProvisionStatusChange, null=True, blank=True, on_delete=models.CASCADE, related_name="citations",
        db_index=False,
    )
    passage = models.TextField(blank=True, help_text="The words of the source that support the record.")
    locator = models.CharField(max_length=120, blank=True, help_text="Where in the source: 'point 6', 'paragraph 3'.")
    order = models.PositiveSmallIntegerField(default=0)

    # Read by id and date, and by the record cited (``event``, ``agreement`` ...: the admin's history).
    history = HistoricalRecords(no_db_index=["updated_at", "source"])

    class Meta:
        ordering = ["order", "id"]
        indexes = where_set("citation", "agreement", "deadline", "postponement", "handover", "status_change")
        constraints = [
            models.CheckConstraint(condition=exactly_one_of(*CITING_FIELDS), name="citation_cites_exactly_one_record"),
        ]

    def __str__(self):
        return f"{self.source} {self.locator}".strip()

    def clean(self):
        chosen = [name for name in CITING_FIELDS if getattr(self, f"{name}_id") is not None]
        if len(chosen) != 1:
            raise ValidationError("A citation supports exactly one record.")


DISCREPANCY_FIELDS = ("event", "agreement", "district", "handover", "deadline")


class Discrepancy(TimeStampedModel):
    """Where sources disagree or are ambiguous: recorded, not silently resolved.

    e.g. the 2020 statement 'signed on 9 November' (news reports) against
    '10 November' (the official texts).
    """

    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.CASCADE, related_name="discrepancies")
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.CASCADE, related_name="discrepancies"
    )
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.CASCADE, related_name="discrepancies"
    )
    handover = models.ForeignKey(
        Handover, null=True, blank=True, on_delete=models.CASCADE, related_name="discrepancies"
    )
    deadline = models.ForeignKey(
        Deadline, null=True, blank=True, on_delete=models.CASCADE, related_name="discrepancies"
    )
    aspect = models.CharField(max_length=120, help_text="What the sources disagree on, e.g. 'date signed'.")
    description = models.TextField(help_text="What each source says, without choosing.")
    sources = models.ManyToManyField(Source, blank=True, related_name="discrepancies")

    history = HistoricalRecords(m2m_fields=[sources])

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.CheckConstraint(
                condition=exactly_one_of(*DISCREPANCY_FIELDS), name="discrepancy_about_exactly_one_record"
            ),
        ]

    def __str__(self):
        return f"Sources differ on {self.aspect}"

    def clean(self):
        chosen = [name for name in DISCREPANCY_FIELDS if getattr(self, f"{name}_id") is not None]
        if len(chosen) != 1:
            raise ValidationError("A discrepancy is about exactly one record.")


# --------------------------------------------------------------------------
# Publication log
# --------------------------------------------------------------------------


class Publication(models.Model):
    """One public act on a record: published, corrected or withdrawn.

    It is what readers are told ("Corrected on 26 November 2020: ..."), what
    the feed of changes lists, and where a reviewer's decision is attributed.
    The record's own past states are in its history tables; this is the log of
    what was made public and when.
    """

    class Action(models.TextChoices):
        PUBLISHED = "published", "published"
        CORRECTED = "corrected", "corrected"
        WITHDRAWN = "withdrawn", "withdrawn"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    slug = models.CharField(max_length=140, blank=True, help_text="The record's slug when this happened.")
    title = models.CharField(max_length=300, help_text="The record's title or name when this happened.")
    note = models.TextField(blank=True, help_text="The public note; required for a correction or a withdrawal.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="publications"
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"], name="publication_record_at")]
        constraints = [
            models.CheckConstraint(
                condition=Q(action="published") | ~Q(note=""), name="publication_note_for_corrections"
            ),
        ]

    def __str__(self):
        return f"{self.title} {self.action} {self.at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.action != self.Action.PUBLISHED and not self.note.strip():
            raise ValidationError({"note": "A correction or a withdrawal needs a short public note."})


class RecordClock(models.Model):
    """A single row whose ``version`` moves on every committed change to the record.

    Anonymous responses are cached and validated (ETag) against it, so a
    reader's cached answer can never outlive a publish, correction or
    withdrawal: the change and the new version commit together. See
    ``timeline.cache``.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    version = models.PositiveBigIntegerField(default=1)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="record_clock_single_row")]

    def __str__(self):
        return f"record version {self.version} ({self.changed_at:%Y-%m-%d %H:%M:%S})"
