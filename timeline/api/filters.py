"""Query-string filters. Values are validated before any query runs: a malformed
date, an unknown slug or an over-long search is a 400 naming the parameter,
never an empty list and never a 500.

The event filters delegate to ``selectors.event_filter`` so the public pages
and the API select exactly the same events.
"""

import copy

import django_filters
from django import forms
from django.core.validators import validate_slug
from django.http import QueryDict
from django.utils import timezone
from django_filters.widgets import QueryArrayWidget
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from timeline import selectors
from timeline.api.permissions import sees_unpublished
from timeline.models import (
    Agreement,
    Deadline,
    District,
    Event,
    Handover,
    Party,
    Provision,
    ProvisionStatus,
    PublicationStatus,
    Source,
)

MAX_Q_LENGTH = 200
MAX_SLUGS = 50


class SlugListField(forms.Field):
    """One or more slugs: ``?district=a&district=b`` or ``?district=a,b``."""

    widget = QueryArrayWidget

    def to_python(self, value):
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        slugs = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
        if len(slugs) > MAX_SLUGS:
            raise forms.ValidationError(f"Give at most {MAX_SLUGS} slugs.")
        for slug in slugs:
            if len(slug) > 140:
                raise forms.ValidationError("%(slug)r… is too long to be a slug.", params={"slug": slug[:40]})
            try:
                validate_slug(slug)
            except forms.ValidationError:
                raise forms.ValidationError(
                    "%(slug)r is not a slug (letters, digits, - and _).", params={"slug": slug[:40]}
                ) from None
        return slugs


@extend_schema_field({"type": "array", "items": {"type": "string", "maxLength": 140}})
class SlugListFilter(django_filters.Filter):
    field_class = SlugListField

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__slug__in": value})


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise forms.ValidationError("Give true or false (got %(value)r).", params={"value": str(value)[:40]})


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


def _field_copy(field: forms.Field) -> forms.Field:
    """What ``Field.__deepcopy__`` copies (the field, its widget, validators and messages), one
    level deep: the widget's attributes and the choices stay shared, and no request changes them."""
    result = copy.copy(field)
    result.widget = copy.copy(field.widget)
    result.validators = field.validators[:]
    result.error_messages = field.error_messages.copy()
    return result


class _FieldsCopiedShallow(dict):
    """A form's ``base_fields`` whose per-form copy is one level deep (see ``SharedFormFilterSet``)."""

    def __deepcopy__(self, memo):
        return {name: _field_copy(field) for name, field in self.items()}


class SharedFormFilterSet(django_filters.FilterSet):
    """A FilterSet that builds its form class once, not on every request.

    django-filter deep-copies every filter and builds a new form class per request, and the
    form then deep-copies every field (widgets, choices, validators): about a millisecond of
    each API list request, for objects no request changes. Here the filters and fields are
    copied shallowly and the form class is made once per FilterSet class. Filters whose field
    depends on the request (``ModelChoiceFilter`` and the like) are refused.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._shared_form_class = None

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {}
        for name, base in self.base_filters.items():
            filter_ = copy.copy(base)
            filter_.model, filter_.parent = queryset.model, self
            if base.method is not None:
                filter_.method = base.method  # binds a FilterMethod to the copy, not to the shared filter
            self.filters[name] = filter_

    def get_form_class(self):
        cls = type(self)
        if cls._shared_form_class is None:
            for name, filter_ in self.base_filters.items():
                if isinstance(filter_, django_filters.filters.QuerySetRequestMixin):
                    raise TypeError(f"{cls.__name__}.{name}: its field depends on the request; not shareable.")
            fields = {name: filter_.field for name, filter_ in self.base_filters.items()}
            form_class = type(f"{cls.__name__}Form", (self._meta.form,), fields)
            form_class.base_fields = _FieldsCopiedShallow(form_class.base_fields)
            cls._shared_form_class = form_class
        return cls._shared_form_class


def search_filter(help_text, validators=()):
    return django_filters.CharFilter(
        method="filter_nothing", max_length=MAX_Q_LENGTH, help_text=help_text, validators=list(validators)
    )


class VisibleSlugsFilterSet(SharedFormFilterSet):
    """Checks that every slug named in a filter exists and is visible to the client.

    ``slug_models`` maps a filter name to the model its slugs name.
    """

    slug_models: dict = {}

    def is_valid(self):
        valid = super().is_valid()
        if not valid:
            return False
        everything = sees_unpublished(self.request)
        for name, model in self.slug_models.items():
            wanted = self.form.cleaned_data.get(name)
            if not wanted:
                continue
            wanted = [wanted] if isinstance(wanted, str) else wanted
            qs = model.objects.all() if everything else model.objects.published()
            known = set(qs.filter(slug__in=wanted).values_list("slug", flat=True))
            unknown = [slug for slug in wanted if slug not in known]
            if unknown:
                noun = model._meta.verbose_name
                # User input goes in params: django-filter %-formats every message.
                self.form.add_error(name, forms.ValidationError(
                    "No %(noun)s with the slug %(slugs)s.",
                    params={"noun": noun, "slugs": ", ".join(repr(s[:40]) for s in unknown)},
                ))
        return not self.form.errors

    def filter_nothing(self, qs, name, value):
        return qs


class EventFilter(VisibleSlugsFilterSet):
    district = SlugListFilter(help_text="District slug; repeat for any of several (?district=a&district=b).")
    party = SlugListFilter(help_text="Party slug (involved or claiming); repeat for any of several.")
    kind = django_filters.MultipleChoiceFilter(choices=Event.Kind.choices, method="filter_nothing",
                                               help_text="Kind of entry; repeat for any of several.")
    agreement = django_filters.CharFilter(method="filter_nothing", max_length=120, help_text="Agreement slug.")
    date_from = django_filters.DateFilter(
        method="filter_nothing",
        help_text="YYYY-MM-DD. Entries whose period (at its precision) ends on or after this day: "
        "'February 1988' matches date_from=1988-02-15.",
    )
    date_to = django_filters.DateFilter(method="filter_nothing",
                                        help_text="YYYY-MM-DD. Entries whose period starts on or before this day.")
    q = search_filter(
        f"Text in the title or summary, or a name or alias of a district the entry is about, in any language or "
        f"script, ignoring case and diacritics (Kelbecer finds Kəlbəcər, Кельбаджар finds the entries about "
        f"Kalbajar). Needs at least {selectors.MIN_SEARCH_RUN} letters or digits in a row (shorter: 400); "
        f"at most {MAX_Q_LENGTH} characters.",
        validators=[selectors.validate_event_search],
    )
    updated_since = django_filters.IsoDateTimeFilter(
        method="filter_nothing", help_text="ISO 8601 date-time: entries changed at or after it (for syncing)."
    )
    origin = django_filters.ChoiceFilter(choices=Event.Origin.choices, help_text="editorial or derived from what.")
    status = django_filters.ChoiceFilter(
        field_name="publication_status", choices=PublicationStatus.choices,
        help_text="Publication status (staff see every status; others only published).",
    )

    slug_models = {"district": District, "party": Party, "agreement": Agreement}

    class Meta:
        model = Event
        fields = []

    def is_valid(self):
        valid = super().is_valid()
        data = self.form.cleaned_data if hasattr(self.form, "cleaned_data") else {}
        if valid and data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.form.add_error("date_to", "date_to is before date_from.")
            return False
        return valid

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        queryset = selectors.event_filter(
            queryset,
            districts=data.get("district") or (),
            parties=data.get("party") or (),
            kinds=data.get("kind") or (),
            agreement=data.get("agreement") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            q=data.get("q") or "",
            updated_since=data.get("updated_since"),
        )
        if data.get("origin"):
            queryset = queryset.filter(origin=data["origin"])
        if data.get("status"):
            queryset = queryset.filter(publication_status=data["status"])
        return queryset


class DistrictFilter(VisibleSlugsFilterSet):
    q = search_filter(
        f"A name or alias in any language or script, ignoring case and diacritics (Kelbecer, karvachar, Кельбаджар). "
        f"At most {MAX_Q_LENGTH} characters."
    )
    kind = django_filters.ChoiceFilter(choices=District.Kind.choices)
    parent = django_filters.CharFilter(field_name="parent__slug", max_length=120, help_text="Slug of the parent territory.")

    slug_models = {"parent": District}

    class Meta:
        model = District
        fields = []

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        q = self.form.cleaned_data.get("q")
        if q:
            queryset = queryset.filter(pk__in=selectors.district_ids_matching(q))
        return queryset


class PartyFilter(SharedFormFilterSet):
    kind = django_filters.ChoiceFilter(choices=Party.Kind.choices)

    class Meta:
        model = Party
        fields = []


class SourceFilter(SharedFormFilterSet):
    kind = django_filters.ChoiceFilter(choices=Source.Kind.choices)

    class Meta:
        model = Source
        fields = []


class AgreementFilter(SharedFormFilterSet):
    kind = django_filters.ChoiceFilter(choices=Agreement.Kind.choices)

    class Meta:
        model = Agreement
        fields = []


class HandoverFilter(VisibleSlugsFilterSet):
    district = SlugListFilter(help_text="District slug; repeat for any of several.")
    agreement = django_filters.CharFilter(field_name="agreement__slug", max_length=120, help_text="Agreement slug.")
    status = django_filters.MultipleChoiceFilter(choices=Handover.Status.choices,
                                                 help_text="scheduled, postponed, completed or cancelled; repeatable.")

    slug_models = {"district": District, "agreement": Agreement}

    class Meta:
        model = Handover
        fields = []


class DeadlineFilter(VisibleSlugsFilterSet):
    agreement = django_filters.CharFilter(field_name="agreement__slug", max_length=120, help_text="Agreement slug.")
    district = SlugListFilter(help_text="District slug; repeat for any of several.")
    overdue = StrictBooleanFilter(
        method="filter_overdue",
        help_text="true: the current due date has passed and no handover was completed; false: the others.",
    )

    slug_models = {"district": District, "agreement": Agreement}

    class Meta:
        model = Deadline
        fields = []

    def filter_overdue(self, qs, name, value):
        if value is None:
            return qs
        overdue = selectors.deadlines_overdue_q(timezone.localdate())
        return qs.filter(overdue) if value else qs.exclude(overdue)


class ProvisionFilter(VisibleSlugsFilterSet):
    """``agreement`` narrows in the database; ``status`` and ``overdue`` are decided per provision
    by ``timeline.implementation`` over the prefetched rows (see ``ProvisionViewSet``)."""

    agreement = django_filters.CharFilter(field_name="agreement__slug", max_length=120, help_text="Agreement slug.")
    status = django_filters.MultipleChoiceFilter(
        choices=ProvisionStatus.choices, method="filter_nothing",
        help_text="Implementation status (as of as_of, else today); repeat for any of several.",
    )
    overdue = StrictBooleanFilter(
        method="filter_nothing", help_text="true: a deadline of the provision is overdue; false: none is."
    )

    slug_models = {"agreement": Agreement}

    class Meta:
        model = Provision
        fields = []
