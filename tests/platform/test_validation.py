"""Validate trains and grades the reference as a submission; release waits for it.

In-process: the outbox stands in for the broker, and the worker's part (claim,
sandbox result, grader report) is played through the same services a worker
calls. The real worker path is tests/e2e/test_pipeline.py (the CNN reference).
"""

import hashlib

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from dashboard import standings as board
from dashboard.progress import progress_cells_query
from dashboard.selectors import submissions_graded_under_older_version
from grader import GradeReport
from submissions.models import Run, Standing, Status, Submission
from submissions.services.grading import grade_record
from submissions.services.intake import submissions_used_today
from submissions.services.jobs import job_claim, job_queue, run_record
from submissions.services.regrade import regrade_batch_create
from tests.api.api_builders import start_training, use_fresh_cache
from tests.platform.conftest import report
from workers.sandbox import Outcome, SandboxResult
from workshops.packs import assignment_solution
from workshops.services import assignment_set_state
from workspace.timings import assignment_timings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_data_root")]


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    use_fresh_cache(settings)
    cache.clear()


def _result(seconds: float) -> SandboxResult:
    return SandboxResult(
        outcome=Outcome.OK,
        exit_code=0,
        wall_seconds=seconds,
        cpu_seconds=seconds,
        peak_memory_bytes=None,
        log="Epoch 1/1\n",
        log_truncated=False,
        backend="bwrap",
    )


def play_reference_run(
    submission: Submission,
    *,
    score: float = 100.0,
    passed: bool = True,
    train_seconds: float = 42.0,
    grade_seconds: float = 7.5,
) -> Submission:
    """Play the worker: train, evaluate on the hidden split, record the grade."""
    train = start_training(submission)
    run_record(run=train, result=_result(train_seconds))
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        train.artifact_path = "/nowhere/model.keras"
        train.save(update_fields=["artifact_path"])
        job_queue(submission=submission, kind=Run.Kind.EVALUATE, status="evaluating")
    submission.refresh_from_db()
    evaluate = job_claim(
        submission_id=submission.pk,
        job_token=str(submission.job_token),
        kind=Run.Kind.EVALUATE,
        expect=Status.EVALUATING,
        worker="test@host",
        queue="evaluate",
    )
    run_record(run=evaluate, result=_result(grade_seconds))
    submission.refresh_from_db()
    grade_record(
        submission=submission,
        run=evaluate,
        report=GradeReport.from_dict(report(score=score, passed=passed)),
    )
    submission.refresh_from_db()
    return submission


def _validate(client: Client, assignment, capture) -> Submission:
    url = reverse(
        "assignment-validate", args=[assignment.workshop.slug, assignment.slug]
    )
    with capture(execute=True):
        answer = client.post(url)
    assert answer.status_code == 302
    return Submission.objects.filter(assignment=assignment, reference=True).latest(
        "created_at"
    )


def test_validate_trains_and_grades_the_reference_out_of_every_count(
    instructor_client,
    instructor,
    participant,
    workshop,
    cnn,
    outbox,
    django_capture_on_commit_callbacks,
):
    """The reference goes to the training queue as a submission; its score,
    accuracies and times show on the validation page and its training time is
    the assignment's measured time; no board, count, export or limit sees it."""
    assert assignment_timings(assignment=cnn)["training"] is None
    reference = _validate(instructor_client, cnn, django_capture_on_commit_callbacks)
    solution = assignment_solution(cnn).encode()
    assert reference.participant == instructor
    assert reference.sha256 == hashlib.sha256(solution).hexdigest()
    assert reference.file.read() == solution
    sent = {(m["task"].rpartition(".")[2], m["queue"]) for m in outbox}
    assert sent == {("check_run", "check"), ("train", "train-cpu")}, outbox
    url = reverse("assignment-validate", args=[workshop.slug, cnn.slug])
    assert "Training: not finished" in instructor_client.get(url).content.decode()
    again = instructor_client.post(url, follow=True).content.decode()
    assert "already being trained and graded" in again

    play_reference_run(reference, score=100.0)
    page = instructor_client.get(url).content.decode()
    assert "Score 100.0 of 100" in page
    assert "public accuracy 90.0%" in page and "private accuracy 88.0%" in page
    assert "Training took 42.0 s" in page and "grading took 7.5 s" in page
    assert instructor_client.get(reference.get_absolute_url()).status_code == 200
    cache.clear()
    measured = assignment_timings(assignment=cnn)["training"]
    assert (measured.seconds, measured.count) == (42.0, 1)

    assert not Standing.objects.filter(participant=instructor).exists()
    assert board.leaderboard(assignment=cnn, include_private=True) == []
    assert not list(progress_cells_query(assignment=cnn))
    for rows in (
        board.grade_rows_for_export(workshop=workshop),
        board.submission_rows_for_export(workshop=workshop),
        board.leaderboard_rows_for_export(assignment=cnn),
    ):
        assert not any(instructor.username in map(str, row) for row in rows)
    assert submissions_used_today(participant=instructor, assignment=cnn) == 0
    cnn.spec_version += 1
    cnn.save()
    assert submissions_graded_under_older_version(assignment=cnn) == 0
    with pytest.raises(ValidationError, match="No finished submission"):
        regrade_batch_create(assignment=cnn, mode="reevaluate")
    listed = Client()
    listed.force_login(participant)
    leaderboard = reverse("leaderboard", args=[workshop.slug, cnn.slug])
    assert instructor.username not in listed.get(leaderboard).content.decode()


def test_participants_cannot_validate(participant_client, workshop, cnn, outbox):
    url = reverse("assignment-validate", args=[workshop.slug, cnn.slug])
    assert participant_client.post(url).status_code in (403, 404)
    assert not Submission.objects.filter(reference=True).exists()


def _authored(client: Client, workshop) -> object:
    from tests.platform.test_authoring import _good

    answer = client.post(reverse("assignment-create", args=[workshop.slug]), _good())
    assert answer.status_code == 302, answer.context and answer.context["form"].errors
    return workshop.assignments.get(slug="mlp-strict")


def _release(client: Client, assignment) -> str:
    manage = reverse("workshop-manage", args=[assignment.workshop.slug])
    answer = client.post(
        manage, {"action": "release", "assignment": assignment.pk}, follow=True
    )
    assignment.refresh_from_db()
    return answer.content.decode()


def test_an_authored_assignment_is_released_only_after_full_marks(
    instructor_client, workshop, outbox, django_capture_on_commit_callbacks
):
    """Not run, still running, failed checks, below full marks, graded before an
    edit: each refuses the release with what to do; full marks lets it go."""
    made = _authored(instructor_client, workshop)
    assert "not been trained and graded" in _release(instructor_client, made)
    assert not made.released

    capture = django_capture_on_commit_callbacks
    running = _validate(instructor_client, made, capture)
    assert "still being trained and graded" in _release(instructor_client, made)
    play_reference_run(running, score=100.0, passed=False)
    assert "full grading failed" in _release(instructor_client, made)

    low = play_reference_run(_validate(instructor_client, made, capture), score=80.0)
    assert low.current_grade.score == 80.0
    page = _release(instructor_client, made)
    assert "scored 80.0 of 100" in page and "full marks" in page
    assert not made.released

    play_reference_run(_validate(instructor_client, made, capture), score=100.0)
    made.wall_seconds += 60  # the limits the reference was graded under changed
    made.save()
    assert "spec or limits changed" in _release(instructor_client, made)

    play_reference_run(_validate(instructor_client, made, capture), score=100.0)
    validate = reverse("assignment-validate", args=[workshop.slug, made.slug])
    assert "may be released" in instructor_client.get(validate).content.decode()
    # Released from the edit form as a browser sends it (textarea lines ended
    # by CRLF), nothing changed: the validation still holds.
    edit = reverse("assignment-edit", args=[workshop.slug, made.slug])
    form = instructor_client.get(edit).context["form"]
    data = {n: form.initial.get(n, "") for n in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    for code in ("starter", "solution"):
        data[code] = data[code].replace("\n", "\r\n")
    saved = instructor_client.post(edit, {**data, "released": "on", "action": "save"})
    assert saved.status_code == 302, saved.context["form"].errors
    made.refresh_from_db()
    assert made.released


def test_a_pack_shipped_reference_is_released_without_a_validation(
    instructor_client, workshop, cnn
):
    """DL101 as the repository ships it stays releasable with no validation run;
    once its reference is edited, it is an authored assignment."""
    assignment_set_state(assignment=cnn, released=False)
    _release(instructor_client, cnn)
    assert cnn.released
    assignment_set_state(assignment=cnn, released=False)
    edit = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    form = instructor_client.get(edit).context["form"]
    data = {n: form.initial.get(n, "") for n in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(solution=data["solution"] + "\nprint('changed')\n", action="save")
    changed = instructor_client.post(edit, {**data, "released": "on"})
    assert changed.status_code == 400
    errors = changed.context["form"].errors
    assert list(errors) == ["released"] and "unreleased first" in str(errors)
    assert instructor_client.post(edit, data).status_code == 302
    assert "not been trained and graded" in _release(instructor_client, cnn)
    assert not cnn.released


def test_a_score_just_below_full_marks_never_reads_as_full_marks(
    instructor_client,
    participant,
    workshop,
    cnn,
    make_graded,
    outbox,
    django_capture_on_commit_callbacks,
):
    """A grade of 99.95 (the grader keeps two decimals) reads 99.9, not 100.0:
    rounded, Validate refused a reference that "scored 100.0 of 100", and a
    participant's page showed full marks they did not have (seen walking
    issue 27: a submission at 86.96% against a target of 87%)."""
    made = _authored(instructor_client, workshop)
    play_reference_run(
        _validate(instructor_client, made, django_capture_on_commit_callbacks),
        score=99.95,
    )
    validate = reverse("assignment-validate", args=[workshop.slug, made.slug])
    page = instructor_client.get(validate).content.decode()
    assert "Score 99.9 of 100" in page and "scored 99.9 of 100" in page
    assert "100.0 of 100" not in page
    assert "scored 99.9 of 100" in _release(instructor_client, made)
    assert not made.released

    mine = make_graded(participant, cnn, score=99.95)
    participant_client = Client()
    participant_client.force_login(participant)
    shown = participant_client.get(mine.get_absolute_url()).content.decode()
    assert '<span class="stat-value" id="score">99.9</span>' in shown
    board = reverse("leaderboard", args=[workshop.slug, cnn.slug])
    row = participant_client.get(board).content.decode()
    assert '<td class="num">99.9</td>' in row and "100.0" not in row
    matrix = instructor_client.get(reverse("dashboard", args=[workshop.slug]))
    assert "best 99.9" in matrix.content.decode()
    assert "best 100.0" not in matrix.content.decode()


def test_the_statistics_page_leads_to_validate_until_the_reference_holds(
    instructor_client,
    participant,
    workshop,
    make_graded,
    outbox,
    django_capture_on_commit_callbacks,
):
    """Creating an assignment lands on its statistics page: it says why the
    assignment is not releasable and links to Validate and Edit (walking issue
    27, the page offered neither: Validate was only linked from the edit
    form). An edit of the released assignment that changes its spec says the
    validation no longer holds, before the regrade is pressed."""
    made = _authored(instructor_client, workshop)
    stats = reverse("assignment-stats", args=[workshop.slug, made.slug])
    validate = reverse("assignment-validate", args=[workshop.slug, made.slug])
    edit = reverse("assignment-edit", args=[workshop.slug, made.slug])
    page = instructor_client.get(stats).content.decode()
    assert f'href="{validate}">Validate</a>' in page
    assert f'href="{edit}">Edit</a>' in page
    assert "Not releasable yet. The reference solution has not been trained" in page
    play_reference_run(
        _validate(instructor_client, made, django_capture_on_commit_callbacks)
    )
    assert 'id="reference-state"' not in instructor_client.get(stats).content.decode()
    _release(instructor_client, made)
    assert made.released
    make_graded(participant, made, score=100.0)

    form = instructor_client.get(edit).context["form"]
    data = {n: form.initial.get(n, "") for n in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(max_params="50000", released="on", action="save")
    page = instructor_client.post(edit, data, follow=True).content.decode()
    made.refresh_from_db()
    assert made.released and made.spec_version == 2
    state = page.split('id="reference-state">', 1)[1].split("</p>", 1)[0]
    assert state.startswith("Released, but the reference is not validated")
    assert "validate it before regrading" in state
    assert "spec or limits changed since the reference was last graded" in state
    assert "1 submission was last graded under an older version" in page
    play_reference_run(
        _validate(instructor_client, made, django_capture_on_commit_callbacks)
    )
    assert 'id="reference-state"' not in instructor_client.get(stats).content.decode()
