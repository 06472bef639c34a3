"""The public site in a real browser, at phone and desktop widths."""

import datetime as dt

import pytest

from timeline.models import Agreement, District, Event
from timeline.tests.browser.conftest import axe_violations, screenshot
from timeline.tests.site_demo import load_demo

pytestmark = pytest.mark.browser


def _path(name: str) -> str:
    """A page of the demo data, found in the database so that the tests hold for the
    data file as well as for the facts built when it is missing."""
    published = Event.objects.published()
    if name == "event":
        return published.filter(claimed_by=None, citations__isnull=False).first().get_absolute_url()
    if name == "claim":
        return published.filter(claimed_by__isnull=False).first().get_absolute_url()
    if name == "agreement":
        return Agreement.objects.published().filter(deadlines__isnull=False).first().get_absolute_url()
    return {
        "timeline": "/",
        "districts": "/districts/",
        "district": "/districts/kalbajar/",
        "agreements": "/agreements/",
        "handovers": "/handovers/",
        "filtered-bad": "/?from=yesterday&district=atlantis",
        "not-found": "/no-such-page/",
    }[name]


PAGES = ["timeline", "event", "claim", "districts", "district", "agreements", "agreement", "handovers",
         "filtered-bad", "not-found"]


@pytest.fixture
def demo(transactional_db):
    load_demo()


@pytest.mark.parametrize("name", PAGES)
def test_each_page_loads_without_errors_or_serious_accessibility_violations(open_page, demo, viewport, name):
    path = _path(name)
    page, problems = open_page(viewport)
    response = page.goto(path)
    assert response.status in (200, 400, 404)
    page.wait_for_load_state("networkidle")
    assert page.locator("main h1").count() == 1
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{path} scrolls sideways at {viewport['width']}px ({width}px wide)"
    screenshot(page, f"{name}-{viewport['width']}")
    assert axe_violations(page) == []
    # A 4xx main document is reported on the console by Chromium; anything else is a bug.
    assert [e for e in problems.errors if "status of 400" not in e and "status of 404" not in e] == []


def test_a_reader_filters_by_an_alias_and_opens_an_entry(open_page, demo):
    page, problems = open_page({"width": 360, "height": 740})
    page.goto("/")
    page.get_by_label("Search").fill("Кельбаджар")
    page.get_by_role("button", name="Show entries").click()
    page.wait_for_url("**/?q=*")
    assert "match these filters" in page.locator("#result-count").inner_text()
    entries = page.locator("main article.entry")
    assert entries.count() >= 2
    for n in range(entries.count()):  # each found through a name of Kalbajar
        text = entries.nth(n).inner_text()
        assert "Kalbajar" in text
    first = entries.first.locator(".entry__title a")
    title, date = first.inner_text(), entries.first.locator("time").inner_text()
    first.click()
    page.wait_for_url("**/events/**")
    assert page.locator("h1").inner_text() == title
    assert page.locator("main time").first.inner_text() == date
    screenshot(page, "entry-opened-360")
    assert problems.errors == []


def test_the_visual_timeline_zooms_with_the_mouse_wheel(open_page, demo):
    page, problems = open_page({"width": 1280, "height": 900})
    page.goto("/")
    canvas = page.locator("#visual-timeline")
    canvas.and_(page.locator("[data-ready=true]")).wait_for()
    assert page.locator("#visual-timeline .vis-item").count() > 0
    assert page.locator("#visual-timeline .vis-item.vis-range").count() >= 1  # the 1992–1994 war

    def window():
        start = dt.datetime.fromisoformat(canvas.get_attribute("data-window-start").replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(canvas.get_attribute("data-window-end").replace("Z", "+00:00"))
        return end - start

    before = window()
    canvas.scroll_into_view_if_needed()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    box = canvas.bounding_box()
    assert page.locator("#visual-timeline .vis-loading-screen").count() == 0
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 100))
    for _ in range(5):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(80)
    for _ in range(25):  # vis reports the new window once the wheel stops
        if window() < before * 0.9:
            break
        page.wait_for_timeout(200)
    assert window() < before * 0.9
    screenshot(page, "visual-zoomed-1280")
    assert problems.errors == []


def test_an_entry_of_the_visual_timeline_links_to_its_page(open_page, demo):
    page, problems = open_page({"width": 1280, "height": 900})
    expected = Event.objects.published().filter(districts__slug="lachin").order_by("-date").first()
    page.goto("/?district=lachin")
    page.locator("#visual-timeline[data-ready=true]").wait_for()
    link = page.locator(f"#visual-timeline a.visual__link[href='{expected.get_absolute_url()}']")
    link.click()
    page.wait_for_url(f"**{expected.get_absolute_url()}")
    assert page.locator("h1").inner_text() == expected.title
    assert problems.errors == []


def test_when_the_visual_data_cannot_be_fetched_the_page_says_so_and_keeps_its_list(open_page, demo):
    page, problems = open_page({"width": 1280, "height": 900})
    page.route("**/timeline.json*", lambda route: route.fulfill(status=503, body="unavailable"))
    page.goto("/")
    page.locator("p.visual__failed").wait_for()
    assert page.locator("p.visual__failed").inner_text() == (
        "The visual timeline could not be loaded. Every entry is in the list below."
    )
    assert page.locator("#visual-timeline").count() == 0
    assert page.locator("main article.entry").count() == Event.objects.published().count()
    # The browser reports the failed request itself; the script adds no error of its own.
    assert [e for e in problems.errors if "503" not in e] == []


def test_the_district_map_is_an_svg_with_labelled_links(open_page, demo):
    page, problems = open_page({"width": 360, "height": 740})
    page.goto("/districts/")
    svg = page.locator("svg.map__svg")
    assert svg.is_visible()
    labels = svg.locator("text.map__label").all_text_contents()
    mapped = District.objects.published().filter(latitude__isnull=False).values_list("name", flat=True)
    assert sorted(labels) == sorted(mapped)
    svg.locator("a.map__point", has_text="Kalbajar").click()
    page.wait_for_url("**/districts/kalbajar/")
    assert page.locator("[lang=ru]", has_text="Кельбаджар").count() == 1
    assert problems.errors == []


def test_the_timeline_works_without_javascript(browser, live_server, demo):
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto("/?q=Karvachar")
        titles = page.locator("main article.entry .entry__title a")
        assert titles.count() >= 2
        assert titles.first.is_visible()
        assert not page.locator("#visual-timeline").is_visible()
        screenshot(page, "timeline-no-js-360")
    finally:
        context.close()
