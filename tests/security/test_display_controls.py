"""Control characters from a job never reach a page raw: reasons and logs show
visible stand-ins for ANSI escapes, bidi overrides, C1 controls and NUL."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from submissions.models import Run, Status
from tests.api.api_builders import submit, token_client

pytestmark = pytest.mark.django_db

RAW = ("\x1b", "\u202e", "\x00", "\x9b", "\x07", "\u2066")
HOSTILE = "loss \x1b[31mred\x1b[0m \u202eevil\u2066 nul\x00 csi\x9b bell\x07 end"


def test_reason_and_log_are_shown_neutralised_on_the_page_and_api(
    participant, workshop
) -> None:
    """Saved through the models (as every writer does), then read back on the
    submission page and the API, the text holds no raw control character."""
    submission = submit(participant, workshop.assignments.get(slug="mlp"))
    submission.move_to(Status.QUEUED)
    submission.move_to(Status.TRAINING)
    submission.move_to(Status.FAILED, reason=f"Your code stopped: {HOSTILE}")
    submission.save()
    Run.objects.create(
        submission=submission,
        kind=Run.Kind.TRAIN,
        job_token=submission.job_token,
        log=f"Epoch 1\n{HOSTILE}\n",
    )
    client = Client()
    client.force_login(participant)
    page = client.get(submission.get_absolute_url()).content.decode()
    api = token_client(participant).get(
        reverse("api:submission-detail", args=[submission.pk])
    )
    log = token_client(participant).get(
        reverse("api:submission-log", args=[submission.pk])
    )
    for text in (page, api.content.decode("utf-8"), log.content.decode("utf-8")):
        assert "red" in text or "evil" in text
    for text in (page, api.json()["reason"], str(log.json())):
        assert not [c for c in RAW if c in text], text
    assert "\u241b[31mred" in page and "U+202E&gt;evil" in page and "\u2400" in page
