"""Try your model never waits inside a web request.

A POST answers at once with an id (the image goes to the predict queue); the
page polls for the answer. Waiting images are capped per participant and in
all, so a cold, crashed or busy predictor holds no web worker.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from tests.model_builders import graded_with_model

pytestmark = pytest.mark.django_db

PIXELS = base64.b64encode(bytes(28 * 28)).decode()


@pytest.fixture
def graded(participant, workshop):
    return graded_with_model(participant, workshop.assignments.get(slug="mlp"))


def _post(client: Client, submission):
    return client.post(
        f"/s/{submission.pk}/predict/",
        json.dumps({"pixels": PIXELS}),
        content_type="application/json",
    )


def test_a_prediction_answers_at_once_with_an_id_and_is_polled(
    graded,
    participant,
    other_participant,
    outbox,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    """With no predictor running at all, the POST answers 202 with an id; the
    poll says "pending"; the image went to the predict queue; nobody else can
    read the answer."""
    settings.DOJO_PREDICT_TIMEOUT_SECONDS = 5
    client = Client()
    client.force_login(participant)
    with django_capture_on_commit_callbacks(execute=True):
        posted = _post(client, graded)
    assert posted.status_code == 202, posted.content
    ticket = posted.json()
    assert ticket["status"] == "pending" and ticket["id"]
    assert [m["queue"] for m in outbox] == ["predict"]
    assert client.get(ticket["poll"]).json() == {"status": "pending"}
    other = Client()
    other.force_login(other_participant)
    assert other.get(ticket["poll"]).status_code == 404
    assert client.get(f"/s/{graded.pk}/predict/?id=nope").status_code == 404


def test_waiting_predictions_are_capped_per_participant_and_in_all(
    graded, participant, workshop, outbox, settings
) -> None:
    """Past the participant's cap of waiting images: 429; past the room's: 503."""
    from tests.model_builders import graded_with_model

    settings.DOJO_PREDICT_WAITING_PER_USER = 2
    settings.DOJO_PREDICT_WAITING_TOTAL = 3
    client = Client()
    client.force_login(participant)
    codes = [_post(client, graded).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    assert "still being answered" in _post(client, graded).json()["error"]
    from accounts.services import user_ensure
    from workshops.services import enrollment_add

    others = []
    for name in ("bo", "cy"):
        user = user_ensure(username=name, password=f"{name}-pass-123")
        enrollment_add(workshop=workshop, user=user, role="participant")
        mine = graded_with_model(user, workshop.assignments.get(slug="mlp"))
        them = Client()
        them.force_login(user)
        others.append(_post(them, mine).status_code)
    assert others == [202, 503]


def test_a_request_memory_budget_past_half_the_predictor_stops_the_start(
    settings,
) -> None:
    """DOJO_PREDICT_REQUEST_MEMORY_MB must leave the predictor room of its own:
    a budget past half of DOJO_PREDICT_MEMORY_MB stops the process at start."""
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    from jobs.placement import predictor_memory_from_settings

    assert predictor_memory_from_settings() == {
        "memory_bytes": settings.DOJO_PREDICT_MEMORY_MB * 2**20,
        "request_memory_bytes": settings.DOJO_PREDICT_REQUEST_MEMORY_MB * 2**20,
    }
    settings.DOJO_PREDICT_REQUEST_MEMORY_MB = settings.DOJO_PREDICT_MEMORY_MB
    with pytest.raises(ImproperlyConfigured, match="at most half"):
        apps.get_app_config("submissions").ready()


def test_a_load_budget_past_half_the_answer_window_stops_the_start(settings) -> None:
    """DOJO_PREDICT_LOAD_SECONDS must fit twice in DOJO_PREDICT_TIMEOUT_SECONDS
    (a request may wait behind another model's load, then pay for its own)."""
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    from jobs.placement import predictor_load_from_settings

    assert predictor_load_from_settings() == settings.DOJO_PREDICT_LOAD_SECONDS
    settings.DOJO_PREDICT_LOAD_SECONDS = settings.DOJO_PREDICT_TIMEOUT_SECONDS
    with pytest.raises(ImproperlyConfigured, match="LOAD_SECONDS.*at most half"):
        apps.get_app_config("submissions").ready()
    settings.DOJO_PREDICT_LOAD_SECONDS = 0
    with pytest.raises(ImproperlyConfigured, match="positive"):
        apps.get_app_config("submissions").ready()
