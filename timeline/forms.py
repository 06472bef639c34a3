"""Filter forms of the public pages.

They validate the query string only; what matches a filter is decided by
``selectors.event_filter``, the same function the API calls.
"""

import datetime as dt
import re

from django import forms

from timeline import dates
from timeline.models import Agreement, District, Event, Party

_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?P<month>\d{1,2})(?:-(?P<day>\d{1,2}))?)?$")


class PeriodField(forms.CharField):
    """A date typed to the precision the reader knows: '1992', '1992-05' or '1992-05-09'.

    ``bound="start"`` cleans to the first day of that period, ``bound="end"``
    to its last, so 'from 1992 to 1994' covers the whole of both years.
    """

    default_error_messages = {
        "invalid": "Enter a year (1992), a month (1992-05) or a day (1992-05-09).",
    }

    def __init__(self, *, bound: str, **kwargs):
        self.bound = bound
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value).strip()
        if not value:
            return None
        match = _PERIOD.match(value) if len(value) <= 10 else None
        if not match:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        year, month, day = match["year"], match["month"], match["day"]
        precision = dates.DAY if day else dates.MONTH if month else dates.YEAR
        try:
            start = dt.date(int(year), int(month or 1), int(day or 1))
        except ValueError:
            raise forms.ValidationError(f"{value} is not a real date.", code="invalid") from None
        return start if self.bound == "start" else dates.period_end(start, precision)


class TimelineFilterForm(forms.Form):
    """The filters of the timeline. ``from`` and ``to`` are Python keywords, so the
    fields are ``date_from`` and ``date_to`` with those names in the query string."""

    QUERY_NAMES = {"date_from": "from", "date_to": "to"}
    ORDER_CHOICES = [("oldest", "Oldest first"), ("newest", "Newest first")]

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        help_text="Words in the title or summary, or a place name in any language or script.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    district = forms.ChoiceField(label="District", required=False)
    party = forms.ChoiceField(label="Party", required=False)
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Any kind"), *Event.Kind.choices])
    agreement = forms.ChoiceField(label="Agreement", required=False)
    date_from = PeriodField(
        label="From", required=False, bound="start", widget=forms.TextInput(attrs={"placeholder": "e.g. 1992 or 1992-05-09"})
    )
    date_to = PeriodField(
        label="To", required=False, bound="end", widget=forms.TextInput(attrs={"placeholder": "e.g. 1992 or 1992-05-09"})
    )
    order = forms.ChoiceField(label="Order", required=False, choices=ORDER_CHOICES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["district"].choices = [
            ("", "Any district"),
            *District.objects.published().order_by("name").values_list("slug", "name"),
        ]
        self.fields["party"].choices = [
            ("", "Any party"),
            *Party.objects.published().order_by("name").values_list("slug", "name"),
        ]
        self.fields["agreement"].choices = [
            ("", "Any agreement"),
            *Agreement.objects.published().order_by("signed_on", "title").values_list("slug", "title"),
        ]

    def add_prefix(self, field_name):
        return super().add_prefix(self.QUERY_NAMES.get(field_name, field_name))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end of the range is before its start.")
        return cleaned

    def filters(self) -> dict:
        """Keyword arguments for ``selectors.event_filter`` from the fields that are valid.

        A field with an error is left out, so the page can still show entries
        (with the error next to that field) instead of failing whole.
        """
        data = {}
        for name in self.fields:
            if name in self.errors:
                continue
            value = self.cleaned_data.get(name) if hasattr(self, "cleaned_data") else None
            data[name] = value
        return {
            "districts": [data["district"]] if data.get("district") else [],
            "parties": [data["party"]] if data.get("party") else [],
            "kinds": [data["kind"]] if data.get("kind") else [],
            "agreement": data.get("agreement") or "",
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "q": (data.get("q") or "").strip(),
        }

    @property
    def newest_first(self) -> bool:
        return hasattr(self, "cleaned_data") and self.cleaned_data.get("order") == "newest"
