"""Fill the database with deterministic synthetic data: many conflicts, up to millions of events.

    python manage.py generate_synthetic --events 1000000 --seed 1

For benchmarks and load tests only: never run it against a database readers use.
"""

import argparse

from django.core.management.base import BaseCommand, CommandError

from timeline import synthetic


def positive_int(flag: str):
    def parse(raw: str) -> int:
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number (got {raw!r}).") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{flag} must be greater than 0 (got {value}).")
        return value

    return parse


def any_int(flag: str):
    def parse(raw: str) -> int:
        try:
            return int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number (got {raw!r}).") from None

    return parse


class Command(BaseCommand):
    help = "Generate N published synthetic events over many conflicts (deterministic for a given seed)."

    def add_arguments(self, parser):
        parser.add_argument("--events", required=True, type=positive_int("--events"), help="How many events.")
        parser.add_argument("--seed", default=1, type=any_int("--seed"), help="The same seed gives the same data.")
        parser.add_argument(
            "--chunk-size", default=synthetic.DEFAULT_CHUNK, type=positive_int("--chunk-size"),
            help="Events written per transaction (memory stays bounded by it).",
        )

    def handle(self, *args, events, seed, chunk_size, **options):
        try:
            report = synthetic.generate(
                events=events, seed=seed, chunk_size=chunk_size, progress=lambda line: self.stdout.write(line)
            )
        except synthetic.SyntheticError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {report.events:,} events (+{report.derived_events:,} derived from agreements, deadlines "
                f"and handovers) in {report.conflicts} conflicts: {report.districts:,} districts with "
                f"{report.aliases:,} aliases, {report.parties} parties, {report.agreements} agreements, "
                f"{report.handovers} handovers, {report.citations:,} event citations."
            )
        )
        self.stdout.write(
            f"{report.seconds:.1f}s, {report.events_per_second:,.0f} events/s, peak RSS {report.peak_rss_mb:.0f} MB"
        )
