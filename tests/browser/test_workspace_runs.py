"""The whole loop in the browser with a real worker: check from the editor, read
the live log and the result, submit from the editor, see the grade."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.axe import axe_violations
from tests.browser.test_workspace import login, open_editor
from workspace.models import DraftVersion

ROOT = Path(__file__).resolve().parents[2]
MLP_SOLUTION = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_text()
LONG = 240_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


def test_check_then_submit_from_the_editor(
    live_server, celery_worker, workshop, participant, instructor, browser, shoot
):
    mlp = workshop.assignments.get(slug="mlp")
    context, page = login(
        browser,
        live_server,
        participant,
        "ada-pass-123",
        viewport={"width": 1280, "height": 900},
    )
    content = open_editor(page, live_server, mlp)
    # The starter stops at its first TODO: a check says so.
    content.click()
    page.keyboard.press("Control+Enter")
    status = page.locator("[data-check-status]")
    expect(status).to_have_text("Check run failed.", timeout=LONG)
    expect(page.locator("[data-check-result]")).to_contain_text("indicative only")
    expect(page.locator("[data-check-log]")).to_contain_text("NotImplementedError")
    # Fill in the TODOs (the reference answers), check again with the button.
    page.evaluate(
        "(t) => document.querySelector('[data-workspace]').editor.setText(t)",
        MLP_SOLUTION,
    )
    page.get_by_role("button", name="Check").click()
    expect(status).to_contain_text("Check run: ", timeout=30_000)
    expect(page.locator("[data-check-log]")).to_contain_text("Epoch", timeout=LONG)
    expect(status).to_have_text("Check run passed.", timeout=LONG)
    result = page.locator("[data-check-result]")
    expect(result).to_contain_text("Indicative accuracy on a small public sample")
    expect(result).to_contain_text("✓")
    shoot(page, "workspace-check-passed")
    assert not (found := axe_violations(page)), found
    # The first check ran the starter, which is already the draft's first
    # version: only the second check's text is kept as a new version.
    assert DraftVersion.objects.filter(reason="check").count() == 1
    # Submit with Ctrl+Shift+Enter and a confirmation in the page.
    page.locator(".cm-content").click()
    page.keyboard.press("Control+Shift+Enter")
    page.get_by_role("dialog").get_by_role("button", name="Submit for grading").click()
    expect(page.get_by_role("heading", name="Submission #")).to_be_visible()
    expect(page.locator("#score")).to_be_visible(timeout=LONG)
    expect(page.locator("#status-badge")).to_have_text("Graded")
    version = DraftVersion.objects.get(reason="submit")
    assert version.submission is not None and version.text == MLP_SOLUTION
    link = page.locator("#draft-version-link")
    expect(link).to_have_text(f"version {version.number} of the draft")
    assert not (found := axe_violations(page)), found
    link.click()
    expect(page.locator("[data-preview] h3")).to_have_text(
        f"Version {version.number} (read only)"
    )
    context.close()
    # The instructor opens the workspace from the matrix: draft, last check.
    teacher_context, teacher = login(browser, live_server, instructor, "ines-pass-123")
    teacher.goto(f"{live_server.url}/w/{workshop.slug}/dashboard/")
    teacher.locator("table.matrix td.cell.passed a").click()
    expect(teacher.get_by_role("heading", name="Workspace of ada")).to_be_visible()
    expect(teacher.get_by_text("Status: passed")).to_be_visible()
    expect(teacher.locator("pre.log")).to_contain_text("Epoch")
    assert not (found := axe_violations(teacher)), found
    teacher_context.close()
