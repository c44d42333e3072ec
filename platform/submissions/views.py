"""The assignment page (upload), the submission page and its live status."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods, require_POST

from accounts.ratelimit import rate_take
from submissions import extensions, feedback, predictions, public_split, text_words
from submissions import selectors as submission_selectors
from submissions.models import Status, Submission
from submissions.services import lifecycle
from web import charts, images
from web.jsonbody import body_loads
from workshops import selectors as workshop_selectors

LOG_TAIL_CHARS = 64 * 1024

NEXT_STEP = {
    Status.FAILED: "Your code or model is the cause. Read the reason and the log, "
    "fix your code, and submit again.",
    Status.ERROR: "The platform is the cause, not you; this submission does not "
    "count against your daily limit. Submit again; if it happens twice, tell "
    "your instructor.",
    Status.CANCELLED: "This submission was cancelled. Submit again when ready.",
}


def _submission_for(request: HttpRequest, pk: int) -> tuple[Submission, bool]:
    """Return the submission for its owner or an instructor of its workshop."""
    submission = (
        Submission.objects.select_related(
            "assignment__workshop", "participant", "current_grade"
        )
        .filter(pk=pk)
        .first()
    )
    if submission is None:
        raise Http404("No such submission.")
    instructor = workshop_selectors.is_instructor(
        user=request.user, workshop=submission.assignment.workshop
    )
    if submission.participant_id != request.user.pk and not instructor:
        raise Http404("No such submission.")
    return submission, instructor


STEPS = [
    (Status.RECEIVED, "Received"),
    (Status.QUEUED, "Queued"),
    (Status.TRAINING, "Training"),
    (Status.EVALUATING, "Evaluating"),
    (Status.GRADED, "Graded"),
]


def timeline(submission: Submission, runs: list) -> list[dict]:
    """Return the steps of the status timeline with done/current/todo/stopped."""
    order = [s for s, _ in STEPS]
    if submission.status in order:
        reached = order.index(submission.status)
        stopped = None
    else:
        kinds = {run.kind for run in runs}
        trained = any(run.kind == "train" and run.artifact_path for run in runs)
        if trained or "evaluate" in kinds:
            reached = order.index(Status.EVALUATING)
        elif "train" in kinds:
            reached = order.index(Status.TRAINING)
        else:
            reached = order.index(Status.QUEUED)
        stopped = submission.status
    steps = []
    for index, (status, label) in enumerate(STEPS):
        if stopped and index == reached:
            state = "stopped"
            label = f"{label}: {submission.get_status_display().lower()}"
        elif stopped and index > reached:
            state = "todo"
        elif index < reached or submission.status == Status.GRADED:
            state = "done"
        elif index == reached:
            state = "current"
        else:
            state = "todo"
        steps.append({"status": status, "label": label, "state": state})
    return steps


def _live_state(submission: Submission, instructor: bool) -> dict:
    runs = list(submission.runs.order_by("started_at", "pk"))
    visible = runs if instructor else [r for r in runs if r.kind == "train"]
    log_run = next(
        (r for r in reversed(visible) if r.job_token == submission.job_token),
        visible[-1] if visible else None,
    )
    raw = log_run.log if log_run else ""
    log = raw
    if len(log) > LOG_TAIL_CHARS:
        log = "…(earlier output cut)…\n" + log[-LOG_TAIL_CHARS:]
    return {
        "runs": runs,
        "steps": timeline(submission, runs),
        "position": submission_selectors.queue_position(submission=submission),
        "log": log,
        "log_raw": raw,
        "log_run": log_run,
    }


def _log_update(live: dict, *, run_id: str, offset: str) -> dict:
    """Send only what the page lacks: the new end of the same, still whole log.

    A log whose start the sandbox dropped (past its cap) has shifted, so the
    page gets the tail again instead.
    """
    raw, run = live["log_raw"], live["log_run"]
    update = {"log_run": run.pk if run else None, "log_length": len(raw)}
    same_run = run is not None and run_id == str(run.pk)
    whole = not raw.startswith("[... ")
    if same_run and whole and offset.isdigit() and int(offset) <= len(raw):
        update["log_append"] = raw[int(offset) :]
    else:
        update["log"] = live["log"]
    return update


def _feedback(
    submission: Submission, instructor: bool, request: HttpRequest | None = None
) -> dict | None:
    grade = submission.current_grade
    if grade is None:
        return None
    report = grade.report or {}
    history = report.get("history") if isinstance(report.get("history"), dict) else {}
    show_private = instructor or submission.assignment.private_revealed
    spec = submission.assignment.spec
    matrix = report.get("confusion_matrix") or []
    names = feedback.class_names_for(spec, len(matrix))
    return {
        "grade": grade,
        "show_private": show_private,
        "max_score": report.get("max_score", 100),
        "layers": report.get("layers", []),
        "params_total": report.get("params_total"),
        "params_trainable": report.get("params_trainable"),
        "confusion_svg": charts.confusion_matrix(matrix, names),
        "per_class": feedback.per_class_rows(report.get("per_class_accuracy"), names),
        "misclassified": images.misclassified_gallery(
            report,
            input_shape=spec.get("checks", {}).get("input_shape"),
            class_names=names,
        ),
        "misclassified_text": _misclassified_text(submission, report, names),
        "sees": public_split.model_sees_for_page(
            report,
            assignment_id=submission.assignment_id,
            input_shape=spec.get("checks", {}).get("input_shape"),
            class_names=names,
            image=request.GET.get("image") if request else None,
            split=request.GET.get("split") if request else None,
        ),
        "curves_svg": charts.training_curves(history or {}),
        "history_note": report.get("history_note", ""),
        "reason": report.get("reason", ""),
    }


def _misclassified_text(submission: Submission, report: dict, names: list) -> list:
    vocabulary = text_words.text_vocabulary(submission=submission)
    if vocabulary is None:
        return []
    return feedback.misclassified_definitions(
        report.get("misclassified"), vocabulary=vocabulary, names=names
    )


def _try_model(submission: Submission) -> dict | None:
    if not predictions.prediction_available(submission=submission):
        return None
    if text_words.text_vocabulary(submission=submission) is not None:
        return {
            "text": True,
            "max_chars": text_words.MAX_TYPED_CHARS,
            "public_definitions": public_split.public_definitions_count(
                assignment_id=submission.assignment_id
            ),
        }
    height, width, channels = predictions.prediction_shape(submission=submission)
    return {
        "height": height,
        "width": width,
        "channels": channels,
        "samples": predictions.samples_for_page(submission=submission),
    }


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission, instructor = _submission_for(request, pk)
    live = _live_state(submission, instructor)
    context = {
        "submission": submission,
        "assignment": submission.assignment,
        "workshop": submission.assignment.workshop,
        "instructor": instructor,
        "own": submission.participant_id == request.user.pk,
        "feedback": _feedback(submission, instructor, request),
        "try_model": _try_model(submission),
        "next_step": NEXT_STEP.get(submission.status, ""),
        **live,
    }
    for extra in extensions.page_contexts():
        context.update(extra(submission))
    if instructor:
        context["grades"] = list(
            submission_selectors.grade_list_for_submission(submission=submission)
        )
    sees = (context["feedback"] or {}).get("sees") or {}
    # A refused pick (a private or unknown image) is the request's fault: 400.
    status = 400 if sees.get("error") else 200
    return render(request, "submissions/submission_detail.html", context, status=status)


@login_required
def submission_live(request: HttpRequest, pk: int) -> JsonResponse:
    """Return what the submission page refreshes while the job is active."""
    submission, instructor = _submission_for(request, pk)
    live = _live_state(submission, instructor)
    return JsonResponse(
        {
            "status": submission.status,
            "label": submission.get_status_display(),
            "active": submission.is_active,
            "reason": submission.status_reason,
            "position": live["position"],
            **_log_update(
                live,
                run_id=request.GET.get("run", ""),
                offset=request.GET.get("offset", ""),
            ),
            "timeline": render_to_string(
                "submissions/_timeline.html",
                {
                    "steps": live["steps"],
                    "position": live["position"],
                    "submission": submission,
                },
            ),
        },
        headers={"Cache-Control": "no-store"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def submission_predict(request: HttpRequest, pk: int) -> JsonResponse:
    """Try your model: POST an image (202 with an id), GET ?id= for the answer.

    A sentence with ``"explain": true`` asks which of its words moved the
    prediction instead ("what your model sees" for text).

    Neither waits on the predictor: the page polls until the answer is there.
    """
    submission, _ = _submission_for(request, pk)
    no_store = {"Cache-Control": "no-store"}
    try:
        if request.method == "GET":
            answer = predictions.prediction_poll(
                submission=submission,
                user_id=request.user.pk,
                request_id=request.GET.get("id", "")[:64],
            )
            return JsonResponse(answer, headers=no_store)
        body = body_loads(request.body or b"{}", max_depth=4)
        if not isinstance(body, dict):
            raise ValueError("not an object")
        if "public_index" in body and body.get("explain") is True:
            answer = predictions.explain_request_public(
                submission=submission,
                user_id=request.user.pk,
                index=body["public_index"],
            )
        elif "text" in body and body.get("explain") is True:
            answer = predictions.explain_request_text(
                submission=submission, user_id=request.user.pk, text=body["text"]
            )
        elif "text" in body:
            answer = predictions.prediction_request_text(
                submission=submission, user_id=request.user.pk, text=body["text"]
            )
        elif "public_index" in body:
            answer = predictions.maps_request(
                submission=submission,
                user_id=request.user.pk,
                image=body["public_index"],
            )
        else:
            answer = predictions.prediction_request(
                submission=submission,
                user_id=request.user.pk,
                pixels=body.get("pixels"),
            )
    except ValueError:
        return JsonResponse(
            {
                "error": 'Send JSON: {"pixels": ...}, {"text": ...} or '
                '{"public_index": ...}.'
            },
            status=400,
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    except predictions.PredictionUnavailable as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)
    poll = f"{request.path}?id={answer['id']}"
    return JsonResponse({**answer, "poll": poll}, status=202, headers=no_store)


@login_required
@require_POST
def submission_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    submission, _ = _submission_for(request, pk)
    if submission.is_active:
        lifecycle.submission_cancel(submission=submission)
        messages.info(request, "Cancelling: a running job stops within seconds.")
    return redirect(submission)


@login_required
def submission_code(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the submitted code: highlighted Python, or the notebook as HTML."""
    from submissions.rendering import submission_code_html

    # Cached, but still a page of up to 64,000 highlighted characters: one
    # participant reloading it in a loop held the web workers the room shares.
    limit = settings.DOJO_CODE_PAGES_PER_MINUTE
    wait = rate_take(key=f"code-page:{request.user.pk}", limit=limit, window=60)
    if wait is not None:
        return HttpResponse(
            f"You opened code pages {limit} times this minute. Wait {wait} s and "
            "reload; the file is also a download away.",
            status=429,
            headers={"Retry-After": str(wait)},
            content_type="text/plain; charset=utf-8",
        )
    submission, instructor = _submission_for(request, pk)
    return render(
        request,
        "submissions/submission_code.html",
        {
            "submission": submission,
            "assignment": submission.assignment,
            "workshop": submission.assignment.workshop,
            "instructor": instructor,
            "code_html": submission_code_html(submission=submission),
        },
    )


@login_required
def submission_code_download(request: HttpRequest, pk: int) -> FileResponse:
    """Send the submitted file as it was uploaded (the code page shows its start)."""
    submission, _ = _submission_for(request, pk)
    return FileResponse(
        submission.file.open("rb"),
        as_attachment=True,
        filename=submission.original_name,
        content_type="application/octet-stream",
    )
