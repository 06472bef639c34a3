"""The timeline page's helpers written in Python say what the templates and filters they replace said."""

import datetime as dt

import pytest
from django.template import Context, Template

from timeline import selectors
from timeline.models import PublicationStatus
from timeline.templatetags.timeline_tags import timeline_entry
from timeline.tests import factories

pytestmark = pytest.mark.django_db

# templates/timeline/_event.html as it was before the entry moved to Python: the reference. Since then
# an entry names a claiming party only when it is published, and a "Sources:" list only of published
# sources (the context gives both).
ENTRY_TEMPLATE = """{% comment %}One timeline entry. With: event, level (heading level of its title).{% endcomment %}
<article class="entry{% if event.is_claim %} entry--claim{% endif %}" id="event-{{ event.slug }}" aria-labelledby="title-{{ event.slug }}">
  <p class="entry__meta">
    <time datetime="{{ event.date_iso }}">{{ event.date_display }}</time>
    <span class="entry__kind">{{ event.get_kind_display }}</span>
  </p>
  {% if event.is_claim %}<p class="claim-label">Claim by {{ claimant }}</p>{% endif %}
  <h{{ level|default:3 }} class="entry__title" id="title-{{ event.slug }}"><a href="{{ event.get_absolute_url }}">{{ event.title }}</a></h{{ level|default:3 }}>
  <p class="entry__summary">{{ event.summary }}</p>
  {% with districts=event.districts.all parties=event.parties.all %}
  {% if districts or parties %}
  <dl class="entry__tags">
    {% if districts %}<div><dt>Districts</dt><dd>{% for d in districts %}<a href="{{ d.get_absolute_url }}">{{ d.name }}</a>{% if not forloop.last %}, {% endif %}{% endfor %}</dd></div>{% endif %}
    {% if parties %}<div><dt>Parties</dt><dd>{% for p in parties %}<a href="{{ p.get_absolute_url }}">{{ p.name }}</a>{% if not forloop.last %}, {% endif %}{% endfor %}</dd></div>{% endif %}
  </dl>
  {% endif %}
  {% endwith %}
  {% with citations=citations %}
  {% if citations %}
  <div class="entry__sources">
    <span class="entry__sources-label">Sources:</span>
    <ul class="inline-list">
      {% for c in citations %}
      <li><cite>{% if c.source.url %}<a href="{{ c.source.url }}" rel="noopener">{{ c.source.title }}</a>{% else %}{{ c.source.title }}{% endif %}</cite>{% if c.source.publisher %} ({{ c.source.publisher }}){% endif %}{% if c.locator %}, {{ c.locator }}{% endif %}</li>
      {% endfor %}
    </ul>
  </div>
  {% endif %}
  {% endwith %}
</article>
"""


@pytest.fixture
def entries():
    """Events with and without districts, parties, claims and sources of every shape."""
    district = factories.DistrictFactory(name="Kəlbəcər <&> \"Karvachar\"", slug="kelbecer")
    party = factories.PartyFactory(name="O'Brien & Sons")
    bare = factories.EventFactory(title="Nothing else", summary="Only a title.", date=dt.date(1992, 1, 1),
                                  date_precision="year", end_date=dt.date(1994, 1, 1), end_date_precision="year")
    claim = factories.EventFactory(title="<b>Shelling</b> reported", claimed_by=party, districts=[district],
                                   parties=[party, factories.PartyFactory(name="Other")], kind="statement")
    factories.CitationFactory(event=claim, locator="p. 3", source__url="https://example.org/?a=1&b=2")
    factories.CitationFactory(event=claim, locator="", source__publisher="", source__url="")
    factories.CitationFactory(event=claim, source__publication_status=PublicationStatus.DRAFT)
    only_parties = factories.EventFactory(parties=[party], date=dt.date(2020, 11, 1), date_precision="month")
    unpublished_only = factories.EventFactory(districts=[district])
    factories.CitationFactory(event=unpublished_only, source__publication_status=PublicationStatus.DRAFT)
    draft_claimant = factories.EventFactory(
        claimed_by=factories.PartyFactory(name="Secret Front", publication_status=PublicationStatus.DRAFT),
        title="Claimed by a draft party",
    )
    return [bare, claim, only_parties, unpublished_only, draft_claimant]


def _entries(events) -> list:
    return selectors.timeline_entries(selectors.entry_rows(selectors.event_entries().filter(pk__in=[e.pk for e in events])))


@pytest.mark.parametrize("level", [3, 4])
def test_the_entry_is_what_its_template_wrote(entries, level):
    template = Template(ENTRY_TEMPLATE)
    written = {entry.pk: timeline_entry(entry, level) for entry in _entries(entries)}
    assert len(written) == len(entries)
    for event in selectors.event_list().filter(pk__in=[e.pk for e in entries]):
        citations = [c for c in event.citations.all() if c.source.is_published]
        context = {"event": event, "level": level, "citations": citations, "claimant": event.claimant_name}
        assert written[event.pk] == template.render(Context(context))


def test_an_entry_marks_a_claim_by_an_unpublished_party_without_naming_it(entries):
    written = {entry.title: str(timeline_entry(entry, 3)) for entry in _entries(entries)}
    assert "Secret Front" not in written["Claimed by a draft party"]
    assert '<p class="claim-label">Claim by a party not yet published</p>' in written["Claimed by a draft party"]
    assert "Claim by O&#x27;Brien &amp; Sons" in written["<b>Shelling</b> reported"]


def test_an_entry_lists_no_sources_when_none_of_them_is_published(entries):
    written = {entry.pk: str(timeline_entry(entry, 3)) for entry in _entries(entries)}
    assert "entry__sources" not in written[entries[3].pk]
    assert written[entries[1].pk].count("<li><cite>") == 2


