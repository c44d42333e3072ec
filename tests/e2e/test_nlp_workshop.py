"""The text pack end to end: a real worker trains a reference in the sandbox on
the pack's word ids (with GloVe beside them), grades it, and answers a typed
sentence with three categories."""

import json
import time

import pytest
from django.test import Client

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
    posted = client.post(
        f"/s/{submission.pk}/predict/",
        json.dumps({"text": "a tall tree with white flowers and <b>red</b> fruit"}),
        content_type="application/json",
    )
    assert posted.status_code == 202, posted.content
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        answer = client.get(posted.json()["poll"]).json()
        if answer.get("status") != "pending":
            break
        time.sleep(0.1)
    top = answer["top"]
    names = workshop.assignments.get(slug="fewshot").spec["class_names"]
    assert len(top) == 3 and all(guess["label"] in names for guess in top)
