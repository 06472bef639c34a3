"""The API's filter sets build their form class once and share no state between requests."""

import django_filters
import pytest
from django.http import QueryDict

from timeline.api import filters
from timeline.models import District, Event

pytestmark = pytest.mark.django_db


def _filterset(query: str, cls=filters.EventFilter):
    return cls(QueryDict(query), queryset=Event.objects.all())


def test_the_form_class_is_made_once_per_filter_set():
    first, second = _filterset("district=agdam"), _filterset("kind=military")
    assert type(first.form) is type(second.form)
    assert type(first.form) is not type(_filterset("", filters.DistrictFilter).form)


def test_each_request_gets_its_own_fields_and_filters():
    first, second = _filterset(""), _filterset("")
    assert first.form.fields["district"] is not second.form.fields["district"]
    assert first.filters["district"] is not second.filters["district"]
    assert first.filters["district"].parent is first
    assert second.filters["district"].parent is second


def test_a_change_to_one_request_s_field_does_not_reach_the_next():
    first = _filterset("")
    first.form.fields["kind"].required = True
    first.form.fields["q"].max_length = 1
    second = _filterset("q=Kelbajar")
    assert second.form.fields["kind"].required is False
    assert second.form.fields["q"].max_length == filters.MAX_Q_LENGTH


def test_an_invalid_request_leaves_no_errors_for_the_next(world):
    refused = _filterset("date_from=yesterday&kind=rumour")
    assert not refused.is_valid()
    assert set(refused.form.errors) == {"date_from", "kind"}
    accepted = _filterset("kind=military&district=agdam")
    assert accepted.is_valid(), accepted.form.errors
    assert accepted.form.cleaned_data["district"] == ["agdam"]


def test_a_filter_whose_field_depends_on_the_request_is_refused():
    class ByDistrict(filters.SharedFormFilterSet):
        district = django_filters.ModelChoiceFilter(queryset=District.objects.all())

        class Meta:
            model = Event
            fields = []

    with pytest.raises(TypeError, match="depends on the request"):
        _ = ByDistrict(QueryDict("")).form


def test_validators_and_messages_are_per_request():
    first = _filterset("")
    first.form.fields["q"].validators.append(lambda value: None)
    first.form.fields["q"].error_messages["required"] = "changed"
    second = _filterset("")
    assert len(second.form.fields["q"].validators) == len(filters.EventFilter.base_filters["q"].field.validators)
    assert second.form.fields["q"].error_messages["required"] != "changed"


def test_method_filters_call_their_own_filter_set(world):
    filterset = filters.DistrictFilter(QueryDict("q=Kelbecer"), queryset=District.objects.all())
    assert filterset.is_valid()
    assert filterset.filters["q"].filter.f is filterset.filters["q"]
    assert filterset.filters["q"].filter.method == filterset.filter_nothing
