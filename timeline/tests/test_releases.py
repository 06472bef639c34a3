"""Numbered dataset releases: the command, the list page and byte-identical downloads."""

import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command

from timeline import dataset
from timeline.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def releases(settings, tmp_path):
    settings.RELEASES_DIR = tmp_path / "releases"
    return settings.RELEASES_DIR


@pytest.fixture
def record(db):
    conflict = factories.ConflictFactory(slug="c")
    factories.EventFactory(conflict=conflict, slug="public", title="Public")
    factories.EventFactory(conflict=conflict, slug="draft", title="Draft", publication_status="draft")
    factories.PartyFactory(slug="hidden", publication_status="draft")


def test_a_release_writes_the_published_record_with_its_checksum(releases, record):
    call_command("release_dataset", "1.0.0", stdout=io.StringIO())
    body = (releases / "1.0.0.json").read_bytes()
    checksum = hashlib.sha256(body).hexdigest()
    assert (releases / "1.0.0.json.sha256").read_text() == f"{checksum}  1.0.0.json\n"
    meta = json.loads((releases / "1.0.0.meta.json").read_text())
    assert (meta["version"], meta["sha256"], meta["size"]) == ("1.0.0", checksum, len(body))
    data = json.loads(body)
    assert [e["slug"] for e in data["events"]] == ["public"]
    assert "hidden" not in [p["slug"] for p in data["parties"]]
    dataset.validate(data)  # it is a dataset the importer accepts


def test_an_existing_version_is_never_overwritten(releases, record):
    call_command("release_dataset", "1.0.0", stdout=io.StringIO())
    before = (releases / "1.0.0.json").read_bytes()
    factories.EventFactory(slug="newer")
    with pytest.raises(CommandError, match="Release 1.0.0 already exists"):
        call_command("release_dataset", "1.0.0")
    assert (releases / "1.0.0.json").read_bytes() == before


@pytest.mark.parametrize("version", ["1", "v1.0", "../1.0", "1.0.0.0", "1.0-beta"])
def test_a_malformed_version_is_refused_naming_it(releases, record, version):
    with pytest.raises(CommandError, match="VERSION .* is not valid"):
        call_command("release_dataset", version)
    assert not releases.exists() or not list(releases.iterdir())


def test_the_releases_page_lists_versions_dates_and_checksums(client, releases, record):
    call_command("release_dataset", "1.0", stdout=io.StringIO())
    call_command("release_dataset", "1.1", stdout=io.StringIO())
    html = client.get("/data/releases/").content.decode()
    checksum = json.loads((releases / "1.1.meta.json").read_text())["sha256"]
    assert html.index('id="release-1.1"') < html.index('id="release-1.0"')
    assert f'<code class="checksum">{checksum}</code>' in html


def test_a_release_downloads_byte_identical_with_its_checksum_as_strong_etag(client, releases, record):
    call_command("release_dataset", "2.0.0", stdout=io.StringIO())
    factories.EventFactory(slug="after-the-release")
    first, second = client.get("/data/releases/2.0.0.json"), client.get("/data/releases/2.0.0.json")
    checksum = hashlib.sha256(first.content).hexdigest()
    assert first.content == second.content == (releases / "2.0.0.json").read_bytes()
    assert first["ETag"] == f'"{checksum}"'
    assert b"after-the-release" not in first.content
    assert client.get("/data/releases/2.0.0.json", headers={"If-None-Match": f'"{checksum}"'}).status_code == 304


def test_an_unknown_release_is_not_found(client, releases, record):
    assert client.get("/data/releases/9.9.json").status_code == 404
