"""Every migration of the timeline app applies forwards and backwards, one step at a time.

A transactional test (pytest-django runs those after the others); whatever happens, the
database is migrated forward again at the end so later tests find their tables.
"""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from timeline.tests.site_demo import DEMO_FILE

APP = "timeline"


def timeline_migrations() -> list[tuple[str, str]]:
    """The app's migrations in the order they apply."""
    executor = MigrationExecutor(connection)
    leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] == APP]
    plan = executor.loader.graph.forwards_plan(leaves[-1])
    return [node for node in plan if node[0] == APP]


def applied() -> set[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return {key for key in executor.loader.applied_migrations if key[0] == APP}


@pytest.mark.django_db(transaction=True)
def test_every_timeline_migration_reverses_and_reapplies_one_step_at_a_time():
    migrations = timeline_migrations()
    assert len(migrations) >= 2
    call_command("import_timeline", str(DEMO_FILE), verbosity=0)
    try:
        # Backwards, one migration at a time, down to nothing (with the demo data in place at first).
        for index in range(len(migrations) - 1, -1, -1):
            target = migrations[index - 1][1] if index > 0 else "zero"
            call_command("migrate", APP, target, verbosity=0)
            assert applied() == set(migrations[:index]), f"after reversing {migrations[index][1]}"
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
        assert not [t for t in tables if t.startswith("timeline_")]
        # Forwards again, one at a time.
        for index, (_, name) in enumerate(migrations):
            call_command("migrate", APP, name, verbosity=0)
            assert applied() == set(migrations[: index + 1]), f"after applying {name}"
    finally:
        call_command("migrate", verbosity=0)

    assert applied() == set(migrations)
    call_command("import_timeline", str(DEMO_FILE), verbosity=0)


@pytest.mark.django_db
def test_the_models_and_the_migrations_agree():
    # makemigrations --check: no model change is left without its migration.
    call_command("makemigrations", APP, "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_the_database_holds_every_constraint_and_index_the_event_model_declares():
    """AlterField drops each index on a column whose db_index goes off, partial unique ones included
    (0007 removes and adds back the event_one_per_* constraints for that reason)."""
    from timeline.models import Event

    with connection.cursor() as cursor:
        present = set(connection.introspection.get_constraints(cursor, Event._meta.db_table))
    declared = {c.name for c in Event._meta.constraints} | {i.name for i in Event._meta.indexes}

    assert declared <= present, sorted(declared - present)
