"""The facts of the demo dataset that the page and browser tests rely on.

Loads ``data/nagorno-karabakh-2020.json`` through ``import_timeline`` when
both exist; until then (or if they change shape) builds the same facts with
factories and services, so these tests do not depend on another engineer's
timing.
"""

import datetime as dt
import warnings
from pathlib import Path

from django.conf import settings
from django.core.management import call_command, get_commands
from django.db import transaction

from timeline import services
from timeline.models import District, Event, Handover, Precision
from timeline.tests import factories

DEMO_FILE = Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json"
NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731


class _NotTheDemoFacts(Exception):
    pass


def load_demo() -> None:
    """The demo facts, from the data file when it imports and holds them, else built here.

    The import runs in a savepoint, so a failed or different import leaves
    nothing behind for ``build_demo`` to collide with.
    """
    if DEMO_FILE.exists() and "import_timeline" in get_commands():
        try:
            with transaction.atomic():
                call_command("import_timeline", str(DEMO_FILE), verbosity=0)
                if not _has_demo_facts():
                    raise _NotTheDemoFacts("the imported data lacks the Kalbajar handover facts")
            return
        except Exception as exc:  # any failure of another area's importer: fall back, loudly
            warnings.warn(f"Building the demo facts with factories: importing {DEMO_FILE.name} failed: {exc}", stacklevel=2)
    build_demo()


def _has_demo_facts() -> bool:
    handover = Handover.objects.published().filter(district__slug="kalbajar").first()
    return bool(
        handover
        and handover.completed_on == NOV(25)
        and handover.original_due_on == NOV(15)
        and District.objects.published().filter(aliases__name="Кельбаджар").exists()
    )


def build_demo() -> None:
    conflict = factories.ConflictFactory(name="Nagorno-Karabakh conflict", slug="nagorno-karabakh")
    azerbaijan = factories.PartyFactory(name="Azerbaijan", slug="azerbaijan", short_name="Baku", colour="#1f6f8b")
    armenia = factories.PartyFactory(name="Armenia", slug="armenia", short_name="Yerevan", colour="#b5523b")
    russia = factories.PartyFactory(name="Russia", slug="russia", short_name="Moscow", colour="#6b5b95")

    def district(name, slug, lat, lon, aliases):
        d = factories.DistrictFactory(conflict=conflict, name=name, slug=slug, latitude=lat, longitude=lon)
        for alias, language in aliases:
            factories.DistrictAliasFactory(district=d, name=alias, language=language)
        return d

    kalbajar = district(
        "Kalbajar", "kalbajar", 40.1052, 46.0386,
        [("Kəlbəcər", "az"), ("Karvachar", "hy-Latn"), ("Քարվաճառ", "hy"), ("Кельбаджар", "ru")],
    )
    aghdam = district("Aghdam", "aghdam", 39.9911, 46.9297, [("Ağdam", "az"), ("Ակնա", "hy"), ("Агдам", "ru")])
    lachin = district("Lachin", "lachin", 39.6383, 46.5461, [("Laçın", "az"), ("Բերձոր", "hy"), ("Лачин", "ru")])

    statement = factories.SourceFactory(
        title="Statement by the leaders of Azerbaijan, Armenia and Russia",
        slug="trilateral-statement-text",
        kind="official_text",
        publisher="President of Russia",
        published_on=NOV(10),
        url="http://en.kremlin.ru/events/president/news/64384",
    )
    report = factories.SourceFactory(
        title="Armenia hands over Kalbajar after delay", slug="kalbajar-report", publisher="Example Wire"
    )
    agreement = factories.AgreementFactory(
        conflict=conflict,
        title="Trilateral statement of 9 November 2020",
        short_title="Trilateral statement",
        slug="trilateral-statement-2020",
        signed_on=NOV(9),
        signed_at_place="Moscow",
        effective_at=dt.datetime(2020, 11, 9, 21, 0, tzinfo=dt.UTC),
        effective_timezone="Europe/Moscow",
        summary="A complete ceasefire and the return of districts on fixed dates.",
    )
    factories.SignatoryFactory(agreement=agreement, party=azerbaijan, person_name="Ilham Aliyev",
                               role="President of the Republic of Azerbaijan", order=1)
    factories.SignatoryFactory(agreement=agreement, party=armenia, person_name="Nikol Pashinyan",
                               role="Prime Minister of the Republic of Armenia", order=2)
    factories.SignatoryFactory(agreement=agreement, party=russia, person_name="Vladimir Putin",
                               role="President of the Russian Federation", order=3)
    factories.CitationFactory(source=statement, event=None, agreement=agreement, locator="preamble",
                              passage="We ... declare the following.")
    point1 = factories.ProvisionFactory(agreement=agreement, number=1, summary="A complete ceasefire from 00:00 Moscow time on 10 November 2020.")
    point6 = factories.ProvisionFactory(agreement=agreement, number=6, summary="Kalbajar is returned by 15 November 2020 and Lachin by 1 December 2020.")
    factories.ProvisionFactory(agreement=agreement, number=2, summary="Aghdam is returned by 20 November 2020.")
    agreement.discrepancies.create(
        aspect="the date signed",
        description="News reports date the statement 9 November (Moscow evening); the official texts date it 10 November.",
    ).sources.set([statement, report])

    def handover(district_, due, provision, from_party=armenia, to_party=azerbaijan):
        deadline = factories.DeadlineFactory(
            agreement=agreement, district=district_, provision=provision, obligated_party=from_party,
            obligation=f"Return of the {district_.name} district", original_due_on=due, due_on=due,
        )
        return factories.HandoverFactory(
            deadline=deadline, agreement=agreement, district=district_, from_party=from_party, to_party=to_party
        )

    h_kalbajar = handover(kalbajar, NOV(15), point6)
    h_aghdam = handover(aghdam, NOV(20), point1)
    h_lachin = handover(lachin, dt.date(2020, 12, 1), point6)
    services.derived_events_sync_agreement(agreement=agreement)
    for deadline in agreement.deadlines.all():
        services.derived_events_sync_deadline(deadline=deadline)
    services.deadline_postpone(
        deadline=h_kalbajar.deadline, to_date=NOV(25), decided_on=NOV(15), requested_by=armenia,
        agreed_by=[azerbaijan], reason="Civilians asked for time to leave.",
    )
    services.handover_complete(handover=h_kalbajar, completed_on=NOV(25))
    services.handover_complete(handover=h_aghdam, completed_on=NOV(20))
    services.handover_complete(handover=h_lachin, completed_on=dt.date(2020, 12, 1))

    movement = factories.EventFactory(
        conflict=conflict, slug="1988-02-karabakh-movement", title="Karabakh movement begins",
        summary="Mass rallies call for the transfer of the region.", kind=Event.Kind.POLITICAL,
        date=dt.date(1988, 2, 1), date_precision=Precision.MONTH, parties=[armenia, azerbaijan],
    )
    factories.CitationFactory(source=report, event=movement, locator="background")
    factories.EventFactory(
        conflict=conflict, slug="1992-first-war", title="First war over the region",
        summary="Full-scale war; most districts around the region change hands.", kind=Event.Kind.MILITARY,
        date=dt.date(1992, 1, 1), date_precision=Precision.YEAR, end_date=dt.date(1994, 1, 1),
        end_date_precision=Precision.YEAR, districts=[kalbajar, aghdam, lachin], parties=[armenia, azerbaijan],
    )
    capture = factories.EventFactory(
        conflict=conflict, slug="1993-04-kalbajar-taken", title="Kalbajar taken",
        summary="Armenian forces take the Kalbajar district.", kind=Event.Kind.MILITARY,
        date=dt.date(1993, 4, 3), districts=[kalbajar], parties=[armenia, azerbaijan],
    )
    factories.ControlChangeFactory(event=capture, district=kalbajar, controlled_by=armenia)
    factories.EventFactory(
        conflict=conflict, slug="2020-11-20-shelling-claim", title="Shelling reported near the line of contact",
        summary="A ministry statement says positions were shelled overnight.", kind=Event.Kind.STATEMENT,
        date=NOV(20), claimed_by=azerbaijan, parties=[azerbaijan],
    )
