"""The date control of the map and the timeline, used with the keyboard alone at phone width."""

import pytest

from timeline.tests.browser.conftest import PHONE, axe_violations, screenshot
from timeline.tests.site_demo import load_demo

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    load_demo()


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until ``selector`` has the focus (keyboard only, no clicks)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never received the focus")


def test_a_reader_sets_the_map_to_19_november_with_the_keyboard(open_page, demo):
    page, problems = open_page(PHONE)
    page.goto("/districts/")
    tab_to(page, "input[name=as_of]")
    page.keyboard.type("11192020")  # Chromium's date field takes month, day, year in the en-US locale
    tab_to(page, "form.as-of button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/districts/?as_of=2020-11-19")
    assert "You are reading the record as it stood at the end of 19 November 2020" in page.locator("main").inner_text()
    assert "held by" in page.locator("svg.map__svg a.map__point", has_text="Agdam").locator("title").text_content()
    row = page.locator("table.data tr", has=page.locator("a", has_text="Agdam"))
    assert "Azerbaijan" not in row.inner_text()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    screenshot(page, "districts-as-of-360")
    assert axe_violations(page) == []
    assert problems.errors == []


def test_a_reader_sets_the_timeline_to_a_day_with_the_keyboard(open_page, demo):
    page, problems = open_page(PHONE)
    page.goto("/")
    tab_to(page, "input[name=as_of]")
    page.keyboard.type("11242020")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?*as_of=2020-11-24*")
    text = page.locator("main").inner_text()
    assert "The record as it stood at the end of 24 November 2020" in text
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    screenshot(page, "timeline-as-of-360")
    assert axe_violations(page) == []
    assert problems.errors == []
