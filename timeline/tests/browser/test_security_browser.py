"""The Content-Security-Policy and hostile data in the real browser (Chromium).

Chromium reports every blocked script, style or load as a ``securitypolicyviolation``
event; these tests listen for them from before the first byte of each page, and count
every JavaScript dialog a stored payload could open.
"""

import pytest
from django.urls import reverse

from timeline.models import Agreement, District, Event, Party
from timeline.tests import factories
from timeline.tests.browser.conftest import DESKTOP, screenshot
from timeline.tests.site_demo import load_demo
from timeline.tests.test_xss_outputs import hostile_dataset

pytestmark = pytest.mark.browser

PASSWORD = "A-long-enough-passphrase-1"
LISTEN = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("() => window.__cspViolations")


def open_listening(open_page):
    page, problems = open_page(DESKTOP)
    page.add_init_script(LISTEN)
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page, problems, dialogs


def visit(page, path):
    response = page.goto(path)
    page.wait_for_load_state("networkidle")
    return response


def sign_in(page, username="desk"):
    visit(page, reverse("admin:login"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.fixture
def demo(transactional_db):
    load_demo()
    factories.UserFactory(username="desk", is_staff=True, is_superuser=True, password=PASSWORD)


def test_the_public_pages_run_under_the_policy_without_a_single_violation(open_page, demo):
    page, problems, _ = open_listening(open_page)
    paths = ["/", "/districts/", "/agreements/", "/handovers/", "/districts/kalbajar/",
             Event.objects.published().first().get_absolute_url(),
             Agreement.objects.published().first().get_absolute_url()]

    for path in paths:
        visit(page, path)
        assert violations(page) == [], path

    visit(page, "/")
    assert page.locator(".vis-timeline").count() == 1  # vis-timeline drew itself under the policy
    assert problems.errors == []


def test_the_admin_works_under_the_strict_policy(open_page, demo):
    page, problems, _ = open_listening(open_page)
    sign_in(page)
    assert page.url.endswith(reverse("admin:index"))

    for name in ["admin:index", "admin:timeline_party_changelist", "admin:timeline_event_changelist"]:
        visit(page, reverse(name))
        assert violations(page) == [], name
    visit(page, reverse("admin:timeline_event_add"))

    # The admin's own scripts ran: the calendar shortcuts sit beside the date field.
    assert page.locator(".datetimeshortcuts").count() >= 1
    assert violations(page) == []
    visit(page, reverse("admin:timeline_party_changelist"))
    assert page.locator("svg rect[fill^='#']").count() >= 1  # party colours, drawn without inline style
    screenshot(page, "admin-parties-under-csp")
    assert [e for e in problems.errors if "favicon" not in e and "status of 404" not in e] == []


def test_the_swagger_docs_work_under_their_relaxed_policy(open_page, demo):
    page, _, _ = open_listening(open_page)

    visit(page, "/api/v1/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)

    assert page.locator(".opblock").count() >= 20
    assert violations(page) == []
    screenshot(page, "api-docs-under-csp")


def test_redoc_works_and_only_its_outside_fonts_and_logo_are_refused(open_page, demo):
    page, _, _ = open_listening(open_page)

    visit(page, "/api/v1/redoc/")
    page.wait_for_selector("[role=menuitem], .menu-content li", timeout=20_000)

    assert page.get_by_text("Conflict Timeline API").first.is_visible()
    # The drf-spectacular template links Google Fonts, and Redoc a CDN logo: the policy keeps them off.
    outside = [v for v in violations(page) if "https://" not in v]
    assert outside == []
    screenshot(page, "api-redoc-under-csp")


@pytest.fixture
def hostile(transactional_db, tmp_path):
    from django.core.management import call_command

    hostile_dataset(tmp_path / "hostile.json")
    call_command("import_timeline", str(tmp_path / "hostile.json"), verbosity=0)
    factories.UserFactory(username="desk", is_staff=True, is_superuser=True, password=PASSWORD)


def test_stored_payloads_open_no_dialog_on_any_public_page(open_page, hostile):
    page, _, dialogs = open_listening(open_page)
    paths = ["/", "/districts/", "/agreements/", "/handovers/", "/?q=%3Cscript%3Ealert(1)%3C/script%3E"]
    paths += [e.get_absolute_url() for e in Event.objects.published()]
    paths += [d.get_absolute_url() for d in District.objects.published()]
    paths += [a.get_absolute_url() for a in Agreement.objects.published()]

    for path in paths:
        visit(page, path)
        assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"], svg[onload]').length") == 0, path

    assert len(paths) > 20
    assert dialogs == []
    visit(page, "/")
    assert page.get_by_text("<script>alert(1)</script>").count() >= 1  # shown as words
    screenshot(page, "hostile-data-timeline")


def test_stored_payloads_open_no_dialog_in_the_admin(open_page, hostile):
    page, _, dialogs = open_listening(open_page)
    sign_in(page)

    for model in (Event, District, Agreement, Party):
        name = model._meta.model_name
        visit(page, reverse(f"admin:timeline_{name}_changelist"))
        for obj in model.objects.all()[:2]:
            visit(page, reverse(f"admin:timeline_{name}_change", args=[obj.pk]))
            visit(page, reverse(f"admin:timeline_{name}_history", args=[obj.pk]))

    assert dialogs == []
    visit(page, reverse("admin:timeline_event_changelist"))
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"], svg[onload]').length") == 0
    assert violations(page) == []
