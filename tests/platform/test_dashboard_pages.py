"""Leaderboard, instructor dashboard, statistics, regrades, exports, hosts."""

import csv
import io
import json

import pytest
from django.urls import reverse

from dashboard import selectors
from submissions.models import RegradeBatch

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def _board_text(page: str) -> str:
    return page.split('<table class="board">')[1].split("</table>")[0]


def test_leaderboard_ranks_public_accuracy_and_hides_private_until_close(
    participant_client, participant, other_participant, cnn, make_graded
):
    """Each participant's best public accuracy ranks; private waits for the close."""
    make_graded(participant, cnn, score=100.0, public=0.7, private=0.61)
    make_graded(participant, cnn, score=100.0, public=0.95, private=0.93)
    make_graded(other_participant, cnn, score=100.0, public=0.85, private=0.82)
    url = reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug])
    page = participant_client.get(url).content.decode()
    board = _board_text(page)
    assert board.index("ada") < board.index("grace")
    assert "95.0%" in board and "70.0%" not in board  # best, not last
    assert "93.0%" not in page and "Private accuracy" not in page
    asked = participant_client.get(url, {"part": "private"}).content.decode()
    assert "93.0%" not in asked and "revealed when your instructor closes" in asked
    cnn.closed = True
    cnn.save()
    page = participant_client.get(url).content.decode()
    assert "93.0%" in _board_text(page) and "Private accuracy" in page


def test_leaderboard_score_policy_keeps_the_pass_mark(
    participant, other_participant, cnn, make_graded
):
    """The score shown is the policy's counted grade; the ranking is accuracy."""
    make_graded(participant, cnn, score=90.0, public=0.95)
    make_graded(participant, cnn, score=40.0, public=0.5)
    make_graded(other_participant, cnn, score=60.0, public=0.6)
    cnn.score_policy = "last"
    cnn.save()
    board = selectors.leaderboard(assignment=cnn, include_private=False)
    assert [(e["username"], e["score"], e["public_accuracy"]) for e in board] == [
        ("ada", 40.0, 0.95),
        ("grace", 60.0, 0.6),
    ]
    assert board[0]["private_accuracy"] is None


def test_instructor_pages_refuse_participants_and_strangers(
    client, participant, other_instructor, cnn, make_graded
):
    submission = make_graded(participant, cnn)
    batch = RegradeBatch.objects.create(
        assignment=cnn, mode="reevaluate", submission_ids=[submission.pk]
    )
    w, a = cnn.workshop.slug, cnn.slug
    urls = [
        reverse("dashboard", args=[w]),
        reverse("export-grades", args=[w]),
        reverse("hosts", args=[w]),
        reverse("workshop-manage", args=[w]),
        reverse("assignment-stats", args=[w, a]),
        reverse("assignment-settings", args=[w, a]),
        reverse("regrade-create", args=[w, a]),
        reverse("export-leaderboard", args=[w, a]),
        reverse("regrade-detail", args=[batch.pk]),
        reverse("regrade-progress", args=[batch.pk]),
    ]
    client.force_login(participant)
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("regrade-cancel", args=[batch.pk])).status_code == 403
    client.force_login(other_instructor)
    for url in urls + [reverse("leaderboard", args=[w, a]), cnn.get_absolute_url()]:
        assert client.get(url).status_code == 404, url
    client.logout()
    for url in urls:
        assert client.get(url).status_code == 302, url


def test_dashboard_matrix_and_filters(
    instructor_client, participant, other_participant, workshop, cnn, make_graded
):
    make_graded(participant, cnn, score=81.0)
    url = reverse("dashboard", args=[workshop.slug])
    page = instructor_client.get(url).content.decode()
    assert 'class="cell passed"' in page and "81.0" in page
    assert "grace" in page.split("Not submitted anything yet")[1]
    filtered = instructor_client.get(url, {"name": "gra"}).content.decode()
    matrix = filtered.split('class="matrix"')[1].split("</table>")[0]
    assert "grace" in matrix and "ada" not in matrix
    passed = instructor_client.get(url, {"status": "passed"}).content.decode()
    matrix = passed.split('class="matrix"')[1].split("</table>")[0]
    assert "ada" in matrix and "grace" not in matrix


def test_dashboard_refreshes_its_live_part_with_the_filters(
    instructor_client, participant, other_participant, workshop, cnn, make_graded
):
    """The page names a fragment URL that keeps its filters; the fragment is bare."""
    url = reverse("dashboard", args=[workshop.slug])
    page = instructor_client.get(url, {"name": "gra"}).content.decode()
    refresh = f"{url}?name=gra&amp;status=&amp;page=1&amp;fragment=live"
    assert f'data-refresh-url="{refresh}"' in page
    make_graded(participant, cnn, score=81.0)
    fragment = instructor_client.get(url, {"fragment": "live"}).content.decode()
    assert "<html" not in fragment and 'class="matrix"' in fragment
    assert 'class="cell passed"' in fragment and "81.0" in fragment
    filtered = instructor_client.get(url, {"fragment": "live", "name": "gra"})
    matrix = filtered.content.decode().split('class="matrix"')[1]
    assert "grace" in matrix and "ada" not in matrix.split("</table>")[0]


def test_assignment_stats(
    instructor_client, participant, other_participant, cnn, make_graded
):
    make_graded(participant, cnn, score=81.0, public=0.9, private=0.71)
    make_graded(other_participant, cnn, passed=False, public=0.4)
    url = reverse("assignment-stats", args=[cnn.workshop.slug, cnn.slug])
    page = instructor_client.get(url).content.decode()
    assert "<svg" in page and "Distribution of public accuracy" in page
    assert "layers.Dropout" in page and "50%" in page
    assert "71.0%" in page  # private accuracy for instructors


def test_regrade_form_and_progress(instructor_client, participant, cnn, make_graded):
    submission = make_graded(participant, cnn)
    url = reverse("regrade-create", args=[cnn.workshop.slug, cnn.slug])
    page = instructor_client.get(url).content.decode()
    assert f"#{submission.pk} ada" in page
    unconfirmed = instructor_client.post(
        url, {"selection": "all", "mode": "reevaluate"}
    )
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm" in unconfirmed.content.decode()
    empty = instructor_client.post(
        url, {"selection": "selected", "mode": "rerun", "confirm": "on"}
    )
    assert "Select at least one submission" in empty.content.decode()
    none_failed = instructor_client.post(
        url, {"selection": "failed", "mode": "reevaluate", "confirm": "on"}
    )
    assert "nothing to regrade" in none_failed.content.decode()
    assert not RegradeBatch.objects.exists()
    ok = instructor_client.post(
        url,
        {
            "selection": "selected",
            "submission_ids": [submission.pk],
            "mode": "reevaluate",
            "confirm": "on",
        },
    )
    batch = RegradeBatch.objects.get()
    assert ok.status_code == 302 and ok.url == reverse(
        "regrade-detail", args=[batch.pk]
    )
    page = instructor_client.get(ok.url).content.decode()
    assert 'role="progressbar"' in page and "data-progress-url" in page
    assert "Cancel what has not started" in page
    progress = json.loads(
        instructor_client.get(reverse("regrade-progress", args=[batch.pk])).content
    )
    assert progress == {
        "total": 1,
        "done": 0,
        "percent": 0,
        "state": "running",
        "cancellable": True,
    }
    instructor_client.post(reverse("regrade-cancel", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.state == "cancelled"


def test_grades_csv(
    instructor_client,
    participant,
    other_participant,
    cnn,
    workshop,
    make_graded,
    make_failed,
):
    """One row per participant and assignment: the grade that counts, attempts."""
    from django.utils import timezone

    make_failed(participant, cnn)
    cnn.deadline = timezone.now()
    cnn.save()
    cnn.deadline = None  # the in-memory copy lets the late submission through
    make_graded(participant, cnn, score=81.0, public=0.9)
    rows = _csv(instructor_client.get(reverse("export-grades", args=[workshop.slug])))
    assert rows[0] == [
        "participant",
        "email",
        "assignment",
        "submission",
        "score",
        "public_accuracy",
        "private_accuracy",
        "best_score",
        "attempts",
        "status",
        "submitted_at",
        "late",
    ]
    assert len(rows) == 1 + 2 * workshop.assignments.count()
    mine = {r[2]: r for r in rows[1:] if r[0] == "ada"}
    assert mine["cnn"][4:10] == ["81.00", "0.9000", "0.8800", "81.00", "2", "graded"]
    assert mine["cnn"][11] == "yes"
    assert mine["mlp"][3:] == ["", "", "", "", "", "0", "", "", "no"]
    assert {r[0] for r in rows[1:]} == {"ada", "grace"}


def test_submissions_csv_keeps_every_submission(
    instructor_client, participant, cnn, workshop, make_graded, make_failed
):
    make_failed(participant, cnn)
    make_graded(participant, cnn, score=81.0, public=0.9)
    url = reverse("export-submissions", args=[workshop.slug])
    rows = _csv(instructor_client.get(url))
    assert rows[0][4:8] == ["score", "public_accuracy", "private_accuracy", "status"]
    by_status = {r[7]: r for r in rows[1:]}
    assert by_status["graded"][4:7] == ["81.00", "0.9000", "0.8800"]
    assert len(rows) == 3


def test_leaderboard_csv_carries_both_parts(
    instructor_client, participant, other_participant, cnn, make_graded
):
    """Both rankings and both accuracies, with the submissions that earned them."""
    from submissions.services.finals import submission_mark_final

    make_graded(participant, cnn, score=81.0, public=0.9, private=0.8)
    low = make_graded(participant, cnn, score=70.0, public=0.85, private=0.89)
    make_graded(other_participant, cnn, score=75.0, public=0.88, private=0.84)
    submission_mark_final(participant=participant, submission_id=low.pk, final=True)
    url = reverse("export-leaderboard", args=[cnn.workshop.slug, cnn.slug])
    rows = _csv(instructor_client.get(url))
    assert rows[0] == [
        "public_rank",
        "private_rank",
        "participant",
        "public_accuracy",
        "public_submission",
        "private_accuracy",
        "private_submission",
        "finals_marked",
        "score",
        "passed_checks",
        "submitted_at",
    ]
    ada, grace = rows[1], rows[2]
    assert ada[:4] == ["1", "1", "ada", "0.9000"]
    assert ada[5:10] == ["0.8900", str(low.pk), "1", "81.00", "yes"]
    assert grace[:4] == ["2", "2", "grace", "0.8800"]
    assert grace[5] == "0.8400" and grace[7] == "0"


def test_hosts_page_without_workers(instructor_client, workshop, monkeypatch):
    from config.celery_app import app

    def broken(**kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(app.control, "inspect", broken)
    page = instructor_client.get(reverse("hosts", args=[workshop.slug]))
    assert page.status_code == 200
    assert "broker unreachable" in page.content.decode()


def test_hosts_page_lists_heartbeats(
    instructor_client, workshop, participant, cnn, make_submission, monkeypatch
):
    import uuid

    from submissions.models import Run

    monkeypatch.setattr(
        selectors, "celery_inspect", lambda timeout=1.0: {"workers": [], "error": ""}
    )
    submission = make_submission(participant, cnn)
    Run.objects.create(
        submission=submission,
        kind="train",
        job_token=uuid.uuid4(),
        queue="train-cpu",
        host="gpu-box-1",
        worker="w1@gpu-box-1",
    )
    page = instructor_client.get(
        reverse("hosts", args=[workshop.slug])
    ).content.decode()
    assert "gpu-box-1" in page and f"#{submission.pk}" in page


def test_hosts_page_shows_every_kind_of_job_per_host_and_slot(
    instructor_client, workshop, participant, cnn, make_submission, monkeypatch
):
    """A training, an evaluation, a regrade's re-evaluation and a check run,
    each on its host (a check run's host is its worker's), with their slots."""
    import uuid

    from django.utils import timezone

    from checks.models import CheckRun, CheckStatus
    from submissions.models import Run

    monkeypatch.setattr(
        selectors, "celery_inspect", lambda timeout=1.0: {"workers": [], "error": ""}
    )
    training, evaluation, regraded = (
        make_submission(participant, cnn) for _ in range(3)
    )
    batch = RegradeBatch.objects.create(assignment=cnn, mode="reevaluate")
    regraded.batch = batch
    regraded.save(update_fields=["batch"])
    for row, kind, slot in (
        (training, "train", 0),
        (evaluation, "evaluate", 1),
        (regraded, "evaluate", 2),
    ):
        Run.objects.create(
            submission=row,
            kind=kind,
            job_token=uuid.uuid4(),
            queue="train-gpu" if kind == "train" else "evaluate",
            host="gpu-box-1",
            worker="w1@gpu-box-1",
            slot=slot,
        )
    check = CheckRun.objects.create(
        participant=participant,
        assignment=cnn,
        source="print(1)\n",
        source_sha256="0" * 64,
        status=CheckStatus.RUNNING,
        worker="check1@cpu-box-2",
        heartbeat_at=timezone.now(),
    )
    page = instructor_client.get(
        reverse("hosts", args=[workshop.slug])
    ).content.decode()
    gpu_box, cpu_box = page.split("<td>gpu-box-1</td>")[1].split("<td>cpu-box-2</td>")
    for slot, row, kind in (
        (0, training, "training"),
        (1, evaluation, "evaluation"),
        (2, regraded, "regrade"),
    ):
        url = reverse("submission-detail", args=[row.pk])
        assert f'slot {slot}: <a href="{url}">#{row.pk}</a> ({kind})' in gpu_box
    url = reverse("check-detail", args=[check.pk])
    assert f'<a href="{url}">check {check.pk}</a> (check run)' in cpu_box
    assert "check run" not in gpu_box


def test_hosts_page_shows_a_predictors_host_and_its_predictions(
    instructor_client, workshop, participant, cnn, make_submission, monkeypatch
):
    """A worker that answered "try your model" lately shows on its host with
    the predict queue; a prediction it is answering now is listed with its
    kind, and the queue table counts the waiting ones. Answered rows add no
    line of their own."""
    import datetime

    from django.utils import timezone

    from submissions.prediction_rows import Prediction, PredictionStatus

    monkeypatch.setattr(
        selectors, "celery_inspect", lambda timeout=1.0: {"workers": [], "error": ""}
    )
    submission = make_submission(participant, cnn)
    now = timezone.now()
    common = {
        "participant": participant,
        "submission": submission,
        "asked": "AAAA",
        "worker": "predict1@cpu-box-3",
        "heartbeat_at": now,
        "expires_at": now + datetime.timedelta(seconds=20),
    }
    running = Prediction.objects.create(
        kind="maps", status=PredictionStatus.RUNNING, **common
    )
    for _ in range(3):
        Prediction.objects.create(
            kind="predict", status=PredictionStatus.ANSWERED, finished_at=now, **common
        )
    Prediction.objects.create(
        kind="predict", **{**common, "worker": "", "heartbeat_at": None}
    )
    page = instructor_client.get(
        reverse("hosts", args=[workshop.slug])
    ).content.decode()
    box = page.split("<td>cpu-box-3</td>")[1].split("</tr>")[0]
    assert "<td>predict1@cpu-box-3</td><td>predict</td>" in box
    url = reverse("submission-detail", args=[submission.pk])
    assert f'<a href="{url}">prediction {running.pk}</a> (feature maps)' in box
    assert box.count("prediction ") == 1
    assert '<tr><td>predict</td><td class="num">1</td><td class="num">1</td>' in page


def test_hosts_page_lists_answering_workers(instructor_client, workshop, monkeypatch):
    from config.celery_app import app

    class Inspector:
        def active(self):
            return {"w1@gpu": [{"name": "submissions.tasks.train"}]}

        def active_queues(self):
            return {"w1@gpu": [{"name": "train-gpu"}]}

        def stats(self):
            return {"w1@gpu": {"pool": {"max-concurrency": 8}}}

    monkeypatch.setattr(app.control, "inspect", lambda **kwargs: Inspector())
    page = instructor_client.get(
        reverse("hosts", args=[workshop.slug])
    ).content.decode()
    assert "w1@gpu" in page and "train-gpu" in page and ">8<" in page


def test_matrix_cells_show_best_attempts_and_the_last_failure_reason(
    instructor_client, participant, other_participant, workshop, cnn, make_graded
):
    """A passed cell shows its best score and attempts; a failed cell shows its
    attempts and the last reason, on hover (title) and for screen readers."""
    from tests.platform.conftest import failed

    make_graded(participant, cnn, score=81.0)
    make_graded(participant, cnn, score=60.0, passed=False)
    failed(other_participant, cnn, reason="Your code stopped: NameError x.")
    failed(other_participant, cnn, reason="Your code stopped: KeyError 'y'.")
    page = instructor_client.get(reverse("dashboard", args=[workshop.slug]))
    html = page.content.decode()
    passed = "Passed · 2 attempts · best 81.0"
    assert f'title="{passed}"' in html and "81.0 <small" in html and "2×" in html
    reason = "Failed · 2 attempts · last: Your code stopped: KeyError &#x27;y&#x27;."
    assert f'title="{reason}"' in html
    assert f'<span class="visually-hidden">{reason}</span>' in html


def test_large_matrix_pages_and_filters(
    instructor_client,
    participant,
    other_participant,
    workshop,
    cnn,
    make_graded,
    monkeypatch,
):
    """Above the show-all size the matrix draws one page; filters still find all."""
    from dashboard import standings

    monkeypatch.setattr(standings, "MATRIX_SHOW_ALL", 1)
    monkeypatch.setattr(standings, "MATRIX_PAGE", 1)
    make_graded(other_participant, cnn, score=70.0)
    url = reverse("dashboard", args=[workshop.slug])

    def matrix(**query) -> str:
        html = instructor_client.get(url, query).content.decode()
        return html.split('class="matrix"')[1].split("</table>")[0]

    assert "ada" in matrix() and "grace" not in matrix()
    second = instructor_client.get(url, {"page": 2}).content.decode()
    assert "page 2 of 2" in second and "Previous" in second
    assert "grace" in matrix(page=2) and "ada" not in matrix(page=2)
    assert "grace" in matrix(status="passed") and "ada" not in matrix(status="passed")
    assert "ada" in matrix(status="not-started")


def test_leaderboard_pages_keep_ranks_and_show_my_rank(
    client, participant, other_participant, instructor, cnn, make_graded, monkeypatch
):
    """Ranks run on across pages (a tie goes to the earlier submission); a
    participant on another page still sees their own rank."""
    from accounts.services import user_ensure
    from dashboard import views
    from workshops.services import enrollment_add

    monkeypatch.setattr(views, "LEADERBOARD_PAGE", 1)
    third = user_ensure(username="hedy", password="hedy-pass-123")
    enrollment_add(workshop=cnn.workshop, user=third)
    make_graded(other_participant, cnn, public=0.9)
    make_graded(third, cnn, public=0.9)
    make_graded(participant, cnn, public=0.5)
    url = reverse("leaderboard", args=[cnn.workshop.slug, cnn.slug])
    client.force_login(instructor)
    second = client.get(url, {"page": 2}).content.decode()
    assert "Page 2 of 3" in second and "hedy" in second and "grace" not in second
    assert '<td class="num">2</td>' in second  # tied with grace, who was first
    client.force_login(participant)
    first = client.get(url).content.decode()
    assert "ada" not in first.split("<tbody>")[1].split("</tbody>")[0]
    assert "Your rank: <strong>3</strong>" in first


def test_hosts_page_tells_a_busy_worker_from_a_dead_one(
    instructor_client, workshop, participant, cnn, make_submission, monkeypatch
):
    """Workers that miss the broker's ping are shown from their jobs' heartbeats."""
    import datetime
    import uuid

    from django.utils import timezone

    from submissions.models import Run

    monkeypatch.setattr(
        selectors, "celery_inspect", lambda timeout=1.0: {"workers": [], "error": ""}
    )
    now = timezone.now()
    for worker, beat in (
        ("busy@box", now - datetime.timedelta(seconds=3)),
        ("busy@box", now - datetime.timedelta(seconds=20)),
        ("gone@box", now - datetime.timedelta(minutes=5)),
    ):
        Run.objects.create(
            submission=make_submission(participant, cnn),
            kind="train",
            job_token=uuid.uuid4(),
            queue="train-cpu",
            host="box",
            worker=worker,
            heartbeat_at=beat,
        )
    page = instructor_client.get(
        reverse("hosts", args=[workshop.slug])
    ).content.decode()
    assert "busy: running 2 jobs, last heartbeat 3 s ago" in page
    assert "no heartbeat for 5 min" in page
    assert "No worker answered" not in page


def test_regrade_is_one_click_from_the_dashboard_and_the_assignment(
    instructor_client, workshop, cnn
):
    """The dashboard lists a Regrade link per assignment; the assignment page too."""
    regrade = reverse("regrade-create", args=[workshop.slug, cnn.slug])
    dashboard = instructor_client.get(reverse("dashboard", args=[workshop.slug]))
    assert f'href="{regrade}"' in dashboard.content.decode()
    assert "<title>Dashboard · " in dashboard.content.decode()
    assert "&lt;script" not in dashboard.content.decode()
    page = instructor_client.get(cnn.get_absolute_url()).content.decode()
    assert f'href="{regrade}"' in page and ">Regrade</a>" in page


def test_finished_regrade_offers_no_cancel(
    instructor_client, participant, cnn, make_graded
):
    """Once every submission of a batch has ended, the page offers no cancel,
    even before the batch is marked done."""
    from django.utils import timezone

    from submissions.models import Submission
    from submissions.services.regrade import regrade_batch_create

    submission = make_graded(participant, cnn)
    batch = regrade_batch_create(
        assignment=cnn,
        mode="reevaluate",
        selection="selected",
        submission_ids=[submission.pk],
        created_by=None,
    )
    Submission.objects.filter(pk=submission.pk).update(finished_at=timezone.now())
    page = instructor_client.get(reverse("regrade-detail", args=[batch.pk]))
    html = page.content.decode()
    assert "1</span> of 1 done" in html
    assert "Cancel what has not started" not in html
