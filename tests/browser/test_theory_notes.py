"""In a real browser: the agenda, the theory notes, and what the model sees."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from playwright.sync_api import expect

from grader import GradeReport
from submissions.models import Status
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from tests.platform.test_model_sees import cnn_report  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _graded_cnn(participant, workshop, report: dict):
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="cnn"),
        upload=SimpleUploadedFile("cnn.py", b"print(1)\n"),
    )
    with transaction.atomic():
        submission.move_to(Status.QUEUED)
        submission.move_to(Status.EVALUATING)
        submission.save()
        grade_record(
            submission=submission,
            run=None,
            report=GradeReport.from_dict(json.loads(json.dumps(report))),
        )
    return submission


def test_participant_walks_agenda_notes_and_what_the_model_sees(
    live_server,
    workshop,
    participant,
    browser,
    shoot,
    cnn_report,  # noqa: F811
):
    """Agenda -> each theory note with its figures -> the next assignment; then
    the first convolution's maps for a public image the participant picks."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(participant.username)
    page.locator("#id_password").fill("ada-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}{workshop.get_absolute_url()}")
    agenda = page.locator("ol.agenda li")
    expect(agenda.first).to_contain_text("Assignment 0: hello Keras and the data")
    shoot(page, "40-agenda-with-notes")

    page.get_by_role("link", name="Neurons, layers and gradient descent").click()
    expect(page.locator("h1")).to_have_text("Neurons, layers and gradient descent")
    expect(page.locator("#figure-activations svg")).to_contain_text("ReLU")
    expect(page.locator("#figure-loss-curve svg")).to_contain_text("val_loss")
    expect(page.locator("#figure-learning-rates svg")).to_contain_text("lr 5.0")
    shoot(page, "41-notes-neurons")

    page.go_back()
    page.get_by_role("link", name="Convolutions, pooling and dropout").click()
    expect(page.locator("#figure-conv-filters img")).to_have_count(16)
    expect(page.locator("#figure-feature-maps .map-row")).to_have_count(10)
    shoot(page, "42-notes-convolutions")

    page.go_back()
    page.get_by_role("link", name="Pretrained networks and transfer learning").click()
    expect(page.locator("#figure-pca-features svg")).to_contain_text("base features")
    shoot(page, "43-notes-transfer")

    page.goto(f"{live_server.url}/w/{workshop.slug}/a/cnn/")
    page.get_by_role("link", name="Convolutions, pooling and dropout").click()
    expect(page.locator("h1")).to_have_text("Convolutions, pooling and dropout")

    submission = _graded_cnn(participant, workshop, cnn_report)
    page.goto(f"{live_server.url}/s/{submission.pk}/")
    sees = page.locator("#model-sees")
    expect(sees).to_contain_text("What your model sees")
    expect(page.locator("#sees-filters img")).to_have_count(6)
    page.locator("#model-sees .picker a").nth(7).click()
    expect(sees).to_contain_text("(Sneaker)")
    expect(page.locator("#sees-maps img")).to_have_count(7)
    sees.scroll_into_view_if_needed()
    shoot(page, "44-what-your-model-sees")
    # Any public image by its number: 3 is the grader's pick for class 1.
    page.locator("#sees-index").fill("3")
    page.get_by_role("button", name="Show").click()
    expect(sees).to_contain_text("Feature maps of public test image 3 (Trouser)")
    expect(page.locator("#sees-maps img")).to_have_count(7)

    response = page.goto(f"{live_server.url}/s/{submission.pk}/?split=private&image=3")
    assert response.status == 400
    expect(page.locator("#sees-error")).to_contain_text("Only public test images")
    page.locator("#model-sees").scroll_into_view_if_needed()
    shoot(page, "45-private-image-refused")
