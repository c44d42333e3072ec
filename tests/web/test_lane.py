"""The upload lane: a few uploads at a time per web process, in the order asked,
whichever way it comes in."""

import json
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import Client
from django.urls import reverse

from submissions.models import Submission
from tests.api.api_builders import token_client
from tests.helpers import wait_for
from web.lane import UPLOADS_AT_ONCE, _Lane
from web.lane import _lane as lane


def test_the_lane_hands_a_freed_place_to_the_longest_waiter():
    """Waiters enter in the order they asked; a freed place goes to the first
    waiter, so a newcomer cannot barge in ahead of it."""
    lane = _Lane(1)
    lane.acquire()
    entered: list[str] = []
    go = threading.Event()

    def upload(name: str) -> None:
        lane.acquire()
        entered.append(name)
        go.wait(30)
        lane.release()

    threads = []
    for count, name in enumerate(("first", "second", "third"), start=1):
        thread = threading.Thread(target=upload, args=(name,))
        thread.start()
        threads.append(thread)
        wait_for(lambda n=count: len(lane._waiting) == n, what=f"{name} waiting")
    lane.release()
    wait_for(lambda: entered == ["first"], what="the first waiter inside")
    assert lane._free == 0  # handed over, never freed for a newcomer
    go.set()
    for thread in threads:
        thread.join(timeout=30)
    assert entered == ["first", "second", "third"]
    assert lane._free == 1 and not lane._waiting


MLP = b"print('training')\n"


def _form_upload(participant, mlp):
    client = Client()
    client.force_login(participant)
    upload = SimpleUploadedFile("train.py", MLP)
    return client.post(mlp.get_absolute_url(), {"file": upload}).status_code


def _api_upload(participant, mlp):
    client = token_client(participant)
    upload = SimpleUploadedFile("train.py", MLP)
    data = {"file": upload, "workshop": mlp.workshop.slug, "assignment": mlp.slug}
    return client.post("/api/submissions/", data, format="multipart").status_code


def _editor_submit(participant, mlp):
    client = Client()
    client.force_login(participant)
    path = reverse("draft-submit", args=[mlp.workshop.slug, mlp.slug])
    body = json.dumps({"text": MLP.decode(), "base": 0})
    return client.post(path, body, content_type="application/json").status_code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("way", "answer"),
    [(_form_upload, 302), (_api_upload, 201), (_editor_submit, 200)],
    ids=["form", "api", "editor"],
)
def test_every_way_to_submit_waits_its_turn_in_the_lane(
    participant, workshop, outbox, way, answer
):
    """The assignment page's form and the editor's Submit queue in the same
    lane as the API, so a class submitting from the browser cannot take every
    thread of a web process from the pages the room watches."""
    mlp = workshop.assignments.get(slug="mlp")
    for _ in range(UPLOADS_AT_ONCE):
        lane.acquire()  # other uploads hold every place of this process's lane
    answers: list[int] = []

    def submit() -> None:
        try:
            answers.append(way(participant, mlp))
        finally:
            connections.close_all()  # this thread's own: the test database can go

    thread = threading.Thread(target=submit)
    thread.start()
    try:
        wait_for(lambda: len(lane._waiting) == 1, what="the upload waiting its turn")
        assert not Submission.objects.exists()
    finally:
        for _ in range(UPLOADS_AT_ONCE):
            lane.release()
    thread.join(timeout=60)
    assert answers == [answer]
    assert Submission.objects.filter(participant=participant).count() == 1
