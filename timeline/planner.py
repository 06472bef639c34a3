"""Keep PostgreSQL's planner statistics current while a bulk load grows tables.

Plans made while a table looks empty stay in use after it has grown: the
foreign-key checks PostgreSQL runs at each commit (prepared once per
connection), and the lookups a loader repeats per batch, then scan the table
sequentially instead of using its index. A 100,000-event ``generate_synthetic``
took 10 minutes instead of 24 s that way (each 5,000-event commit spent 30 s
scanning ``timeline_event``). ``ANALYZE`` updates the statistics and invalidates
those plans; ``GrowthStatistics`` runs it at doubling sizes, so a load of N rows
pays for it about log2(N / first) times. It works inside a transaction too: the
rows the transaction itself wrote are counted.
"""

from collections.abc import Iterable

from django.db import connection


def analyze(tables: dict[str, Iterable[str]]) -> None:
    """``ANALYZE`` the columns named for each table (``{table: [column, ...]}``; PostgreSQL,
    elsewhere nothing). The table's size estimate is updated either way, and a few narrow
    columns cost a fraction of the table's text columns."""
    if connection.vendor != "postgresql" or not tables:
        return
    quote = connection.ops.quote_name
    targets = [f"{quote(table)} ({', '.join(quote(c) for c in columns)})" for table, columns in tables.items()]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(targets)}")


class GrowthStatistics:
    """Call ``grew(n)`` after writing n rows: the tables are analyzed when the rows written
    reach ``first``, then each time they double.

    Only the tables that are looked up while the load runs need it: those the
    new rows' foreign keys point to, and those a batch reads back. ANALYZE
    samples 30,000 rows a table, so analyzing every table a load writes costs
    more than it saves.
    """

    def __init__(self, tables: dict[str, Iterable[str]], *, first: int):
        self.tables = tables
        self.written, self.next = 0, max(1, first)
        self.runs = 0

    def grew(self, rows: int) -> None:
        self.written += rows
        if self.written >= self.next:
            analyze(self.tables)
            self.runs += 1
            while self.next <= self.written:
                self.next *= 2

