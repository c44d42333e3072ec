"""The JSON API: tokens, workshops, submitting, following and reading grades."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from submissions.models import Status, Submission
from tests.api.api_builders import (
    graded,
    start_training,
    submit,
    token_client,
    upload,
)

pytestmark = pytest.mark.django_db


def test_token_for_right_password(participant):
    """A participant exchanges their username and password for a token."""
    response = APIClient().post(
        reverse("api:token"), {"username": "ada", "password": "ada-pass-123"}
    )
    assert response.status_code == 200
    assert response.json()["username"] == "ada"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get(reverse("api:workshop-list")).status_code == 200


def test_token_refused_for_wrong_password(participant):
    """A wrong password gets a plain message, not a token."""
    response = APIClient().post(
        reverse("api:token"), {"username": "ada", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Wrong username or password."}


def test_anonymous_and_bad_token_are_refused(participant):
    """Without a valid token the API answers 401."""
    assert APIClient().get(reverse("api:submission-list")).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get(reverse("api:submission-list"))
    assert response.status_code == 401
    assert "token" in response.json()["detail"].lower()


def test_workshops_list_what_my_role_sees(participant, instructor, workshop, cnn):
    """Participants see released assignments only; instructors see them all."""
    cnn.released = False
    cnn.save()
    mine = token_client(participant).get(reverse("api:workshop-list")).json()
    assert [w["slug"] for w in mine] == ["dl101"]
    assert mine[0]["role"] == "participant"
    assert [a["slug"] for a in mine[0]["assignments"]] == ["hello", "mlp", "transfer"]
    taught = token_client(instructor).get(reverse("api:workshop-list")).json()
    assert taught[0]["role"] == "instructor"
    assert [a["slug"] for a in taught[0]["assignments"]] == [
        "hello",
        "mlp",
        "cnn",
        "transfer",
    ]
    hidden = reverse("api:assignment-detail", args=["dl101", "cnn"])
    assert token_client(participant).get(hidden).status_code == 404


def test_workshop_of_others_is_not_found(participant, django_user_model, workshop):
    """A workshop one is not enrolled in is a 404, as if it did not exist."""
    stranger = django_user_model.objects.create_user("sam", password="sam-pass-123")
    client = token_client(stranger)
    assert client.get(reverse("api:workshop-list")).json() == []
    url = reverse("api:workshop-detail", args=["dl101"])
    assert client.get(url).status_code == 404
    assert token_client(participant).get(url).json()["slug"] == "dl101"


def test_assignment_detail_counts_submissions_left(participant, mlp):
    """The assignment says how many submissions are left today."""
    submit(participant, mlp)
    data = (
        token_client(participant)
        .get(reverse("api:assignment-detail", args=["dl101", "mlp"]))
        .json()
    )
    assert data["submissions_used_today"] == 1
    assert data["submissions_left_today"] == mlp.daily_limit - 1
    assert data["instructions_md"]


def test_submit_a_file(participant, mlp):
    """A multipart upload creates a received submission of mine."""
    response = token_client(participant).post(
        reverse("api:submission-list"),
        {"workshop": "dl101", "assignment": "mlp", "file": upload("model.py")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == Status.RECEIVED
    assert data["original_name"] == "model.py"
    assert data["final"] is False
    submission = Submission.objects.get(pk=data["id"])
    assert submission.participant == participant
    assert submission.assignment == mlp


def test_submit_without_workshop_uses_my_only_workshop(participant, mlp):
    """The workshop may be left out when only one of mine has the assignment."""
    response = token_client(participant).post(
        reverse("api:submission-list"),
        {"assignment": "mlp", "file": upload()},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["workshop"] == "dl101"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("model.txt", b"print(1)\n", "neither a Python script"),
        ("model.py", b"def broken(:\n", "Python cannot read your code"),
        ("model.py", b"   \n", "The file is empty"),
    ],
)
def test_submit_refusals_are_readable(participant, mlp, name, content, expected):
    """The service's refusal reaches the client as {"detail": ...} with a 400."""
    response = token_client(participant).post(
        reverse("api:submission-list"),
        {"workshop": "dl101", "assignment": "mlp", "file": upload(name, content)},
        format="multipart",
    )
    assert response.status_code == 400
    assert expected in response.json()["detail"]
    assert not Submission.objects.exists()


def test_submit_without_file(participant, mlp):
    """Forgetting the file says what to send."""
    response = token_client(participant).post(
        reverse("api:submission-list"), {"assignment": "mlp"}, format="multipart"
    )
    assert response.status_code == 400
    assert "Choose a .py or .ipynb file" in response.json()["detail"]


def test_submit_to_unknown_assignment(participant, mlp):
    """An assignment that does not exist (for me) is a 404 with a message."""
    response = token_client(participant).post(
        reverse("api:submission-list"),
        {"workshop": "dl101", "assignment": "gan", "file": upload()},
        format="multipart",
    )
    assert response.status_code == 404
    assert "No assignment" in response.json()["detail"]


def test_submission_status_shows_queue_position(participant, other_participant, mlp):
    """A queued submission says where it stands in the queue."""
    from submissions.services.lifecycle import submission_enqueue

    first = submit(other_participant, mlp)
    mine = submit(participant, mlp)
    submission_enqueue(submission_id=first.pk)
    submission_enqueue(submission_id=mine.pk)
    data = (
        token_client(participant)
        .get(reverse("api:submission-detail", args=[mine.pk]))
        .json()
    )
    assert data["status"] == Status.QUEUED
    assert data["queue_position"] == 2
    assert data["reason"] == ""


def test_list_shows_only_mine(participant, other_participant, mlp, cnn):
    """Listing submissions shows mine, filtered by assignment on request."""
    mine_mlp = submit(participant, mlp)
    mine_cnn = submit(participant, cnn)
    submit(other_participant, mlp)
    client = token_client(participant)
    ids = [s["id"] for s in client.get(reverse("api:submission-list")).json()]
    assert ids == [mine_cnn.pk, mine_mlp.pk]
    only_mlp = client.get(reverse("api:submission-list"), {"assignment": "mlp"}).json()
    assert [s["id"] for s in only_mlp] == [mine_mlp.pk]


def test_log_follows_with_offset(participant, mlp):
    """The log endpoint returns what was added since the given offset."""
    submission = submit(participant, mlp)
    url = reverse("api:submission-log", args=[submission.pk])
    client = token_client(participant)
    empty = client.get(url).json()
    assert empty["run"] is None and empty["text"] == "" and empty["next_offset"] == 0
    run = start_training(submission, log="Epoch 1/3\n")
    first = client.get(url, {"offset": 0}).json()
    assert first["text"] == "Epoch 1/3\n"
    assert first["run"] == run.pk and first["running"] is True
    run.log += "Epoch 2/3\n"
    run.save()
    second = client.get(url, {"offset": first["next_offset"]}).json()
    assert second["text"] == "Epoch 2/3\n"
    assert second["status"] == Status.TRAINING
    assert client.get(url, {"offset": "x"}).status_code == 400


def test_grade_hides_private_accuracy_until_revealed(participant, mlp):
    """Participants get the public figures; private ones once the instructor says."""
    submission, _grade = graded(participant, mlp, private=0.876543)
    client = token_client(participant)
    url = reverse("api:submission-grade", args=[submission.pk])
    data = client.get(url).json()
    assert data["score"] == 95.0
    assert data["public_accuracy"] == 0.91
    assert data["private_accuracy"] is None
    assert data["private_score"] is None
    assert data["checks"][0]["passed"] is True
    assert data["layers"][0]["type"] == "Dense"
    assert "0.876543" not in client.get(url).content.decode()
    mlp.reveal_private = True
    mlp.save()
    assert client.get(url).json()["private_accuracy"] == 0.876543


def test_instructor_sees_private_accuracy(participant, instructor, mlp):
    """An instructor of the workshop sees private accuracy before it is revealed."""
    submission, _grade = graded(participant, mlp, private=0.876543)
    url = reverse("api:submission-grade", args=[submission.pk])
    assert token_client(instructor).get(url).json()["private_accuracy"] == 0.876543


def test_grade_not_ready(participant, mlp):
    """A submission without a grade says so."""
    submission = submit(participant, mlp)
    response = token_client(participant).get(
        reverse("api:submission-grade", args=[submission.pk])
    )
    assert response.status_code == 404
    assert "no grade yet" in response.json()["detail"]


def test_cancel_mine(participant, mlp):
    """A participant cancels a submission that has not run yet."""
    submission = submit(participant, mlp)
    response = token_client(participant).post(
        reverse("api:submission-cancel", args=[submission.pk])
    )
    assert response.status_code == 200
    assert response.json()["status"] == Status.CANCELLED
    assert response.json()["final"] is True


@pytest.mark.parametrize(
    "name",
    ["api:submission-detail", "api:submission-log", "api:submission-grade"],
)
def test_other_participant_cannot_read_my_submission(
    participant, other_participant, instructor, mlp, name
):
    """Another participant gets 404; the workshop's instructor can read it."""
    submission, _grade = graded(participant, mlp, log="SECRET-LOG-LINE\n")
    url = reverse(name, args=[submission.pk])
    refused = token_client(other_participant).get(url)
    assert refused.status_code == 404
    assert "SECRET-LOG-LINE" not in refused.content.decode()
    assert token_client(instructor).get(url).status_code == 200


def test_only_the_owner_cancels(participant, other_participant, instructor, mlp):
    """Nobody but the owner cancels a submission: 404 for others, 403 for teachers."""
    submission = submit(participant, mlp)
    url = reverse("api:submission-cancel", args=[submission.pk])
    assert token_client(other_participant).post(url).status_code == 404
    assert token_client(instructor).post(url).status_code == 403
    submission.refresh_from_db()
    assert submission.status == Status.RECEIVED


def test_leaderboard(participant, other_participant, instructor, mlp):
    """The leaderboard ranks public accuracy; private figures and ids for
    instructors, and the private ranking for everyone once closed."""
    graded(participant, mlp, public=0.8, private=0.111111)
    graded(participant, mlp, public=0.9, private=0.222222)
    graded(other_participant, mlp, public=0.85, private=0.333333)
    url = reverse("api:leaderboard", args=["dl101", "mlp"])
    board = token_client(participant).get(url).json()
    assert board["private_revealed"] is False and board["part"] == "public"
    assert [(r["participant"], r["public_accuracy"]) for r in board["rows"]] == [
        ("ada", 0.9),
        ("grace", 0.85),
    ]
    assert all(r["private_accuracy"] is None for r in board["rows"])
    assert all(r["submission_id"] is None for r in board["rows"])
    refused = token_client(participant).get(url, {"part": "private"})
    assert refused.status_code == 403
    assert "revealed when the instructor closes" in refused.json()["detail"]
    assert "0.333" not in refused.content.decode()
    assert token_client(participant).get(url, {"part": "x"}).status_code == 400
    taught = token_client(instructor).get(url).json()
    assert taught["rows"][0]["private_accuracy"] == 0.222222
    assert taught["rows"][0]["submission_id"] is not None
    early = token_client(instructor).get(url, {"part": "private"}).json()
    assert [r["participant"] for r in early["rows"]] == ["grace", "ada"]
    mlp.closed = True
    mlp.save()
    closed = token_client(participant).get(url).json()
    assert closed["part"] == "private" and closed["private_revealed"] is True
    assert [(r["participant"], r["private_accuracy"]) for r in closed["rows"]] == [
        ("grace", 0.333333),
        ("ada", 0.222222),
    ]


def test_schema_and_docs_are_served(client):
    """The OpenAPI schema and a docs page without CDN scripts are public."""
    schema = client.get(reverse("api:schema"), {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/submissions/{id}/log/" in paths
    assert "/api/token/" in paths
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/api/submissions/" in html
    assert "<script" not in html
