"""Write a numbered release of the published record: ``python manage.py release_dataset 1.0.0``.

The release is the dataset format of ``timeline.dataset`` (what ``export_timeline``
writes) with only published records, and references to unpublished ones left
out. It is written once under ``settings.RELEASES_DIR`` as ``<version>.json``
with ``<version>.json.sha256`` (``sha256sum`` format) and ``<version>.meta.json``
(version, date, checksum, size); an existing version is never overwritten,
so a cited release stays byte-identical.
"""

import datetime as dt
import hashlib
import json
import os
import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from timeline import dataset

VERSION_PATTERN = r"[0-9]+(?:\.[0-9]+){1,2}"
VERSION = re.compile(rf"^{VERSION_PATTERN}$")
PUBLISHED = "published"


def published_only(data: dict) -> dict:
    """``data`` (a dump) without unpublished records, and without references to them.

    A claim whose claimant is not published is left out whole: shown without
    its claimant it would read as established fact.
    """
    def slugs(kind):
        return {r["slug"] for r in data[kind] if r.get("publication_status", PUBLISHED) == PUBLISHED}

    parties, sources, districts = slugs("parties"), slugs("sources"), slugs("districts")
    agreements = slugs("agreements")

    def cites(items):
        return [c for c in items if c["source"] in sources]

    def disputes(items):
        return [{**d, "sources": [s for s in d["sources"] if s in sources]} for d in items]

    handovers = [
        h for h in data["handovers"]
        if h["publication_status"] == PUBLISHED and h["district"] in districts
        and h["from_party"] in parties and h["to_party"] in parties
        and (h["agreement"] is None or h["agreement"] in agreements)
    ]
    handover_keys = {(h["agreement"], h["district"]) for h in handovers}
    events = [
        e for e in data["events"]
        if e["publication_status"] == PUBLISHED and (e["claimed_by"] is None or e["claimed_by"] in parties)
    ]
    event_slugs = {e["slug"] for e in events}

    def deadline(d):
        return {
            **d,
            "district": d["district"] if d["district"] in districts else None,
            "obligated_party": d["obligated_party"] if d["obligated_party"] in parties else None,
            "postponements": [
                {**p, "requested_by": p["requested_by"] if p["requested_by"] in parties else None,
                 "agreed_by": [x for x in p["agreed_by"] if x in parties], "citations": cites(p["citations"])}
                for p in d["postponements"]
            ],
            "citations": cites(d["citations"]),
            "discrepancies": disputes(d["discrepancies"]),
        }

    def provision(p):
        changes = [
            {**c, "evidence_events": [e for e in c["evidence_events"] if e in event_slugs],
             "evidence_handovers": [r for r in c["evidence_handovers"] if (r["agreement"], r["district"]) in handover_keys],
             "citations": cites(c["citations"])}
            for c in p["status_changes"] if c["claimed_by"] is None or c["claimed_by"] in parties
        ]
        return {**p, "status_changes": changes}

    return {
        **data,
        "parties": [
            {**p, "memberships": [m for m in p["memberships"] if m["member"] in parties]}
            for p in data["parties"] if p["slug"] in parties
        ],
        "sources": [s for s in data["sources"] if s["slug"] in sources],
        "districts": [
            {**d, "parent": d["parent"] if d["parent"] in districts else None,
             "discrepancies": disputes(d["discrepancies"])}
            for d in data["districts"] if d["slug"] in districts
        ],
        "agreements": [
            {
                **a,
                "signatories": [
                    {**s, "party": s["party"] if s["party"] in parties else None}
                    for s in a["signatories"] if s["party"] in parties or s["person_name"]
                ],
                "provisions": [provision(p) for p in a["provisions"]],
                "deadlines": [deadline(d) for d in a["deadlines"]],
                "citations": cites(a["citations"]),
                "discrepancies": disputes(a["discrepancies"]),
            }
            for a in data["agreements"] if a["slug"] in agreements
        ],
        "handovers": [
            {**h, "citations": cites(h["citations"]), "discrepancies": disputes(h["discrepancies"])} for h in handovers
        ],
        "events": [
            {
                **e,
                "districts": [x for x in e["districts"] if x in districts],
                "parties": [x for x in e["parties"] if x in parties],
                "agreement": e["agreement"] if e["agreement"] in agreements else None,
                "handover": e["handover"] if e["handover"] and (e["handover"]["agreement"], e["handover"]["district"])
                in handover_keys else None,
                "deadline": e["deadline"] if e["deadline"] and e["deadline"]["agreement"] in agreements else None,
                "citations": cites(e["citations"]),
                "control_changes": [
                    c for c in e["control_changes"] if c["district"] in districts and c["controlled_by"] in parties
                ],
                "discrepancies": disputes(e["discrepancies"]),
            }
            for e in events
        ],
    }


def release_list() -> list[dict]:
    """Every release under ``RELEASES_DIR``, newest first, from their ``.meta.json`` files."""
    directory = settings.RELEASES_DIR
    if not directory.is_dir():
        return []
    releases = []
    for meta in directory.glob("*.meta.json"):
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and VERSION.match(str(info.get("version", ""))):
            releases.append(info)
    return sorted(releases, key=lambda r: [int(n) for n in r["version"].split(".")], reverse=True)


def release_meta(version: str) -> dict | None:
    if not VERSION.match(version):
        return None
    return next((r for r in release_list() if r["version"] == version), None)


class Command(BaseCommand):
    help = "Write the published record as dataset release VERSION (e.g. 1.0.0) with its SHA-256 checksum."

    def add_arguments(self, parser):
        parser.add_argument("version", help="MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.0.0")

    def handle(self, *args, version, **options):
        if not VERSION.match(version):
            raise CommandError(f"VERSION {version[:40]!r} is not valid: give MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.0.0.")
        directory = settings.RELEASES_DIR
        target = directory / f"{version}.json"
        if target.exists() or (directory / f"{version}.meta.json").exists():
            raise CommandError(f"Release {version} already exists ({target}); a release is never overwritten.")
        body = dataset.dumps(published_only(dataset.dump())).encode("utf-8")
        checksum = hashlib.sha256(body).hexdigest()
        directory.mkdir(parents=True, exist_ok=True)
        try:
            # "x": fail rather than replace a release written meanwhile.
            with open(target, "xb") as out:
                out.write(body)
        except FileExistsError:
            raise CommandError(f"Release {version} already exists ({target}).") from None
        (directory / f"{version}.json.sha256").write_text(f"{checksum}  {version}.json\n", encoding="utf-8")
        meta = {
            "version": version,
            "released_at": timezone.now().astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "sha256": checksum,
            "size": len(body),
            "file": f"{version}.json",
        }
        tmp = directory / f".{version}.meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, directory / f"{version}.meta.json")
        self.stdout.write(self.style.SUCCESS(f"Released {version}: {target} sha256 {checksum}"))
