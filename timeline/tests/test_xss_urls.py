"""Addresses: only http(s) URLs are ever stored, so none can become a script link on a page."""

import json

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from timeline.models import Source
from timeline.tests import factories

HOSTILE_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "ftp://example.org/file",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_model_validation_refuses_a_non_web_source_url(db, url):
    source = factories.SourceFactory.build(url=url)

    with pytest.raises(ValidationError) as refused:
        source.full_clean(exclude=["slug"])

    assert "url" in refused.value.message_dict


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", " javascript:alert(1)"])
def test_the_database_refuses_a_non_web_source_url_even_past_validation(db, url):
    source = factories.SourceFactory(url="https://example.org/a")

    with pytest.raises(IntegrityError), transaction.atomic():
        Source.objects.filter(pk=source.pk).update(url=url)


def test_a_plain_web_address_is_accepted(db):
    source = factories.SourceFactory.build(url="https://example.org/statement?id=1")

    source.full_clean(exclude=["slug"])


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>"])
def test_the_admin_form_refuses_a_script_url_with_a_field_error(db, superuser, url):
    request = RequestFactory().get("/admin/timeline/source/add/")
    request.user = superuser
    model_admin = admin.site._registry[Source]
    form_class = model_admin.get_form(request)
    data = {"title": "A source", "slug": "a-source", "kind": "news_report", "url": url,
            "published_on_precision": "day", "publication_status": "draft"}

    form = form_class(data=data)

    assert not form.is_valid()
    assert list(form.errors["url"]) == ["Enter a valid URL."]


def test_the_importer_refuses_a_script_url_naming_the_record_and_field(db, tmp_path):
    dataset = {
        "format": "conflict-timeline", "version": 1,
        "sources": [{"slug": "bad-link", "title": "Bad link", "kind": "news_report",
                     "url": "javascript:alert(1)", "publication_status": "published"}],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(dataset), encoding="utf-8")

    with pytest.raises(CommandError) as refused:
        call_command("import_timeline", str(path), verbosity=0)

    message = str(refused.value)
    assert "nothing was written" in message
    assert "bad-link" in message
    assert "url" in message
    assert not Source.objects.filter(slug="bad-link").exists()
