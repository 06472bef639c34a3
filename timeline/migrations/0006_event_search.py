"""Search that an index can serve: ``Event.search_text`` and, on PostgreSQL, trigram indexes.

``?q=`` matches ``Event.search_text`` (title and summary folded by
``timeline.text.fold``) and the folded names of districts and their aliases
with ``LIKE '%key%'``. A B-tree cannot serve a substring match; on PostgreSQL
GIN trigram indexes (``pg_trgm``) can, so at a million events the match is a
Bitmap Index Scan instead of a sequential scan. SQLite has no such index and
gets none: the field and the backfill are the same on both.

The indexes are created by SQL run only on PostgreSQL (``RunSQL`` has no
vendor guard), so ``Meta.indexes`` does not declare them and
``makemigrations`` does not see them.
"""

from django.db import migrations, models

from timeline.text import fold

BATCH = 2000
STATISTICS = 1000  # sample size behind the planner's estimate of how many events contain a word

# (index name, table, column)
TRIGRAM_INDEXES = [
    ("event_search_text_trgm", "timeline_event", "search_text"),
    ("district_search_key_trgm", "timeline_district", "search_key"),
    ("districtalias_search_key_trgm", "timeline_districtalias", "search_key"),
]


def no_statement_timeout(schema_editor):
    """Lift the site's statement timeout (``DATABASE_STATEMENT_TIMEOUT_MS``) for this migration only.

    It is meant for readers' queries; building a trigram index over a million
    events takes longer. ``SET LOCAL`` ends with the migration's transaction.
    """
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET LOCAL statement_timeout = 0")


def backfill_search_text(apps, schema_editor):
    """Fill ``search_text`` of existing events, ``BATCH`` rows at a time (keyset on the id).

    Historical rows keep ``""``: nothing searches the history, and reverting a
    record saves it, which recomputes the field.
    """
    no_statement_timeout(schema_editor)
    Event = apps.get_model("timeline", "Event")
    manager = Event._base_manager.db_manager(schema_editor.connection.alias)
    last_pk = 0
    while True:
        rows = list(
            manager.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "title", "summary")[:BATCH]
        )
        if not rows:
            return
        # Same text as Event.search_text_for (a migration cannot import the live model's methods).
        texts = [(pk, fold(f"{title} {summary}")) for pk, title, summary in rows]
        if schema_editor.connection.vendor == "postgresql":
            # One UPDATE .. FROM (VALUES ..) a batch: bulk_update's CASE over 2,000 ids costs
            # about a second of Python and SQL a batch, a quarter of an hour at a million events.
            values = ", ".join(["(%s, %s)"] * len(texts))
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(  # only placeholders are formatted into the SQL
                    f"UPDATE timeline_event AS e SET search_text = v.text FROM (VALUES {values}) AS v(id, text) "  # noqa: S608
                    "WHERE e.id = v.id",
                    [value for row in texts for value in row],
                )
        else:
            manager.bulk_update([Event(pk=pk, search_text=text) for pk, text in texts], ["search_text"])
        last_pk = rows[-1][0]


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    no_statement_timeout(schema_editor)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in TRIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
        )
    # How many events contain a word is estimated from a sample of search texts; with the
    # default sample (100) a word in 0.1% of the events can be estimated at 1%, and the
    # planner then walks the timeline in date order instead of using the index (0.4 s
    # instead of 5 ms at a million events). 1,000 keeps the estimate near the truth.
    schema_editor.execute(f"ALTER TABLE timeline_event ALTER COLUMN search_text SET STATISTICS {STATISTICS}")
    # The backfilled column has no statistics until autovacuum comes by; gather them now.
    schema_editor.execute("ANALYZE timeline_event (search_text)")


def drop_trigram_indexes(apps, schema_editor):
    """Drop the indexes; the extension stays (other database objects may use it)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("ALTER TABLE timeline_event ALTER COLUMN search_text SET STATISTICS -1")


class Migration(migrations.Migration):

    dependencies = [
        ("timeline", "0005_record_clock"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="search_text",
            field=models.TextField(
                default="",
                editable=False,
                help_text="Title and summary folded for search (see search_text_for); kept in step by save().",
            ),
        ),
        migrations.AddField(
            model_name="historicalevent",
            name="search_text",
            field=models.TextField(
                default="",
                editable=False,
                help_text="Title and summary folded for search (see search_text_for); kept in step by save().",
            ),
        ),
        migrations.RunPython(backfill_search_text, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
