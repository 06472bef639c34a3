"""Bulk import in the admin: dry-run preview, all-or-nothing import, drafts by default, history reasons."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from timeline.models import Event, Party, Publication
from timeline.tests import factories
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db

URL = "/admin/import/"


def dataset_file(name="parties.json", **sections):
    body = {"format": "conflict-timeline", "version": 1, **sections}
    return SimpleUploadedFile(name, json.dumps(body).encode(), content_type="application/json")


def party(slug, name, **extra):
    return {"slug": slug, "name": name, "kind": "state", **extra}


def csv_file(text, name="events.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_the_import_page_has_its_admin_address():
    assert reverse("admin:bulk-import") == URL


def test_a_preview_lists_what_would_be_created_and_changed_and_writes_nothing(client):
    factories.PartyFactory(slug="old", name="Old name", publication_status="draft")
    client.force_login(user_in("Editors", "edna"))

    response = client.post(URL, {"file": dataset_file(parties=[party("old", "New name"), party("fresh", "Fresh")]),
                                 "_preview": "1"})

    report = response.context["report"]
    assert (report.dry_run, report.ok) == (True, True)
    assert report.created == ["party “Fresh”"]
    assert report.changed == ["party “New name”"]
    assert list(Party.objects.values_list("slug", "name")) == [("old", "Old name")]


def test_an_import_writes_drafts_with_the_file_name_as_the_reason(client):
    client.force_login(user_in("Editors", "edna"))

    response = client.post(URL, {"file": dataset_file(parties=[party("fresh", "Fresh", publication_status="published")]),
                                 "_import": "1"})

    assert response.context["report"].ok
    fresh = Party.objects.get(slug="fresh")
    assert fresh.publication_status == "draft"
    row = fresh.history.latest()
    assert (row.history_user.username, row.history_change_reason) == ("edna", "bulk import parties.json")


def test_a_reviewer_may_publish_an_import_and_the_acts_are_logged(client):
    client.force_login(user_in("Reviewers", "rita"))

    client.post(URL, {"file": dataset_file(parties=[party("fresh", "Fresh", publication_status="published")]),
                      "publish": "on", "_import": "1"})

    assert Party.objects.get(slug="fresh").publication_status == "published"
    assert list(Publication.objects.values_list("action", "slug", "user__username")) == [("published", "fresh", "rita")]


def test_an_editor_cannot_ask_to_publish_an_import(client):
    client.force_login(user_in("Editors", "edna"))

    client.post(URL, {"file": dataset_file(parties=[party("fresh", "Fresh", publication_status="published")]),
                      "publish": "on", "_import": "1"})

    assert Party.objects.get(slug="fresh").publication_status == "draft"


def test_an_editors_import_that_would_change_a_published_record_is_rejected_whole(client):
    factories.PartyFactory(slug="seen", name="Seen by readers")
    client.force_login(user_in("Editors", "edna"))

    response = client.post(URL, {"file": dataset_file(parties=[party("seen", "Changed"), party("fresh", "Fresh")]),
                                 "_import": "1"})

    report = response.context["report"]
    assert response.status_code == 400
    assert report.ok is False
    assert report.rejected == [
        "party “Changed”: is published; an import may change it only when a reviewer publishes the import "
        "(it is then a correction)."
    ]
    assert list(Party.objects.values_list("slug", "name")) == [("seen", "Seen by readers")]


def test_a_bad_file_is_rolled_back_whole_with_its_reasons(client):
    client.force_login(user_in("Editors", "edna"))
    bad = [party("fresh", "Fresh"), {"slug": "broken", "name": "Broken", "kind": "empire"}]

    response = client.post(URL, {"file": dataset_file(parties=bad), "_import": "1"})

    report = response.context["report"]
    assert report.ok is False
    assert len(report.rejected) == 1 and "kind" in report.rejected[0] and "empire" in report.rejected[0]
    assert not Party.objects.exists()


def test_a_file_that_fails_while_loading_leaves_nothing_behind(client):
    conflict = factories.ConflictFactory(slug="c")
    client.force_login(user_in("Editors", "edna"))
    events = [
        {"slug": "fine", "conflict": "c", "title": "Fine", "summary": "s", "kind": "other", "date": "2020-01-01"},
        {"slug": "bad", "conflict": "c", "title": "Bad", "summary": "s", "kind": "other", "date": "2020-01-15",
         "date_precision": "month"},
    ]

    response = client.post(URL, {"file": dataset_file(name="events.json", events=events), "_import": "1"})

    assert response.context["report"].ok is False
    assert any("bad" in line and "date" in line for line in response.context["report"].rejected)
    assert not Event.objects.filter(conflict=conflict).exists()


def test_a_csv_of_events_is_imported_with_precisions_and_lists(client):
    conflict = factories.ConflictFactory(slug="c")
    factories.DistrictFactory(slug="kalbajar", conflict=conflict)
    factories.DistrictFactory(slug="lachin", conflict=conflict)
    client.force_login(user_in("Editors", "edna"))
    text = ("conflict,title,summary,kind,date,districts\n"
            "c,War begins,Fighting starts.,military,1988-02,kalbajar; lachin\n"
            "c,A year,Much happened.,other,1994,\n")

    response = client.post(URL, {"file": csv_file(text), "_import": "1"})

    assert response.context["report"].ok, response.context["report"].rejected
    rows = {e.slug: e for e in Event.objects.all()}
    assert set(rows) == {"1988-02-01-war-begins", "1994-01-01-a-year"}
    war = rows["1988-02-01-war-begins"]
    assert (war.date_precision, war.publication_status) == ("month", "draft")
    assert sorted(war.districts.values_list("slug", flat=True)) == ["kalbajar", "lachin"]
    assert war.history.latest().history_change_reason == "bulk import events.csv"


def test_a_csv_with_an_unknown_column_or_bad_date_is_refused(client):
    client.force_login(user_in("Editors", "edna"))

    unknown = client.post(URL, {"file": csv_file("conflict,title,summary,kind,date,colour\n"), "_preview": "1"})
    bad_date = client.post(URL, {"file": csv_file("conflict,title,summary,kind,date\nc,T,S,other,11/25/2020\n"),
                                 "_preview": "1"})

    assert unknown.context["report"].rejected == [
        "columns: unknown colour (known: slug, conflict, title, summary, body, kind, date, end_date, claimed_by, "
        "districts, parties, agreement)"
    ]
    assert bad_date.context["report"].rejected == [
        "line 2: date: write the date as 1988, 1988-02 or 1988-02-20 (got '11/25/2020')"
    ]


def test_a_file_of_another_type_is_a_form_error(client):
    client.force_login(user_in("Editors", "edna"))

    response = client.post(URL, {"file": SimpleUploadedFile("notes.txt", b"hello"), "_preview": "1"})

    assert response.context["form"].errors["file"] == ["Upload a .json dataset file or a .csv file of events."]


@pytest.mark.parametrize(("role", "allowed"), [(None, False), ("Editors", True), ("Reviewers", True),
                                               ("Administrators", True)])
def test_who_may_import(client, role, allowed):
    client.force_login(user_in(role, "someone"))

    response = client.get(URL)

    assert (response.status_code == 200) is allowed
