"""axe-core on every page a participant or an instructor reaches: no serious or
critical WCAG A/AA violation (color contrast included)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from checks.models import CheckStatus
from checks.services import check_run_create
from submissions.services.reference import reference_submission_create
from submissions.services.regrade import regrade_batch_create
from tests.api.api_builders import graded
from tests.browser.axe import axe_violations
from tests.browser.test_workspace import login
from tests.platform.test_validation import play_reference_run
from workshops.packs import assignment_solution
from workspace.help_requests import help_request_create
from workspace.services import draft_save

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE = b"""import keras  # a comment
x = [1, 2.5, "text", None]
def build(n: int) -> keras.Model:
    return keras.Sequential([keras.layers.Dense(n)])
"""


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _visit(page, url: str, shoot=None, name: str = "") -> list[str]:
    """Open the page and list axe's findings; for a named main page, keep its
    screenshot at desktop and phone width and check it at both."""
    response = page.goto(url)
    assert response.status < 400, (url, response.status)
    page.wait_for_load_state("networkidle")
    found = [f"{url}: {v}" for v in axe_violations(page)]
    if name:
        shoot(page, f"{name}-desktop")
        page.set_viewport_size(PHONE)
        # The layout follows the width (the workspace switches to tabs).
        page.wait_for_function("() => window.innerWidth <= 390")
        found += [f"{url} (phone): {v}" for v in axe_violations(page)]
        shoot(page, f"{name}-phone")
        page.set_viewport_size(DESKTOP)
    return found


def test_no_serious_violations_on_any_page(
    live_server, workshop, participant, other_participant, instructor, browser, shoot
):
    """Also keeps each main page's screenshot at 1280 and 390 pixels wide under
    test-output/screenshots/ (workshop, workspace, submission, dashboard, hosts)."""
    mlp = workshop.assignments.get(slug="mlp")
    submission, _ = graded(participant, mlp, content=CODE, score=72.0)
    graded(other_participant, mlp, score=0.0, status="failed")
    draft_save(
        participant=participant,
        assignment=mlp,
        text="x = 1\n",
        base_revision=0,
        reason="check",
    )
    help_request_create(participant=participant, assignment=mlp, note="help")
    batch = regrade_batch_create(
        assignment=mlp, mode="reevaluate", created_by=instructor
    )
    # Validate's full grading of the reference, as the worker would record it.
    check = check_run_create(
        participant=instructor, assignment=mlp, source=assignment_solution(mlp)
    )
    check.move_to(CheckStatus.RUNNING)  # claimed, as a worker would
    check.finish(CheckStatus.PASSED)
    check.result = {
        "indicative_accuracy": 0.84,
        "checks": [{"id": "layers", "passed": True, "message": "Has 2 Dense layers."}],
    }
    check.save()
    play_reference_run(
        reference_submission_create(
            instructor=instructor, assignment=mlp, source=assignment_solution(mlp)
        )
    )
    ws, a = workshop.slug, mlp.slug
    base = live_server.url
    found: list[str] = []
    context, page = login(
        browser,
        live_server,
        participant,
        "ada-pass-123",
        viewport=DESKTOP,
    )
    for url, name in (
        (reverse("home"), ""),
        (reverse("workshop-detail", args=[ws]), "main-workshop"),
        (reverse("assignment-detail", args=[ws, a]), "main-workspace"),
        (reverse("submission-detail", args=[submission.pk]), "main-submission"),
        (reverse("submission-code", args=[submission.pk]), ""),
        (reverse("leaderboard", args=[ws, a]), ""),
        (reverse("assignment-changes", args=[ws, a]), ""),
        (reverse("password_change"), ""),
    ):
        found += _visit(page, base + url, shoot, name)
    context.close()
    # Instructors are staff (dojo_setup and createsuperuser make them so): the
    # site-wide sign-up page is theirs.
    instructor.is_staff = True
    instructor.save(update_fields=["is_staff"])
    context, page = login(
        browser,
        live_server,
        instructor,
        "ines-pass-123",
        viewport=DESKTOP,
    )
    for url, name in (
        (reverse("dashboard", args=[ws]), "main-dashboard"),
        (
            reverse("workspace-instructor", args=[ws, a, participant.pk]),
            "main-instructor-workspace",
        ),
        (reverse("assignment-stats", args=[ws, a]), ""),
        (reverse("workshop-manage", args=[ws]), ""),
        (reverse("hosts", args=[ws]), "main-hosts"),
        (reverse("signup-settings"), "main-signup-settings"),
        (reverse("assignment-settings", args=[ws, a]), ""),
        (reverse("assignment-data", args=[ws, a]), ""),
        (reverse("regrade-create", args=[ws, a]), ""),
        (reverse("regrade-detail", args=[batch.pk]), ""),
        (reverse("submission-detail", args=[submission.pk]), ""),
        (reverse("workshop-create"), ""),
        (reverse("workshop-import"), ""),
        (reverse("assignment-edit", args=[ws, a]), "main-author"),
        (reverse("assignment-create", args=[ws]), ""),
        (reverse("assignment-validate", args=[ws, a]), "main-validate"),
        (reverse("leaderboard", args=[ws, a]) + "?part=private", ""),
    ):
        found += _visit(page, base + url, shoot, name)
    context.close()
    anonymous = browser.new_context()
    page = anonymous.new_page()
    for url in (reverse("login"), reverse("signup")):
        found += _visit(page, base + url)
    anonymous.close()
    assert not found, "\n".join(found)
    context, page = login(browser, live_server, instructor, "ines-pass-123")
    _author_in_the_editor(page, base + reverse("assignment-edit", args=[ws, a]), mlp)
    context.close()


def _author_in_the_editor(page, url: str, assignment) -> None:
    """The author form's starter and reference are the participants' editor;
    what is typed there is what the form saves."""
    from workshops import folders

    page.goto(url)
    solution = page.locator('[data-code-editor-for="solution"] .cm-content')
    solution.wait_for()
    assert page.locator('[data-code-editor-for="starter"] .cm-content').count() == 1
    assert page.locator("textarea[name=solution]").is_hidden()
    solution.click()
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("\n# edited in the page\n")
    # A refused save first: the page opens with the fields to change, linked
    # to their messages, readable (axe), and the typed reference is kept.
    limit = page.get_by_label("Parameter limit")
    kept_limit = limit.input_value()
    limit.fill("0")
    page.get_by_role("button", name="Save").click()
    summary = page.locator("#form-errors")
    expect(summary).to_contain_text("Nothing was saved: 1 field to change.")
    assert summary.bounding_box()["y"] < page.viewport_size["height"]
    summary.get_by_role("link", name="Parameter limit").click()
    expect(page.locator("#id_max_params_error")).to_be_in_viewport()
    assert not (found := axe_violations(page)), found
    assert (
        page.locator("textarea[name=solution]")
        .input_value()
        .endswith("# edited in the page\n")
    )
    page.get_by_label("Parameter limit").fill(kept_limit)
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    saved = folders.assignment_reference_dir(assignment.pk) / "solution.py"
    assert saved.read_text().endswith("# edited in the page\n"), page.content()[:3000]
