"""Write the database as a dataset file (see docs/dataset-format.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from timeline import dataset


class Command(BaseCommand):
    help = (
        "Write every record as a conflict-timeline dataset (JSON), in a stable order, to FILE or standard "
        "output. Derived timeline entries are left out: import_timeline re-derives them."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="Where to write; standard output when omitted.")

    def handle(self, *args, file=None, **options):
        text = dataset.dumps()
        if file is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(file).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {file}: {exc.strerror}.") from exc
        self.stderr.write(f"Exported to {file}.")
