"""The editor's JSON endpoints and the API: 202 with a status URL, clear 4xx for
bad bodies, CSRF for sessions, and a check only its owner and instructors read."""

import json

import pytest
from django.test import Client

from checks.models import CheckRun, CheckStatus
from tests.api.api_builders import token_client

pytestmark = pytest.mark.django_db

GOOD = "import keras\nprint('training')\n"


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


def _client(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def _post(client, assignment, body, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        f"/checks/assignment/{assignment.pk}/",
        data=data,
        content_type="application/json",
        **extra,
    )


def test_start_answers_202_and_the_status_url_shows_the_check(participant, mlp, outbox):
    client = _client(participant)
    response = _post(client, mlp, {"source": GOOD})
    assert response.status_code == 202, response.content
    body = response.json()
    check = CheckRun.objects.get(pk=body["id"])
    assert body["status_url"] == f"/checks/{check.pk}/"
    shown = client.get(body["status_url"]).json()
    assert shown["id"] == check.pk and shown["status"] == "queued"
    assert shown["finished"] is False
    assert shown["result"] == {
        "checks": [],
        "indicative_accuracy": None,
        "feedback": [],
        "train_images": None,
        "public_sample_images": None,
    }
    assert set(shown) >= {"id", "status", "log", "result", "finished"}


def test_finished_check_shows_its_log_and_result(participant, mlp, outbox):
    client = _client(participant)
    check_id = _post(client, mlp, {"source": GOOD}).json()["id"]
    CheckRun.objects.filter(pk=check_id).update(
        status=CheckStatus.PASSED,
        log="Epoch 1/1\n",
        result={
            "checks": [{"id": "input_shape", "passed": True, "message": "ok"}],
            "indicative_accuracy": 0.8,
            "feedback": ["Indicative only"],
        },
    )
    shown = client.get(f"/checks/{check_id}/").json()
    assert shown["finished"] is True and shown["log"] == "Epoch 1/1\n"
    assert shown["result"]["indicative_accuracy"] == 0.8
    assert shown["result"]["checks"][0]["id"] == "input_shape"


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        (b"{not json", 400, "JSON object"),
        (b"\xff\xfe", 400, "JSON object"),
        ("[" * 100_000 + "]" * 100_000, 400, "JSON object"),
        ({"code": GOOD}, 400, "JSON object"),
        ([GOOD], 400, "JSON object"),
        ({"source": 3}, 400, "as text"),
        ({"source": "print(1)\x00"}, 400, "U+0000"),
        ({"source": "\x07\x08binary"}, 400, "binary"),
        ({"source": "x" * (1024 * 1024 + 10)}, 413, "larger than"),
        (json.dumps({"source": "\\u0000" * 400_000}), 413, "larger than"),
    ],
)
def test_bad_bodies_get_a_clear_4xx_and_nothing_is_stored(
    participant, mlp, outbox, body, status, match
):
    response = _post(_client(participant), mlp, body)
    assert response.status_code == status, response.content
    assert match in response.json()["detail"]
    assert CheckRun.objects.count() == 0


def test_rate_limit_answers_429(participant, mlp, outbox, settings):
    settings.DOJO_CHECK_PER_MINUTE = 2
    client = _client(participant)
    assert _post(client, mlp, {"source": GOOD}).status_code == 202
    assert _post(client, mlp, {"source": GOOD}).status_code == 202
    response = _post(client, mlp, {"source": GOOD})
    assert response.status_code == 429
    assert "Wait" in response.json()["detail"]


def test_session_post_needs_the_csrf_token(participant, mlp, outbox):
    client = _client(participant, csrf=True)
    assert _post(client, mlp, {"source": GOOD}).status_code == 403
    client.get("/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = _post(client, mlp, {"source": GOOD}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 202


def test_anonymous_gets_403_json(mlp, outbox):
    response = _post(Client(), mlp, {"source": GOOD})
    assert response.status_code == 403
    assert "Log in" in response.json()["detail"]


def test_another_participant_cannot_read_or_start_on_an_unseen_assignment(
    participant, other_participant, instructor, mlp, outbox, django_user_model
):
    """A classmate gets 404 for A's check; A's instructor reads it; an outsider
    cannot start a check on the workshop's assignment."""
    check_id = _post(_client(participant), mlp, {"source": GOOD}).json()["id"]
    assert _client(other_participant).get(f"/checks/{check_id}/").status_code == 404
    assert _client(instructor).get(f"/checks/{check_id}/").status_code == 200
    outsider = django_user_model.objects.create_user("olaf", password="olaf-pass-1")
    response = _post(_client(outsider), mlp, {"source": GOOD})
    assert response.status_code == 404
    assert _post(_client(participant), mlp, {"source": GOOD}).status_code == 202


def test_api_token_user_starts_and_reads_a_check(
    participant, other_participant, mlp, outbox
):
    client = token_client(participant)
    response = client.post(
        f"/api/checks/assignment/{mlp.pk}/",
        data=json.dumps({"source": GOOD}),
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status_url"] == f"/api/checks/{body['id']}/"
    assert client.get(body["status_url"]).json()["status"] == "queued"
    other = token_client(other_participant)
    assert other.get(body["status_url"]).status_code == 404
    bad = client.post(
        f"/api/checks/assignment/{mlp.pk}/",
        data=b"{oops",
        content_type="application/json",
    )
    assert bad.status_code == 400 and "JSON object" in bad.json()["detail"]
    huge = client.post(
        f"/api/checks/assignment/{mlp.pk}/",
        data=json.dumps({"source": "x" * (1024 * 1024 + 10)}),
        content_type="application/json",
    )
    assert huge.status_code == 413


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"closed": True}, "This assignment is closed"),
        ({"deadline": "past"}, "deadline"),
    ],
)
def test_closed_or_past_deadline_assignments_refuse_checks_as_submissions(
    participant, mlp, outbox, change, words
):
    """A check on a closed or past-deadline assignment is refused with the
    reason a submission gets (one rule), through the editor and the API."""
    import datetime

    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from submissions.services.intake import submission_create

    if change.get("deadline") == "past":
        change = {"deadline": timezone.now() - datetime.timedelta(minutes=1)}
    for field, value in change.items():
        setattr(mlp, field, value)
    mlp.save()
    response = _post(_client(participant), mlp, {"source": GOOD})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert words in detail
    api = token_client(participant).post(
        f"/api/checks/assignment/{mlp.pk}/",
        data=json.dumps({"source": GOOD}),
        content_type="application/json",
    )
    assert api.status_code == 400 and api.json()["detail"] == detail
    assert not CheckRun.objects.exists()
    upload = SimpleUploadedFile("train.py", GOOD.encode())
    with pytest.raises(ValidationError) as refused:
        submission_create(participant=participant, assignment=mlp, upload=upload)
    assert refused.value.messages[0].replace("submissions", "check runs") == detail
