"""The staff admin: every page loads in a fixed number of queries, search finds any name, only staff get in."""

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from timeline import models, services
from timeline.tests import factories

pytestmark = pytest.mark.django_db

NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731
_numbers = itertools.count(1)


# --------------------------------------------------------------------------
# Helpers shared by the admin tests
# --------------------------------------------------------------------------


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:timeline_{model._meta.model_name}_{view}", args=args)


def _post_value(bound):
    """What a browser sends for a bound field showing its current value (None: nothing)."""
    value = bound.value()
    if value is None or value is False or value == "":
        return None
    if value is True:
        return "on"
    if isinstance(value, list | tuple):
        return [str(getattr(item, "pk", item)) for item in value]
    return str(getattr(value, "pk", value))


def form_post_data(response) -> dict:
    """The POST the admin page in ``response`` would send if the editor changed nothing."""
    forms = [response.context["adminform"].form]
    for inline in response.context.get("inline_admin_formsets", []):
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    data = {}
    for form in forms:
        for bound in form:
            value = _post_value(bound)
            if value is not None:
                data[bound.html_name] = value
    if "public_note" in forms[0].fields:
        # Changing a published record is a correction, which readers are told about.
        data["public_note"] = "Corrected in a test."
    return data


def errors_in(response) -> dict:
    """Errors of the main form and of every inline form, keyed 'field' or 'prefix-n-field'."""
    errors = {}
    for field, messages in response.context["adminform"].form.errors.items():
        errors[field] = list(messages)
    for inline in response.context["inline_admin_formsets"]:
        for form in inline.formset.forms:
            for field, messages in form.errors.items():
                errors[f"{form.prefix}-{field}"] = list(messages)
        if inline.formset.non_form_errors():
            errors[f"{inline.formset.prefix}-__all__"] = list(inline.formset.non_form_errors())
    return errors


def kalbajar_like_district(**kwargs):
    """A district with names in three scripts and spellings (test data, not code)."""
    district = factories.DistrictFactory(name="Kalbajar", slug="kalbajar", **kwargs)
    factories.DistrictAliasFactory(district=district, name="Kəlbəcər", language="az")
    factories.DistrictAliasFactory(district=district, name="Karvachar", language="hy-Latn")
    factories.DistrictAliasFactory(district=district, name="Кельбаджар", language="ru")
    return district


# --------------------------------------------------------------------------
# One row of each model, as an editor would have entered it
# --------------------------------------------------------------------------


def _postponement():
    deadline = factories.DeadlineFactory()
    return services.deadline_postpone(deadline=deadline, to_date=NOV(25), decided_on=NOV(14),
                                      requested_by=factories.PartyFactory(), agreed_by=[factories.PartyFactory()])


def _status_change():
    return models.ProvisionStatusChange.objects.create(
        provision=factories.ProvisionFactory(), status=models.ProvisionStatus.IMPLEMENTED, from_date=NOV(25),
        claimed_by=factories.PartyFactory(),
    )


ROW_MAKERS = {
    models.Conflict: factories.ConflictFactory,
    models.Party: factories.PartyFactory,
    models.Membership: lambda: models.Membership.objects.create(
        group=factories.PartyFactory(), member=factories.PartyFactory(), role="co-chair"
    ),
    models.District: lambda: factories.DistrictAliasFactory().district,
    models.DistrictAlias: factories.DistrictAliasFactory,
    models.Source: factories.SourceFactory,
    models.Agreement: factories.AgreementFactory,
    models.Signatory: factories.SignatoryFactory,
    models.Provision: factories.ProvisionFactory,
    models.ProvisionStatusChange: _status_change,
    models.Deadline: lambda: factories.HandoverFactory().deadline,
    models.Postponement: _postponement,
    models.Handover: factories.HandoverFactory,
    models.Event: lambda: factories.EventFactory(
        districts=[factories.DistrictFactory()], parties=[factories.PartyFactory()],
        claimed_by=factories.PartyFactory(),
    ),
    models.ControlChange: factories.ControlChangeFactory,
    models.Citation: factories.CitationFactory,
    models.Discrepancy: lambda: models.Discrepancy.objects.create(
        handover=factories.HandoverFactory(), aspect="date completed", description="Two reports differ."
    ),
}

# A column header or field label each page must show.
CHANGELIST_HEADERS = {
    models.Conflict: "Slug",
    models.Party: "Short name",
    models.Membership: "Role",
    models.District: "Other names",
    models.DistrictAlias: "Language",
    models.Source: "Publisher",
    models.Agreement: "Signed",
    models.Signatory: "Capacity",
    models.Provision: "Number",
    models.ProvisionStatusChange: "From date",
    models.Deadline: "Original due on",
    models.Postponement: "Decided on",
    models.Handover: "Original deadline",
    models.Event: "Origin",
    models.ControlChange: "Controlled by",
    models.Citation: "Cites",
    models.Discrepancy: "About",
}
ADD_LABELS = {
    models.Conflict: "Summary:",
    models.Party: "Colour:",
    models.Membership: "Role:",
    models.District: "Boundary:",
    models.DistrictAlias: "Language:",
    models.Source: "Published on precision:",
    models.Agreement: "Effective timezone:",
    models.Signatory: "Person name:",
    models.Provision: "Summary:",
    models.ProvisionStatusChange: "Evidence events:",
    models.Deadline: "Original due on:",
    models.Postponement: "Decided on:",
    models.Handover: "From party:",
    models.Event: "Date precision:",
    models.ControlChange: "Controlled by:",
    models.Citation: "Passage:",
    models.Discrepancy: "Aspect:",
}


def make_rows(model, count: int) -> None:
    for _ in range(count):
        ROW_MAKERS[model]()


def queries_for(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response


@pytest.fixture
def editor_client(client, superuser):
    client.force_login(superuser)
    return client


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(ROW_MAKERS), ids=lambda m: m._meta.model_name)
def test_every_changelist_lists_its_rows_in_the_same_number_of_queries_whatever_their_number(
    model, editor_client, django_assert_num_queries
):
    url = admin_url(model, "changelist")
    make_rows(model, 3)
    editor_client.get(url)  # content types and other per-process caches are warm from here on
    with_three, response = queries_for(editor_client, url)
    content = response.content.decode()
    assert CHANGELIST_HEADERS[model] in content
    assert f"3 {model._meta.verbose_name_plural}" in content

    make_rows(model, 27)
    with django_assert_num_queries(with_three):
        response = editor_client.get(url)
    assert f"30 {model._meta.verbose_name_plural}" in response.content.decode()


@pytest.mark.parametrize("model", list(ROW_MAKERS), ids=lambda m: m._meta.model_name)
def test_every_add_page_shows_its_fields_in_the_same_number_of_queries_whatever_the_rows(
    model, editor_client, django_assert_num_queries
):
    url = admin_url(model, "add")
    make_rows(model, 3)
    editor_client.get(url)
    with_three, response = queries_for(editor_client, url)
    assert ADD_LABELS[model] in response.content.decode()

    make_rows(model, 27)
    with django_assert_num_queries(with_three):
        response = editor_client.get(url)
    assert ADD_LABELS[model] in response.content.decode()


@pytest.mark.parametrize("model", list(ROW_MAKERS), ids=lambda m: m._meta.model_name)
def test_every_change_page_and_history_page_opens(model, editor_client):
    row = ROW_MAKERS[model]()
    response = editor_client.get(admin_url(model, "change", row.pk))
    assert response.status_code == 200
    assert response.context["original"] == row
    history = editor_client.get(admin_url(model, "history", row.pk))
    assert history.status_code == 200
    assert str(row) in history.content.decode()


def test_derived_fields_are_shown_but_not_offered_for_editing(editor_client):
    handover = factories.HandoverFactory()
    response = editor_client.get(admin_url(models.Handover, "change", handover.pk))
    form_fields = set(response.context["adminform"].form.fields)
    assert "status" not in form_fields
    assert {"district", "from_party", "to_party", "completed_on", "publication_status"} <= form_fields
    assert "Scheduled" in response.content.decode() or "scheduled" in response.content.decode()

    deadline_page = editor_client.get(admin_url(models.Deadline, "change", handover.deadline.pk))
    assert "due_on" not in deadline_page.context["adminform"].form.fields
    assert "original_due_on" in deadline_page.context["adminform"].form.fields


# --------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------


@pytest.mark.parametrize("term", ["Karvachar", "kelbecer", "KƏLBƏCƏR", "Кельбаджар", "кельб", "kalbajar"])
def test_district_search_finds_a_district_by_any_alias_in_any_script(editor_client, term):
    kalbajar_like_district()
    factories.DistrictAliasFactory(district=factories.DistrictFactory(name="Lachin"), name="Berdzor", language="hy")

    response = editor_client.get(admin_url(models.District, "changelist"), {"q": term})

    assert [district.name for district in response.context["cl"].result_list] == ["Kalbajar"]


def test_district_autocomplete_used_by_other_records_also_finds_aliases(editor_client):
    district = kalbajar_like_district()
    factories.DistrictFactory(name="Lachin")

    response = editor_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "timeline", "model_name": "deadline", "field_name": "district", "term": "Karvachar"},
    )

    assert response.json()["results"] == [{"id": str(district.pk), "text": "Kalbajar"}]


def test_event_search_looks_in_titles_and_summaries(editor_client):
    factories.EventFactory(title="Army enters the district", summary="Columns moved at dawn.")
    factories.EventFactory(title="Talks resume", summary="Mediators met in Moscow.")
    factories.EventFactory(title="Unrelated", summary="Nothing.")

    by_summary = editor_client.get(admin_url(models.Event, "changelist"), {"q": "mediators"})
    by_title = editor_client.get(admin_url(models.Event, "changelist"), {"q": "army"})

    assert [e.title for e in by_summary.context["cl"].result_list] == ["Talks resume"]
    assert [e.title for e in by_title.context["cl"].result_list] == ["Army enters the district"]


def test_source_search_looks_in_title_and_publisher(editor_client):
    factories.SourceFactory(title="Statement text", publisher="Kremlin press office")
    factories.SourceFactory(title="Field report", publisher="Example News")

    response = editor_client.get(admin_url(models.Source, "changelist"), {"q": "kremlin"})

    assert [s.title for s in response.context["cl"].result_list] == ["Statement text"]


def test_changelists_filter_by_publication_status(editor_client):
    factories.PartyFactory(name="Seen party")
    factories.PartyFactory(name="Draft party", publication_status=models.PublicationStatus.DRAFT)

    response = editor_client.get(admin_url(models.Party, "changelist"), {"publication_status__exact": "draft"})

    assert [p.name for p in response.context["cl"].result_list] == ["Draft party"]


# --------------------------------------------------------------------------
# Who may enter
# --------------------------------------------------------------------------


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(client):
    reader = factories.UserFactory(username="reader", is_staff=False)
    client.force_login(reader)

    response = client.get(admin_url(models.Event, "changelist"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={admin_url(models.Event, 'changelist')}"


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(admin_url(models.Agreement, "add"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_staff_member_allowed_only_to_view_sees_a_record_read_only(client, staff_user):
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.add(Permission.objects.get(codename="view_party"))
    party = factories.PartyFactory(name="Viewed party")
    client.force_login(staff_user)

    response = client.get(admin_url(models.Party, "change", party.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="name"' not in content
    assert 'name="publication_status"' not in content
    assert "Viewed party" in content
    assert client.post(admin_url(models.Party, "change", party.pk), {"name": "Renamed"}).status_code == 403
