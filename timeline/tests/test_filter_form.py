"""The timeline's filter form writes its long selects from prepared options, as Django would."""

import pytest
from django import forms

from timeline.forms import PrerenderedSelect, TimelineFilterForm, _option_tag
from timeline.tests import factories

pytestmark = pytest.mark.django_db

CHOICES = [("", "Any"), ("a-b", "Ağdam & <Co>"), ("q\"x'", "Quote's \"name\""), ("c", "C")]


def both(value, attrs=None) -> tuple[str, str]:
    """(forms.Select's HTML, PrerenderedSelect's HTML) for the same choices, value and attributes."""
    plain = forms.Select(choices=CHOICES)
    fast = PrerenderedSelect(choices=CHOICES)
    fast.options_html = "".join(_option_tag(v, label) for v, label in CHOICES)
    return plain.render("district", value, attrs), fast.render("district", value, attrs)


@pytest.mark.parametrize("value", [None, "", "a-b", "q\"x'", "unknown"])
def test_the_prepared_select_writes_what_django_writes(value):
    expected, written = both(value, {"id": "id_district"})
    assert written == expected


def test_the_prepared_select_keeps_the_error_attributes():
    attrs = {"aria-invalid": "true", "aria-describedby": "id_district_error", "id": "id_district", "required": True,
             "disabled": False}
    expected, written = both("c", attrs)
    assert written == expected
    assert 'aria-invalid="true"' in written and " required" in written and "disabled" not in written


def test_the_form_renders_the_district_filter_as_django_would(client):
    factories.DistrictFactory(name="Kəlbəcər & Co", slug="kelbecer")
    form = TimelineFilterForm({"district": "kelbecer", "party": "nobody"})
    form.is_valid()
    for name in ("district", "party", "agreement"):
        field = form[name]
        plain = forms.Select(choices=field.field.choices)
        assert str(field) == field.as_widget(widget=plain)
    assert '<option value="kelbecer" selected>Kəlbəcər &amp; Co</option>' in str(form["district"])
    assert "nobody is not one of the available choices" in str(form.errors["party"])
