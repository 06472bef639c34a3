"""Backups restore everything: the dataset file (content) and pg_dump (the whole database).

docs/operations.md describes both; these tests run the same steps.
"""

import datetime as dt
import json
import shutil
import subprocess

import psycopg2
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from timeline import models, services
from timeline.tests import factories
from timeline.tests.site_demo import DEMO_FILE

# Not content: the publication log, and the record clock of the response cache (timeline.cache).
CONTENT_MODELS = [
    m for m in apps.get_app_config("timeline").get_models()
    if not m._meta.model_name.startswith("historical") and m not in (models.Publication, models.RecordClock)
]


def counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in CONTENT_MODELS}


def natural_rows() -> dict[str, list]:
    """Every content record as its fields (relations by slug or str), independent of primary keys."""
    snapshot = {}
    for model in CONTENT_MODELS:
        rows = []
        for obj in model.objects.all():
            row = {}
            for field in model._meta.concrete_fields:
                if field.primary_key or field.name in ("created_at", "updated_at", "published_at", "version",
                                                       "opened_version"):
                    continue
                value = getattr(obj, field.name)
                if field.is_relation and value is not None:
                    value = getattr(value, "slug", None) or str(value)
                row[field.name] = value if isinstance(value, int | float | bool | type(None)) else str(value)
            rows.append(json.dumps(row, sort_keys=True, ensure_ascii=False))
        snapshot[model._meta.label] = sorted(rows)
    return snapshot


def demo_with_editorial_changes():
    call_command("import_timeline", str(DEMO_FILE), verbosity=0)
    # Beyond the demo: a draft, a withdrawn entry, and a postponement made through the service.
    factories.EventFactory(title="A draft nobody reads yet", publication_status="draft")
    factories.EventFactory(title="Withdrawn after a correction", publication_status="withdrawn")
    deadline = factories.DeadlineFactory(obligation="A withdrawal still due")
    services.deadline_postpone(deadline=deadline, to_date=deadline.due_on + dt.timedelta(days=30),
                               decided_on=deadline.due_on - dt.timedelta(days=1), reason="Asked for more time.")
    # Factories skip the services that derive entries; editors' saves run them.
    services.derived_events_sync_all(agreements=[deadline.agreement])


@pytest.mark.django_db(transaction=True)
def test_an_exported_dataset_restores_every_record_into_an_emptied_database(tmp_path):
    demo_with_editorial_changes()
    before_counts, before_rows = counts(), natural_rows()
    backup = tmp_path / "backup.json"
    call_command("export_timeline", str(backup), verbosity=0)

    call_command("flush", interactive=False, verbosity=0)
    assert sum(counts().values()) == 0
    call_command("import_timeline", str(backup), verbosity=0)

    assert counts() == before_counts
    assert natural_rows() == before_rows
    again = tmp_path / "again.json"
    call_command("export_timeline", str(again), verbosity=0)
    assert again.read_text(encoding="utf-8") == backup.read_text(encoding="utf-8")


def test_restoring_the_same_dataset_twice_changes_nothing(db, tmp_path):
    call_command("import_timeline", str(DEMO_FILE), verbosity=0)
    backup = tmp_path / "backup.json"
    call_command("export_timeline", str(backup), verbosity=0)
    history_rows = sum(m.history.count() for m in CONTENT_MODELS if hasattr(m, "history"))

    call_command("import_timeline", str(backup), verbosity=0)

    assert sum(m.history.count() for m in CONTENT_MODELS if hasattr(m, "history")) == history_rows


def _pg_args(settings_dict) -> list[str]:
    args = ["-h", settings_dict["HOST"] or "127.0.0.1", "-p", str(settings_dict["PORT"] or 5432)]
    if settings_dict["USER"]:
        args += ["-U", settings_dict["USER"]]
    return args


def _tables(cursor) -> list[str]:
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return [name for (name,) in cursor.fetchall()]


def _table_rows(cursor, table: str) -> list[tuple]:
    cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names read from pg_tables
    return sorted(cursor.fetchall(), key=repr)  # every column decides the order, not the first alone


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump and pg_restore back up PostgreSQL only; "
                    "this run uses SQLite (CI runs it on PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_pg_dump_and_pg_restore_bring_back_every_row_and_every_history_row(tmp_path):
    assert shutil.which("pg_dump") and shutil.which("pg_restore"), "install postgresql-client"
    demo_with_editorial_changes()
    factories.UserFactory(username="backup-editor", is_staff=True)
    source = connection.settings_dict
    restore_name = f"{source['NAME']}_restore"
    dump = tmp_path / "timeline.dump"
    env_args = _pg_args(source)

    subprocess.run(["pg_dump", *env_args, "--format=custom", "--no-owner", "--file", str(dump), source["NAME"]],  # noqa: S603, S607
                   check=True, capture_output=True, timeout=120)
    subprocess.run(["dropdb", *env_args, "--if-exists", restore_name], check=True, capture_output=True, timeout=60)  # noqa: S603, S607
    subprocess.run(["createdb", *env_args, restore_name], check=True, capture_output=True, timeout=60)  # noqa: S603, S607
    try:
        subprocess.run(["pg_restore", *env_args, "--no-owner", "--exit-on-error", "--dbname", restore_name, str(dump)],  # noqa: S603, S607
                       check=True, capture_output=True, timeout=120)
        params = {"host": source["HOST"] or "127.0.0.1", "port": source["PORT"] or 5432,
                  "user": source["USER"], "password": source["PASSWORD"] or None}
        original = psycopg2.connect(dbname=source["NAME"], **params)
        restored = psycopg2.connect(dbname=restore_name, **params)
        try:
            with original.cursor() as a, restored.cursor() as b:
                tables = _tables(a)
                assert _tables(b) == tables
                history_tables = [t for t in tables if t.startswith("timeline_historical")]
                assert len(history_tables) >= 10
                compared = 0
                for table in tables:
                    rows = _table_rows(a, table)
                    assert _table_rows(b, table) == rows, table
                    compared += len(rows)
                assert sum(len(_table_rows(a, t)) for t in history_tables) > 100
                assert compared > 500
        finally:
            original.close()
            restored.close()
    finally:
        subprocess.run(["dropdb", *env_args, "--if-exists", restore_name], check=False, capture_output=True, timeout=60)  # noqa: S603, S607
