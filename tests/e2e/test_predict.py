"""Try your model through the web endpoint, a real worker and its warm predictor."""

import base64
import json
import time

import numpy as np
import pytest
from django.test import Client

from tests.model_builders import graded_reference

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _post(client: Client, submission, pixels: object):
    return client.post(
        f"/s/{submission.pk}/predict/",
        json.dumps({"pixels": pixels}),
        content_type="application/json",
    )


def _answer(client: Client, submission, pixels: object):
    """POST the image (answered at once with an id), then poll for the answer."""
    posted = _post(client, submission, pixels)
    if posted.status_code != 202:
        return posted
    poll = posted.json()["poll"]
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        answer = client.get(poll)
        if answer.status_code != 200 or answer.json()["status"] != "pending":
            return answer
        time.sleep(0.1)
    raise AssertionError("no answer")


def test_try_your_model_answers_checks_input_and_is_rate_limited(
    celery_worker, participant, other_participant, workshop, settings
):
    """A drawn image gets the top 3 class names; bad input, another participant
    and a user past the per-minute limit are refused with a message."""
    # This worker's predictor starts on the first request (TensorFlow's import
    # on a busy machine); the page would say "try again in a few seconds".
    settings.DOJO_PREDICT_TIMEOUT_SECONDS = 150
    submission = graded_reference(participant, workshop)
    client = Client()
    client.force_login(participant)
    page = client.get(f"/s/{submission.pk}/")
    assert b'id="try-model"' in page.content and b'id="misclassified"' in page.content
    assert b"Ankle boot" in page.content
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 10:18] = 255  # a trouser-like bar
    pixels = base64.b64encode(image.tobytes()).decode()

    answer = _answer(client, submission, pixels)
    assert answer.status_code == 200, answer.content
    top = answer.json()["top"]
    assert len(top) == 3
    names = workshop.assignments.get(slug="mlp").spec["class_names"]
    assert all(guess["label"] in names for guess in top)
    probabilities = [guess["probability"] for guess in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-6

    short = _post(client, submission, base64.b64encode(b"\x00" * 100).decode())
    assert short.status_code == 400
    assert "28 x 28 x 1" in short.json()["error"]
    assert _post(client, submission, 12).status_code == 400

    other = Client()
    other.force_login(other_participant)
    assert _post(other, submission, pixels).status_code == 404

    settings.DOJO_PREDICT_PER_MINUTE = 2
    codes = [_post(client, submission, pixels).status_code for _ in range(3)]
    assert 429 in codes
    refused = _post(client, submission, pixels)
    assert refused.status_code == 429
    assert "a minute" in refused.json()["error"]
