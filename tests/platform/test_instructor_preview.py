"""An instructor on a participant's page sees a preview with their own controls,
and the server refuses what only participants may do."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from submissions.models import Submission
from workspace.models import HelpRequest

pytestmark = pytest.mark.django_db


def test_workshop_page_is_a_preview_for_the_instructor(instructor_client, workshop):
    """No "Not started" progress of the instructor's own; a banner says so."""
    page = instructor_client.get(workshop.get_absolute_url()).content.decode()
    assert "Instructor preview" in page
    assert "Not started" not in page and "My best score" not in page
    assert "Regrade" in page


def test_assignment_page_offers_the_instructor_no_submit_or_help(
    instructor_client, cnn
):
    page = instructor_client.get(cnn.get_absolute_url())
    html = page.content.decode()
    assert "Instructor preview" in html
    assert "Ask for help" not in html and "Upload and submit" not in html
    assert "submissions left today" not in html
    assert page.context["workspace"]["urls"]["submit"] == ""
    assert page.context["workspace"]["urls"]["check"]


def test_an_instructor_submission_is_refused_with_a_reason(instructor_client, cnn):
    """Through the form, the editor or the help queue: refused, nothing stored."""
    upload = SimpleUploadedFile("train.py", b"print('hi')\n")
    form = instructor_client.post(cnn.get_absolute_url(), {"file": upload})
    assert form.status_code == 400
    assert "submissions are for participants" in form.content.decode()
    args = [cnn.workshop.slug, cnn.slug]
    draft = instructor_client.post(
        reverse("draft-submit", args=args),
        json.dumps({"text": "print('hi')\n", "base": 0}),
        content_type="application/json",
    )
    assert draft.status_code == 400
    assert "submissions are for participants" in draft.json()["detail"]
    helped = instructor_client.post(
        reverse("help-request", args=args),
        json.dumps({"note": "x"}),
        content_type="application/json",
    )
    assert helped.status_code == 400
    assert "help queue is for participants" in helped.json()["detail"]
    assert not Submission.objects.exists() and not HelpRequest.objects.exists()


def test_participant_pages_are_unchanged(participant_client, workshop, cnn):
    page = participant_client.get(workshop.get_absolute_url()).content.decode()
    assert "Instructor preview" not in page and "Not started" in page
    html = participant_client.get(cnn.get_absolute_url()).content.decode()
    assert "Ask for help" in html and "Upload and submit" in html
