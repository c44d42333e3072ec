"""The instructor's progress matrix in a real browser: what each cell says."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from playwright.sync_api import expect

from accounts.services import user_ensure
from grader import CheckResult, GradeReport
from submissions.models import Status, Submission
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from submissions.services.moves import submission_move
from workshops.services import enrollment_add

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "Your code stopped with an error: NameError: name 'modle' is not defined."


def _submit(user, assignment) -> Submission:
    return submission_create(
        participant=user,
        assignment=assignment,
        upload=SimpleUploadedFile("train.py", b"print('training')\n"),
    )


def _graded(user, assignment, score: float) -> None:
    submission = _submit(user, assignment)
    with transaction.atomic():
        submission.move_to(Status.QUEUED)
        submission_move(submission=submission, status=Status.EVALUATING)
        check = CheckResult(id="layers.Conv2D", passed=True, message="Two Conv2D.")
        report = GradeReport(
            status="graded", score=score, public_accuracy=score / 100, checks=(check,)
        )
        grade_record(submission=submission, run=None, report=report)


def _failed(user, assignment, reason: str) -> None:
    submission_move(
        submission=_submit(user, assignment), status=Status.FAILED, reason=reason
    )


def test_matrix_cells_show_best_attempts_and_why_a_cell_failed(
    live_server, workshop, instructor, browser, shoot, monkeypatch
):
    """An instructor sees each cell's best score and attempts; a failed cell's
    last reason is its hover text and what a screen reader reads; a class above
    the show-all size is paged."""
    from dashboard import standings

    cnn = workshop.assignments.get(slug="cnn")
    mlp = workshop.assignments.get(slug="mlp")
    people = []
    for name in ("ada", "bo", "cy"):
        user = user_ensure(username=name, password=f"{name}-pass-123")
        enrollment_add(workshop=workshop, user=user)
        people.append(user)
    ada, bo, cy = people
    _graded(ada, cnn, 81.0)
    _graded(ada, cnn, 64.0)
    _graded(ada, mlp, 92.5)
    _failed(bo, cnn, "Your code stopped with an error: boom.")
    _failed(bo, cnn, REASON)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(instructor.username)
    page.locator("#id_password").fill("ines-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/w/{workshop.slug}/dashboard/")

    passed = page.get_by_role("cell", name="Passed · 2 attempts · best 81.0")
    expect(passed).to_be_visible()
    expect(passed.locator("[aria-hidden=true]")).to_have_text("81.0 2×")
    failed = page.get_by_role("cell", name=f"Failed · 2 attempts · last: {REASON}")
    expect(failed).to_be_visible()
    expect(failed).to_have_attribute("title", f"Failed · 2 attempts · last: {REASON}")
    expect(failed.locator("[aria-hidden=true]")).to_have_text("✗ 2×")
    expect(failed).to_have_css("background-color", "rgb(254, 226, 226)")
    # Three people by three assignments, three cells started.
    not_started = page.get_by_role("cell", name="Not started · 0 attempts")
    expect(not_started).to_have_count(3 * workshop.assignments.count() - 3)
    expect(page.get_by_role("row", name="cy")).to_be_visible()
    failed.hover()
    shoot(page, "progress-cells")

    # Above the show-all size: one page at a time, filters still reach everyone.
    monkeypatch.setattr(standings, "MATRIX_SHOW_ALL", 2)
    monkeypatch.setattr(standings, "MATRIX_PAGE", 2)
    page.goto(f"{live_server.url}/w/{workshop.slug}/dashboard/")
    pager = page.get_by_role("navigation", name="Matrix pages")
    expect(pager).to_contain_text("Participants 1–2 of 3 · page 1 of 2")
    expect(page.get_by_role("rowheader", name="cy")).to_have_count(0)
    pager.get_by_role("link", name="Next").click()
    expect(page.get_by_role("rowheader", name="cy")).to_be_visible()
    expect(page.get_by_role("rowheader", name="ada")).to_have_count(0)
    shoot(page, "progress-cells-page-2")
    page.goto(f"{live_server.url}/w/{workshop.slug}/dashboard/?status=failed")
    expect(page.get_by_role("rowheader", name="bo")).to_be_visible()
    expect(page.get_by_role("rowheader")).to_have_count(1)
    context.close()
