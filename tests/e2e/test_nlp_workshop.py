"""The text pack end to end: a real worker trains a reference in the sandbox on
the pack's word ids (with GloVe beside them), grades it, answers a typed
sentence with three categories, and shows which of its words moved the answer."""

import json
import time

import pytest
from django.test import Client

from assignments.text import tokenise
from tests.model_builders import graded_reference
from workshops.services import enrollment_add, workshop_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_few_shot_reference_is_trained_graded_and_answers_a_sentence(
    celery_worker, participant, instructor, settings
):
    settings.DOJO_PREDICT_TIMEOUT_SECONDS = 150
    workshop = workshop_create(
        title="NLP", slug="nlp-e2e", pack="dl4nlp", created_by=instructor
    )
    enrollment_add(workshop=workshop, user=participant)
    submission = graded_reference(participant, workshop, "fewshot", pack="dl4nlp")
    grade = submission.current_grade
    assert grade.passed_checks, grade.report.get("checks")
    client = Client()
    client.force_login(participant)
    page = client.get(f"/s/{submission.pk}/").content.decode()
    assert 'id="try-text-form"' in page and 'id="misclassified-text"' in page
    sentence = "a tall tree with white flowers and <b>red</b> fruit"
    top = _ask(client, submission, {"text": sentence})["top"]
    names = workshop.assignments.get(slug="fewshot").spec["class_names"]
    assert len(top) == 3 and all(guess["label"] in names for guess in top)
    # What the model sees, from the same warm predictor: a weight per known
    # word of the sentence and the nearest words in its own Embedding.
    seen = _ask(client, submission, {"text": sentence, "explain": True})["explained"]
    assert seen["label"] in names and 0 < seen["probability"] <= 1
    typed = set(tokenise(sentence))  # "<b>" is the word "b" to the model
    assert {w["word"] for w in seen["words"]} <= typed and seen["words"]
    assert all(-1 <= w["weight"] <= 1 for w in seen["words"])
    assert seen["neighbours"] and all(
        n["word"] in typed and len(n["near"]) == 5 for n in seen["neighbours"]
    )


def _ask(client: Client, submission, body: dict) -> dict:
    posted = client.post(
        f"/s/{submission.pk}/predict/",
        json.dumps(body),
        content_type="application/json",
    )
    assert posted.status_code == 202, posted.content
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        answer = client.get(posted.json()["poll"]).json()
        if answer.get("status") != "pending":
            return answer
        time.sleep(0.1)
    raise AssertionError("The predictor did not answer.")
