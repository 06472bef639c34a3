"""Load a dataset file (see docs/dataset-format.md) into the database, all or nothing.

The file is read in two passes, never whole (``dataset.load_file``), so its size
is not bounded by memory; standard input is copied to a temporary file first.
"""

import gc
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from timeline import dataset


class Command(BaseCommand):
    help = (
        "Load a conflict-timeline dataset (JSON) in one transaction, reading its events in batches. Records "
        "are matched by slug; rows that already hold the file's values are left untouched, so importing twice "
        "changes nothing."
    )

    # The system checks (URLs, admin, templates ...) are for serving; an import does not wait on them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the dataset file, or - for standard input.")

    def handle(self, *args, file, **options):
        try:
            stream = sys.stdin.buffer if file == "-" else Path(file).open("rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        # This process does nothing else, so two process-wide settings suit the import: the reading thread
        # hands the GIL back to the writing one more often (the default is 5 ms), so the database waits
        # less for its next statement; and the cyclic garbage collector, which the default runs every 700
        # allocations over every object alive (a quarter of a large import's time), runs less often.
        sys.setswitchinterval(0.0005)
        gc.set_threshold(50_000, 20, 100)
        try:
            with stream:
                stats = dataset.load_file(stream)
        except dataset.DatasetError as exc:
            problems = "\n".join(f"  {line}" for line in exc.errors)
            raise CommandError(f"{file} was not imported; nothing was written.\n{problems}") from exc
        written = {key: n for key, n in stats.items() if not key.endswith(": unchanged")}
        for key in sorted(written):
            self.stdout.write(f"{key}: {written[key]}")
        if written:
            self.stdout.write(self.style.SUCCESS(f"Imported {file}."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {file}: already up to date, nothing changed."))

