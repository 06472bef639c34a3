"""Synthetic, deterministic data at scale: many conflicts, up to millions of events.

Used by ``manage.py generate_synthetic`` and the benchmark (``bench/``). The
same ``events`` and ``seed`` always give the same records (names, slugs,
dates, links); only creation timestamps differ.

Two kinds of records are written differently on purpose:

* the *structure* of each conflict (parties, districts and their aliases,
  sources, agreements with signatories and provisions, deadlines,
  postponements, handovers) is small, so it goes through the models and the
  ``services`` like an editor's work, and the derived timeline entries
  (signings, deadlines, postponements, completed handovers) exist exactly as
  they would in production;
* the *bulk* editorial events are written in chunks with ``bulk_create``,
  together with their many-to-many rows, citations and control changes. A
  chunk costs a fixed number of queries whatever its size (on SQLite, whose
  statements take at most 999 parameters, one INSERT per ~50 rows).

``bulk_create`` skips ``save()``, so ``span_end``, ``slug``, ``search_key``,
``search_text`` and ``published_at`` are computed here, and no django-simple-history rows are
written for the bulk rows: they are not an edit anyone made, and one
historical row (plus one per m2m link) for each of a million events would
double the database and the generation time for nothing a reader can see.
"""

import dataclasses
import datetime as dt
import io
import math
import queue
import random
import resource
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from timeline import cache, dates, planner, services
from timeline.models import (
    Agreement,
    Citation,
    Conflict,
    ControlChange,
    Deadline,
    District,
    DistrictAlias,
    Event,
    Handover,
    Membership,
    Party,
    Provision,
    ProvisionStatus,
    ProvisionStatusChange,
    PublicationStatus,
    Signatory,
    Source,
)
from timeline.text import fold

# Every synthetic conflict's summary starts with this, so a database that
# already holds synthetic data is recognised (and never filled twice).
MARK = "Synthetic data"
EVENTS_PER_CONFLICT = 20_000
MIN_CONFLICTS = 3
DISTRICTS_PER_CONFLICT = 30
SOURCES_PER_CONFLICT = 40
DEFAULT_CHUNK = 5_000
PUBLISHED = PublicationStatus.PUBLISHED


class SyntheticError(Exception):
    """Bad arguments or a database that cannot take the data."""


@dataclasses.dataclass
class Report:
    events: int = 0
    derived_events: int = 0
    conflicts: int = 0
    districts: int = 0
    aliases: int = 0
    parties: int = 0
    agreements: int = 0
    handovers: int = 0
    citations: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if peak > 1 << 32 else peak / 1024


def conflict_count(events: int) -> int:
    return max(MIN_CONFLICTS, math.ceil(events / EVENTS_PER_CONFLICT))


# --------------------------------------------------------------------------
# Names in several scripts
# --------------------------------------------------------------------------

_ONSETS = ["k", "g", "t", "d", "s", "sh", "z", "m", "n", "l", "r", "v", "b", "kh", "ts", "ch", "h", "j", "ar", "ag"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "ia"]
_CODAS = ["", "n", "r", "l", "m", "k", "sh", "rd", "st", "z"]
_ENDINGS = ["ar", "jur", "vand", "abad", "li", "shen", "dzor", "berd", "kend", "ovka", "ani", "eti", "stan", "kar"]

# Diacritics as Azerbaijani, Turkish or Romanian spellings carry them.
_DIACRITIC = {"a": "ə", "c": "ç", "s": "ş", "g": "ğ", "u": "ü", "o": "ö", "i": "ı"}
_DIGRAPHS = ["sh", "kh", "ts", "ch", "ia"]
_CYRILLIC = {
    "sh": "ш", "kh": "х", "ts": "ц", "ch": "ч", "ia": "я", "a": "а", "b": "б", "d": "д", "e": "е", "g": "г",
    "h": "х", "i": "и", "j": "дж", "k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "r": "р", "s": "с",
    "t": "т", "u": "у", "v": "в", "z": "з",
}
_ARMENIAN = {
    "sh": "շ", "kh": "խ", "ts": "ց", "ch": "չ", "ia": "իա", "a": "ա", "b": "բ", "d": "դ", "e": "ե", "g": "գ",
    "h": "հ", "i": "ի", "j": "ջ", "k": "կ", "l": "լ", "m": "մ", "n": "ն", "o": "ո", "r": "ր", "s": "ս",
    "t": "տ", "u": "ու", "v": "վ", "z": "զ",
}
_GEORGIAN = {
    "sh": "შ", "kh": "ხ", "ts": "ც", "ch": "ჩ", "ia": "ია", "a": "ა", "b": "ბ", "d": "დ", "e": "ე", "g": "გ",
    "h": "ჰ", "i": "ი", "j": "ჯ", "k": "კ", "l": "ლ", "m": "მ", "n": "ნ", "o": "ო", "r": "რ", "s": "ს",
    "t": "ტ", "u": "უ", "v": "ვ", "z": "ზ",
}


def transliterate(word: str, table: dict[str, str], *, capital: bool = True) -> str:
    out, i, lower = [], 0, word.lower()
    while i < len(lower):
        pair = lower[i : i + 2]
        if pair in _DIGRAPHS and pair in table:
            out.append(table[pair])
            i += 2
            continue
        out.append(table.get(lower[i], lower[i]))
        i += 1
    text = "".join(out)
    return text[:1].upper() + text[1:] if capital else text


def with_diacritics(word: str, rng: random.Random) -> str:
    """'Karvadzor' -> 'Kərvadzor': the local Latin spelling, never equal to the plain one."""
    letters = list(word)
    spots = [i for i, ch in enumerate(letters) if ch.lower() in _DIACRITIC]
    if not spots:
        return word + "ı"
    for i in rng.sample(spots, k=min(len(spots), rng.randint(1, 2))):
        mark = _DIACRITIC[letters[i].lower()]
        letters[i] = mark.upper() if letters[i].isupper() and mark != "ı" else mark
    return "".join(letters)


class NameMaker:
    """Pronounceable place and people names, never repeated within one run."""

    def __init__(self, rng: random.Random, taken: set[str]):
        self.rng = rng
        self.taken = taken

    def word(self, syllables: int | None = None) -> str:
        for _ in range(1000):
            n = syllables or self.rng.randint(1, 2)
            parts = [self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) + self.rng.choice(_CODAS) for _ in range(n)]
            name = ("".join(parts) + self.rng.choice(_ENDINGS)).capitalize()
            if name.lower() not in self.taken and 4 <= len(name) <= 16:
                self.taken.add(name.lower())
                return name
        raise SyntheticError("Ran out of distinct synthetic names.")


# --------------------------------------------------------------------------
# The structure of one conflict
# --------------------------------------------------------------------------


@dataclasses.dataclass
class ConflictWorld:
    """What the bulk events of one conflict are drawn from."""

    conflict: Conflict
    start: dt.date
    end: dt.date
    districts: list[District]
    parties: list[Party]
    belligerents: list[Party]
    sources: list[Source]
    agreement_dates: list[dt.date]


def _day_in(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


def _published(now) -> dict:
    return {"publication_status": PUBLISHED, "published_at": now}


def build_conflict(index: int, total: int, seed: int, rng: random.Random, names: NameMaker, now) -> ConflictWorld:
    """One conflict with its parties, territories, sources, agreements, deadlines and handovers."""
    land_a, land_b, region_word, mediator_word = names.word(2), names.word(2), names.word(), names.word()
    start_year = rng.randint(1960, 2012)
    start = dt.date(start_year, rng.randint(1, 12), 1)
    end = min(dt.date(start_year + rng.randint(6, 30), 12, 31), dt.date(2025, 12, 31))
    conflict = Conflict.objects.create(
        name=f"{land_a}\u2013{land_b} conflict over {region_word}",
        slug=slugify(f"{land_a}-{land_b}-{region_word}"),
        summary=f"{MARK} (seed {seed}, conflict {index + 1} of {total}): a conflict between {land_a} and "
        f"{land_b} over {region_word}, {start.year}\u2013{end.year}.",
    )

    def party(name, kind, short, colour):
        return Party(
            name=name, slug=slugify(fold(name)), kind=kind, short_name=short, colour=colour,
            description=f"A party to the {conflict.name}.", **_published(now),
        )

    colour = lambda: f"#{rng.randrange(1 << 24):06x}"  # noqa: E731
    parties = Party.objects.bulk_create(
        [
            party(f"Republic of {land_a}", Party.Kind.STATE, land_a, colour()),
            party(f"Republic of {land_b}", Party.Kind.STATE, land_b, colour()),
            party(f"{region_word} de facto authorities", Party.Kind.DE_FACTO_AUTHORITY, region_word, colour()),
            party(f"Armed Forces of {land_a}", Party.Kind.ARMED_FORCES, f"{land_a} army", colour()),
            party(f"{mediator_word} Mediation Group", Party.Kind.MEDIATOR, f"{mediator_word} Group", ""),
            party(f"Republic of {names.word(2)}", Party.Kind.STATE, "", colour()),
            party(f"Republic of {names.word(2)}", Party.Kind.STATE, "", colour()),
            party(f"{names.word()} Committee of the Red Crescent", Party.Kind.ORGANISATION, "", ""),
        ]
    )
    state_a, state_b, authority, army_a, mediator, member_1, member_2, _organisation = parties
    Membership.objects.bulk_create(
        [
            Membership(group=mediator, member=member_1, role="co-chair", started_on=start),
            Membership(group=mediator, member=member_2, role="co-chair", started_on=start),
        ]
    )

    # Territories: three regions, the rest districts, towns and villages inside them.
    lat0, lon0 = Decimal(rng.randint(-40, 60)), Decimal(rng.randint(-120, 140))
    district_rows, alias_rows, used_slugs = [], [], set()
    third_script = _ARMENIAN if index % 2 == 0 else _GEORGIAN
    third_language = "hy" if index % 2 == 0 else "ka"
    kinds = [District.Kind.DISTRICT] * 5 + [District.Kind.TOWN] * 3 + [District.Kind.VILLAGE] * 2
    for n in range(DISTRICTS_PER_CONFLICT):
        base = names.word()
        slug = slugify(base)
        while slug in used_slugs:
            slug += "-x"
        used_slugs.add(slug)
        name = with_diacritics(base, rng)
        district_rows.append(
            District(
                conflict=conflict, name=name, slug=slug, search_key=fold(name),
                kind=District.Kind.REGION if n < 3 else rng.choice(kinds),
                latitude=lat0 + Decimal(rng.randrange(0, 200_000)) / 100_000,
                longitude=lon0 + Decimal(rng.randrange(0, 200_000)) / 100_000,
                description=f"A territory of the {conflict.name}.", **_published(now),
            )
        )
        variants = [
            (base, "en", DistrictAlias.Kind.EXONYM),
            (name, "az", DistrictAlias.Kind.OFFICIAL),
            (transliterate(base, _CYRILLIC), "ru", DistrictAlias.Kind.EXONYM),
            (transliterate(base, third_script), third_language, DistrictAlias.Kind.LOCAL),
        ]
        if rng.random() < 0.3:
            variants.append((f"Old {names.word()}", "en", DistrictAlias.Kind.HISTORICAL))
        alias_rows.append(variants)
    districts = District.objects.bulk_create(district_rows)
    regions = districts[:3]
    for district in districts[3:]:
        district.parent = rng.choice(regions)
    District.objects.bulk_update(districts[3:], ["parent"])
    DistrictAlias.objects.bulk_create(
        DistrictAlias(district=d, name=alias, language=lang, kind=kind, search_key=fold(alias))
        for d, variants in zip(districts, alias_rows, strict=True)
        for alias, lang, kind in variants
    )

    publishers = [f"{names.word()} News", f"{names.word()} Today", f"The {names.word()} Herald", f"{land_a} Press Agency"]
    source_rows = []
    for n in range(SOURCES_PER_CONFLICT):
        published_on = _day_in(rng, start, end)
        kind = Source.Kind.OFFICIAL_TEXT if n < 4 else Source.Kind.NEWS_REPORT
        source_rows.append(
            Source(
                title=f"{'Official text' if n < 4 else 'Report'} {n + 1}: {conflict.name}, {published_on.isoformat()}",
                slug=f"{conflict.slug}-source-{n + 1}",
                kind=kind,
                publisher="" if kind == Source.Kind.OFFICIAL_TEXT else rng.choice(publishers),
                published_on=published_on,
                language=rng.choice(["en", "ru", third_language]),
                description="A synthetic source.",
                **_published(now),
            )
        )
    sources = Source.objects.bulk_create(source_rows)

    agreement_dates = _build_agreements(conflict, rng, start, end, districts, state_a, state_b, authority, mediator, sources, now)
    return ConflictWorld(
        conflict=conflict, start=start, end=end, districts=districts, parties=parties,
        belligerents=[state_a, state_b, authority, army_a], sources=sources, agreement_dates=agreement_dates,
    )


def _build_agreements(conflict, rng, start, end, districts, state_a, state_b, authority, mediator, sources, now):
    """Three agreements; the first two set deadlines for handovers of districts.

    Six handovers per conflict: on time, late, late after a postponement,
    still postponed, overdue (due, never done) and scheduled in the future.
    Everything goes through the models' ``save`` and the services, so the
    derived timeline entries exist as they would after an editor's work.
    """
    span = (end - start).days
    kinds = [Agreement.Kind.HUMANITARIAN_CEASEFIRE, Agreement.Kind.CEASEFIRE_STATEMENT, Agreement.Kind.PEACE_AGREEMENT]
    signed = sorted(start + dt.timedelta(days=int(span * f)) for f in (0.35, 0.6, 0.85))
    agreements = []
    for n, (kind, signed_on) in enumerate(zip(kinds, signed, strict=True)):
        agreement = Agreement(
            conflict=conflict,
            title=f"{kind.label.capitalize()} of {signed_on:%d %B %Y} ({conflict.name})",
            short_title=f"{kind.label.capitalize()} {signed_on.year}",
            slug=f"{conflict.slug}-agreement-{n + 1}",
            kind=kind,
            summary=f"The parties agree to a {kind.label}.",
            signed_on=signed_on,
            signed_at_place=f"{mediator.short_name} capital",
            **_published(now),
        )
        agreement.full_clean()
        agreement.save()
        Signatory.objects.bulk_create(
            [
                Signatory(agreement=agreement, party=state_a, person_name=f"President of {state_a.short_name}", order=1),
                Signatory(agreement=agreement, party=state_b, person_name=f"President of {state_b.short_name}", order=2),
                Signatory(
                    agreement=agreement, party=mediator, person_name="Chair of the group",
                    capacity=Signatory.Capacity.MEDIATOR, order=3,
                ),
            ]
        )
        provisions = Provision.objects.bulk_create(
            Provision(agreement=agreement, number=p, summary=f"Point {p} of the {kind.label}.") for p in range(1, 8)
        )
        ProvisionStatusChange.objects.bulk_create(
            ProvisionStatusChange(
                provision=provision,
                status=rng.choice([ProvisionStatus.IN_PROGRESS, ProvisionStatus.IMPLEMENTED, ProvisionStatus.BREACHED]),
                from_date=signed_on + dt.timedelta(days=rng.randint(1, 60)),
            )
            for provision in provisions[:3]
        )
        Citation.objects.create(agreement=agreement, source=sources[n], locator="preamble", passage="The parties agree.")
        agreements.append((agreement, provisions))

    today = dt.date.today()
    plans = ["on_time", "late", "postponed_then_done", "postponed_pending", "overdue", "future"]
    handed = districts[3:9]
    for n, (plan, district) in enumerate(zip(plans, handed, strict=True)):
        agreement, provisions = agreements[0] if n < 4 else agreements[1]
        due = agreement.signed_on + dt.timedelta(days=rng.randint(10, 40))
        if plan == "future":
            due = max(due, today + dt.timedelta(days=rng.randint(30, 300)))
        deadline = Deadline(
            agreement=agreement, provision=provisions[1], district=district,
            obligation=f"Return of the {district.name} district", obligated_party=state_b,
            original_due_on=due, due_on=due,
        )
        deadline.full_clean()
        deadline.save()
        handover = Handover(
            district=district, agreement=agreement, deadline=deadline, from_party=state_b, to_party=state_a,
            summary=f"{district.name} returns under point 2.", **_published(now),
        )
        handover.full_clean()
        handover.save()
        Citation.objects.create(deadline=deadline, source=sources[n % 4], locator="point 2", passage="Shall be returned.")
        if plan.startswith("postponed"):
            services.deadline_postpone(
                deadline=deadline, to_date=due + dt.timedelta(days=10), decided_on=due - dt.timedelta(days=2),
                requested_by=state_b, agreed_by=[state_a, mediator], reason="Weather closed the mountain pass.",
            )
        else:
            services.derived_events_sync_deadline(deadline=deadline)
        completed = {
            "on_time": due,
            "late": due + dt.timedelta(days=rng.randint(5, 30)),
            "postponed_then_done": due + dt.timedelta(days=9),
        }.get(plan)
        if completed is not None:
            services.handover_complete(handover=handover, completed_on=completed)
    for agreement, _ in agreements:
        services.derived_events_sync_agreement(agreement=agreement)
    return [agreement.signed_on for agreement, _ in agreements]


# --------------------------------------------------------------------------
# Bulk events
# --------------------------------------------------------------------------

_TITLES = {
    Event.Kind.MILITARY: [
        "Artillery fire reported near {d}",
        "{p} forces advance towards {d}",
        "Drone strike on positions in {d}",
        "Clashes along the line of contact in {d}",
    ],
    Event.Kind.CEASEFIRE: ["Ceasefire violations reported in {d}", "Local truce agreed in {d}"],
    Event.Kind.POLITICAL: ["Parliament of {p} debates the status of {d}", "Officials of {p} visit {d}"],
    Event.Kind.NEGOTIATION: ["Talks on the future of {d}", "Mediators meet delegations of {p} and {p2}"],
    Event.Kind.HUMANITARIAN: ["Aid convoy reaches {d}", "Exchange of prisoners and remains near {d}"],
    Event.Kind.DISPLACEMENT: ["Residents leave {d}", "Displaced families return to {d}"],
    Event.Kind.STATEMENT: ["{p} accuses {p2} of shelling {d}", "{p} denies reports from {d}"],
    Event.Kind.OTHER: ["Road between {d} and {d2} reopens", "Census counts the residents of {d}"],
}
_KINDS = list(_TITLES)
_KIND_WEIGHTS = [30, 8, 14, 8, 10, 8, 14, 8]
_SUMMARIES = [
    "Reports from {d} describe {n} incidents over the day.",
    "Local officials in {d} confirm the figures; {p} gives none.",
    "{p} says {n} people were affected in and around {d}.",
    "Observers of the {m} could not reach {d} to verify the reports.",
    "Journalists who visited {d} describe damaged roads and closed schools.",
]
_NUMBERS = ["two", "three", "several", "dozens of", "more than a hundred", "about forty"]


def _span(rng: random.Random, date: dt.date, precision: str) -> tuple[dt.date, str]:
    """An end date strictly after ``date`` at the same precision."""
    if precision == dates.YEAR:
        return date.replace(year=date.year + rng.randint(1, 4)), precision
    if precision == dates.MONTH:
        months = date.month - 1 + rng.randint(1, 18)
        return dt.date(date.year + months // 12, months % 12 + 1, 1), precision
    return date + dt.timedelta(days=rng.randint(1, 120)), precision


def _event_date(rng: random.Random, world: ConflictWorld) -> tuple[dt.date, str]:
    # A third of the events cluster in the months around an agreement, as real timelines do.
    if rng.random() < 0.33:
        anchor = rng.choice(world.agreement_dates)
        day = anchor + dt.timedelta(days=rng.randint(-90, 120))
        day = min(max(day, world.start), world.end)
    else:
        day = _day_in(rng, world.start, world.end)
    r = rng.random()
    if r < 0.8:
        return day, dates.DAY
    if r < 0.95:
        return day.replace(day=1), dates.MONTH
    return day.replace(month=1, day=1), dates.YEAR


EVENT_COLUMNS = (
    "conflict_id", "slug", "title", "summary", "body", "kind", "origin", "date", "date_precision", "end_date",
    "end_date_precision", "span_end", "search_text", "claimed_by_id", "publication_status", "published_at",
    "version", "created_at", "updated_at",
)
CITATION_COLUMNS = ("event_id", "source_id", "passage", "locator", "order", "created_at", "updated_at")
CONTROL_COLUMNS = ("event_id", "district_id", "controlled_by_id", "created_at", "updated_at")


@dataclasses.dataclass
class Chunk:
    """One chunk of events as plain rows; links name their event by its position in ``events``."""

    events: list[tuple]
    district_links: list[tuple[int, int]]
    party_links: list[tuple[int, int]]
    citations: list[tuple]
    control_changes: list[tuple]


def _chunk_rows(rng: random.Random, worlds: list[ConflictWorld], first: int, count: int, total: int, now) -> Chunk:
    """The rows of events ``first`` .. ``first + count - 1``; draws from ``rng`` in event order,
    so the data does not depend on the chunk size."""
    chunk = Chunk([], [], [], [], [])
    for i in range(first, first + count):
        world = worlds[i * len(worlds) // total]
        kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
        n_districts = rng.choices([0, 1, 2, 3], weights=[8, 60, 24, 8])[0]
        about = rng.sample(world.districts, k=max(n_districts, 2))
        p, p2 = rng.sample(world.belligerents, k=2)
        title = rng.choice(_TITLES[kind]).format(d=about[0].name, d2=about[1].name, p=p.short_name, p2=p2.short_name)
        summary = " ".join(
            rng.choice(_SUMMARIES).format(d=about[0].name, p=p.short_name, n=rng.choice(_NUMBERS), m=world.parties[4].name)
            for _ in range(rng.randint(1, 3))
        )
        date, precision = _event_date(rng, world)
        end_date, end_precision = _span(rng, date, precision) if rng.random() < 0.06 else (None, "")
        claimed = p if kind == Event.Kind.STATEMENT or rng.random() < 0.03 else None
        body = "" if rng.random() < 0.9 else " ".join([summary] * 4)
        at = len(chunk.events)
        chunk.events.append(
            (
                world.conflict.pk,
                f"{date.isoformat()}-{slugify(fold(title))[:90].strip('-')}-{i + 1}",
                title,
                summary,
                body,
                kind.value,
                Event.Origin.EDITORIAL.value,
                date,
                precision,
                end_date,
                end_precision,
                dates.period_end(end_date or date, end_precision or precision),
                Event.search_text_for(title, summary),
                claimed.pk if claimed else None,
                PUBLISHED.value,
                now,
                1,
                now,
                now,
            )
        )
        chunk.district_links += [(at, d.pk) for d in about[:n_districts]]
        chunk.party_links += [(at, x.pk) for x in ([p, p2] if rng.random() < 0.5 else [p])]
        for order, source in enumerate(rng.sample(world.sources, k=rng.choice([1, 1, 2]))):
            chunk.citations.append(
                (at, source.pk, f"As reported on {date.isoformat()}.", f"paragraph {order + 1}", order, now, now)
            )
        if kind == Event.Kind.MILITARY and n_districts and rng.random() < 0.02:
            chunk.control_changes.append((at, about[0].pk, p.pk, now, now))
    return chunk


def _with_event_ids(rows: list[tuple], ids: list[int]) -> list[tuple]:
    return [(ids[row[0]], *row[1:]) for row in rows]


def _write_chunk_orm(chunk: Chunk) -> None:
    """Any database: ``bulk_create``, which returns the new events' ids."""
    events = [Event(**dict(zip(EVENT_COLUMNS, row, strict=True))) for row in chunk.events]
    Event.objects.bulk_create(events, batch_size=len(events))
    ids = [event.pk for event in events]
    EventDistrict, EventParty = Event.districts.through, Event.parties.through
    EventDistrict.objects.bulk_create(
        [EventDistrict(event_id=ids[at], district_id=d) for at, d in chunk.district_links], batch_size=len(ids) * 3
    )
    EventParty.objects.bulk_create(
        [EventParty(event_id=ids[at], party_id=p) for at, p in chunk.party_links], batch_size=len(ids) * 2
    )
    Citation.objects.bulk_create(
        [Citation(**dict(zip(CITATION_COLUMNS, row, strict=True))) for row in _with_event_ids(chunk.citations, ids)],
        batch_size=len(ids) * 2,
    )
    if chunk.control_changes:
        ControlChange.objects.bulk_create(
            ControlChange(**dict(zip(CONTROL_COLUMNS, row, strict=True)))
            for row in _with_event_ids(chunk.control_changes, ids)
        )


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _copy(cursor, model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    buffer = io.StringIO("".join("\t".join(map(_copy_value, row)) + "\n" for row in rows))
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    cursor.copy_expert(f"COPY {table} ({', '.join(map(quote, columns))}) FROM STDIN", buffer)


def _write_chunk_copy(chunk: Chunk) -> None:
    """PostgreSQL: ``COPY``, several times faster than INSERT for the same rows.

    The events' ids are taken from their sequence first (one query), so the
    link rows can name them; the result is the same rows ``_write_chunk_orm``
    writes.
    """
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        # The sequence looked up once (a scalar subquery), not per row: it was most of this statement's time.
        cursor.execute(
            "SELECT nextval((SELECT pg_get_serial_sequence(%s, 'id'))::regclass) FROM generate_series(1, %s)",
            [table, len(chunk.events)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        raw = cursor.cursor  # psycopg2's own cursor: Django's wrapper has no copy_expert
        _copy(raw, Event, ("id", *EVENT_COLUMNS), [(ids[n], *row) for n, row in enumerate(chunk.events)])
        _copy(raw, Event.districts.through, ("event_id", "district_id"), _with_event_ids(chunk.district_links, ids))
        _copy(raw, Event.parties.through, ("event_id", "party_id"), _with_event_ids(chunk.party_links, ids))
        _copy(raw, Citation, CITATION_COLUMNS, _with_event_ids(chunk.citations, ids))
        _copy(raw, ControlChange, CONTROL_COLUMNS, _with_event_ids(chunk.control_changes, ids))


def _write_chunk(chunk: Chunk, *, use_copy: bool) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Commit without waiting for the WAL flush: a crash can lose the last
            # chunks of a run (which is simply re-run), never corrupt the database.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if use_copy:
            _write_chunk_copy(chunk)
        else:
            _write_chunk_orm(chunk)
        cache.bump()  # COPY and bulk_create send no signals; readers' cached answers must go
    return len(chunk.citations)


def _ahead(items: Iterator[Chunk]) -> Iterator[Chunk]:
    """Make the next chunk in a thread while the database writes this one.

    Python builds rows while the database server works, on another core; at
    most two chunks are in memory at once.
    """
    ahead: queue.Queue = queue.Queue(maxsize=1)
    done = object()

    def produce():
        try:
            for item in items:
                ahead.put(item)
        except BaseException as error:  # handed to the consumer, which raises it
            ahead.put(error)
        ahead.put(done)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    while (item := ahead.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


def generate(
    *,
    events: int,
    seed: int = 1,
    chunk_size: int = DEFAULT_CHUNK,
    use_copy: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Write ``events`` published editorial events over ``conflict_count(events)`` conflicts,
    plus each conflict's structure and the derived entries it implies.

    ``use_copy`` (default: on PostgreSQL) writes the bulk rows with COPY
    instead of INSERT; both write the same rows.
    """
    if not isinstance(events, int) or isinstance(events, bool) or events <= 0:
        raise SyntheticError(f"--events must be a positive whole number (got {events!r}).")
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise SyntheticError(f"--chunk-size must be a positive whole number (got {chunk_size!r}).")
    if Conflict.objects.filter(summary__startswith=MARK).exists():
        raise SyntheticError("This database already holds synthetic data; generate into an empty database.")
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    if use_copy and connection.vendor != "postgresql":
        raise SyntheticError("COPY is only available on PostgreSQL.")
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    now = timezone.now()
    taken = {name.lower() for name in Party.objects.values_list("short_name", flat=True)}
    taken |= set(District.objects.values_list("slug", flat=True))
    names = NameMaker(rng, taken)
    total_conflicts = conflict_count(events)
    report = Report(conflicts=total_conflicts)
    before_derived = Event.objects.exclude(origin=Event.Origin.EDITORIAL).count()

    worlds = []
    for index in range(total_conflicts):
        with transaction.atomic():
            worlds.append(build_conflict(index, total_conflicts, seed, rng, names, now))
            cache.bump()  # its bulk_create rows send no signals
    report.derived_events = Event.objects.exclude(origin=Event.Origin.EDITORIAL).count() - before_derived
    if progress:
        progress(f"{total_conflicts} conflicts with their structure in {time.perf_counter() - started:.1f}s")

    def chunks():
        for first in range(0, events, chunk_size):
            yield _chunk_rows(rng, worlds, first, min(chunk_size, events - first), events, now)

    done = 0
    # Without it each chunk's foreign-key checks scan the events table (timeline.planner).
    statistics = planner.GrowthStatistics({Event._meta.db_table: ["id"]}, first=chunk_size)
    planner.analyze(statistics.tables)
    for chunk in _ahead(chunks()):
        report.citations += _write_chunk(chunk, use_copy=use_copy)
        done += len(chunk.events)
        statistics.grew(len(chunk.events))
        if progress and (done // chunk_size) % 20 == 0:
            elapsed = time.perf_counter() - started
            progress(f"{done:,} events, {done / elapsed:,.0f} events/s, peak RSS {peak_rss_mb():.0f} MB")

    report.events = events
    report.districts = sum(len(w.districts) for w in worlds)
    report.aliases = DistrictAlias.objects.filter(district__conflict__in=[w.conflict for w in worlds]).count()
    report.parties = sum(len(w.parties) for w in worlds)
    report.agreements = 3 * total_conflicts
    report.handovers = 6 * total_conflicts
    report.seconds = time.perf_counter() - started
    report.peak_rss_mb = peak_rss_mb()
    return report
