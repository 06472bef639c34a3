"""Filter forms of the public pages.

They validate the query string only; what matches a filter is decided by
``selectors.event_filter``, the same function the API calls.
"""

import datetime as dt
import re

from django import forms
from django.utils.choices import BaseChoiceIterator
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from timeline import cache as record_cache
from timeline import dates, selectors
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


def _option_tag(value, label) -> str:
    # What django/forms/widgets/select_option.html writes, as Select's template places it.
    return f'\n  <option value="{conditional_escape(value)}">{conditional_escape(label)}</option>\n'


class PrerenderedSelect(forms.Select):
    """``forms.Select`` writing the same HTML, with its ``<option>`` elements written in advance.

    The timeline's filter lists every published district (1,500 at a million
    events), party and agreement; through Django's widget templates that is
    two template renders per option on every request. The form hands the
    widget ``options_html`` (every option, none selected) from a cache that
    lasts as long as the record version; the widget marks the selected one.
    Without ``options_html`` it renders as ``forms.Select``.
    """

    options_html: str | None = None

    def render(self, name, value, attrs=None, renderer=None):
        if self.options_html is None or self.allow_multiple_selected:
            return super().render(name, value, attrs, renderer)
        options = self.options_html
        selected = self.format_value(value)
        if selected:
            tag = f'<option value="{conditional_escape(selected[0])}">'
            options = options.replace(tag, f"{tag[:-1]} selected>", 1)
        attributes = "".join(
            f" {key}" if val is True else f' {key}="{conditional_escape(val)}"'
            for key, val in self.build_attrs(self.attrs, attrs).items()
            if val is not False
        )
        return mark_safe(f'<select name="{conditional_escape(name)}"{attributes}>{options}\n</select>')  # noqa: S308 - escaped above


class PreparedChoices(BaseChoiceIterator):
    """Choices built once and shared by every form until the record changes.

    Django re-normalises a plain list on each assignment (1,500 districts, on
    every request); an iterator of this kind is taken as it is. ``values``
    answers ``PreparedChoiceField``'s validation without a walk of the list.
    """

    def __init__(self, choices):
        self.choices = tuple(choices)
        self.values = frozenset(str(value) for value, _ in self.choices)

    def __iter__(self):
        return iter(self.choices)

    def __len__(self):
        return len(self.choices)


class PreparedChoiceField(forms.ChoiceField):
    """A ``ChoiceField`` over ``PreparedChoices``, with the same validation and messages."""

    widget = PrerenderedSelect

    def valid_value(self, value):
        if isinstance(self.choices, PreparedChoices):
            return str(value) in self.choices.values
        return super().valid_value(value)


# The filters that list records, each with its "any" choice first; loaded once per record version.
OPTION_LISTS = {
    "district": lambda: [("", "Any district"), *District.objects.published().order_by("name").values_list("slug", "name")],
    "party": lambda: [("", "Any party"), *Party.objects.published().order_by("name").values_list("slug", "name")],
    "agreement": lambda: [
        ("", "Any agreement"),
        *Agreement.objects.published().order_by("signed_on", "title").values_list("slug", "title"),
    ],
}
_option_lists: dict[str, tuple] = {}


def _option_list(name: str, load, version) -> tuple[PreparedChoices, str]:
    """(choices, their ``<option>`` elements) of one filter, reused while the record version stays.

    ``version`` is ``timeline.cache.current()``: (0, None) means no clock yet,
    and nothing is reused then. Each process keeps one list per filter.
    """
    cached = _option_lists.get(name)
    if cached is not None and cached[0] == version and version[0]:
        return cached[1], cached[2]
    choices = PreparedChoices(load())
    options_html = "".join(_option_tag(value, label) for value, label in choices)
    _option_lists[name] = (version, choices, options_html)
    return choices, options_html


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
        validators=[selectors.validate_event_search],
    )
    district = PreparedChoiceField(label="District", required=False)
    party = PreparedChoiceField(label="Party", required=False)
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Any kind"), *Event.Kind.choices])
    agreement = PreparedChoiceField(label="Agreement", required=False)
    date_from = PeriodField(
        label="From", required=False, bound="start", widget=forms.TextInput(attrs={"placeholder": "e.g. 1992 or 1992-05-09"})
    )
    date_to = PeriodField(
        label="To", required=False, bound="end", widget=forms.TextInput(attrs={"placeholder": "e.g. 1992 or 1992-05-09"})
    )
    order = forms.ChoiceField(label="Order", required=False, choices=ORDER_CHOICES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        version = record_cache.current()
        for name, load in OPTION_LISTS.items():
            choices, options_html = _option_list(name, load, version)
            self.fields[name].choices = choices
            self.fields[name].widget.options_html = options_html

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
