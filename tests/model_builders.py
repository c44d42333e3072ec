"""Build submissions that already hold a trained model and a grade.

Models are built here with Keras (no training): "good" is a small MLP, "slow"
is cheap in memory and heavy in compute, "hog" needs gigabytes to grade,
"deep" (600 layers) is slow to load. "unread" is no model at all, for tests
where no grader opens it (a hand-built sandbox ending is the point): no Keras.
"""

from django.core.files.uploadedfile import SimpleUploadedFile

from grader import GradeReport
from submissions.models import Run, Status, Submission
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from submissions.storage import artifact_dir
from tests.helpers import ROOT, wait_for

UNREAD = "unread"


def keras_model(kind: str, input_shape: tuple[int, ...]):
    """Return an untrained model for the assignment's images."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = inputs
    scale = max(1, 64 // input_shape[0])
    if kind == "slow":
        # Heavy in compute, modest in memory: thirty narrow convolutions with
        # wide (21 x 21) kernels at ~64x64, far past any test's time budget
        # even on a quiet machine (11 x 11 once finished inside 6 s). Depth and
        # width cost memory instead: every layer's output for a batch is kept
        # until the call ends (7.9 GB for 120 layers of 16 filters, 300 images).
        x = layers.UpSampling2D(scale)(x)
        for _ in range(30):
            x = layers.Conv2D(8, 21, padding="same")(x)
        x = layers.GlobalAveragePooling2D()(x)
    elif kind == "hog":
        # Gigabytes of activations for one batch of the grader's smallest size
        # (32 images at 2048 x 2048 x 8 floats: 4.3 GB), far past the budget.
        x = layers.UpSampling2D(scale * 32)(x)
        x = layers.Conv2D(8, 3, padding="same")(x)
        x = layers.GlobalAveragePooling2D()(x)
    elif kind == "deep":
        # Six hundred narrow Dense layers: tiny in memory and compute, seconds
        # to deserialize (the "try your model" slow-load attack).
        x = layers.Flatten()(x)
        for _ in range(600):
            x = layers.Dense(4)(x)
    elif kind == "conv":
        # A small CNN: "what your model sees" draws its first convolution.
        x = layers.Conv2D(6, 3, padding="same", name="first_conv")(x)
        x = layers.Flatten()(layers.MaxPooling2D()(x))
    else:
        x = layers.Flatten()(x)
        x = layers.Dense(16, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(layers.Dense(10)(x))
    return keras.Model(inputs, outputs)


def old_report() -> GradeReport:
    """Return the grade each built submission starts with."""
    return GradeReport(status="graded", score=42.0, public_accuracy=0.42)


def evaluating_with_model(participant, assignment, kind: str = "good") -> Submission:
    """Return a submission waiting for its evaluation, as its training left
    it: a finished training run and a stored model of the given kind."""
    submission = submission_create(
        participant=participant,
        assignment=assignment,
        upload=SimpleUploadedFile(f"{kind}.py", b"print(1)\n"),
    )
    Submission.objects.filter(pk=submission.pk).update(status=Status.TRAINING)
    run = Run.objects.create(
        submission=submission,
        kind=Run.Kind.TRAIN,
        job_token=submission.job_token,
        queue="train-cpu",
        outcome=Run.Outcome.OK,
    )
    path = artifact_dir(submission.pk) / f"run-{run.pk}" / "model.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == UNREAD:
        path.write_bytes(b"a stored model no grader opens")
    else:
        keras_model(kind, tuple(assignment.spec["checks"]["input_shape"])).save(path)
    Run.objects.filter(pk=run.pk).update(artifact_path=str(path))
    Submission.objects.filter(pk=submission.pk).update(status=Status.EVALUATING)
    submission.refresh_from_db()
    return submission


def graded_with_model(participant, assignment, kind: str = "good") -> Submission:
    """Return a graded submission whose stored model is of the given kind."""
    submission = evaluating_with_model(participant, assignment, kind)
    run = submission.runs.get(kind=Run.Kind.TRAIN)
    grade_record(submission=submission, run=run, report=old_report())
    submission.refresh_from_db()
    return submission


def graded_reference(
    participant, workshop, slug: str = "mlp", pack: str = "dl101"
) -> Submission:
    """Submit an assignment's reference solution and wait for a real worker to
    grade it (the caller starts the worker)."""
    assignment = workshop.assignments.get(slug=slug)
    code = (ROOT / "assignments" / pack / slug / "solution.py").read_bytes()
    submission = submission_create(
        participant=participant,
        assignment=assignment,
        upload=SimpleUploadedFile(f"{slug}.py", code),
    )
    wait_for(
        lambda: (
            Submission.objects.get(pk=submission.pk).status
            in (Status.GRADED, Status.FAILED, Status.ERROR)
        ),
        timeout=240,
        what=f"the {slug} reference to be graded",
    )
    submission.refresh_from_db()
    assert submission.status == Status.GRADED, submission.status_reason
    return submission


def trained_here(*, participant, assignment, code: str, capture) -> Submission:
    """Submit ``code`` and run its training job in this process, as the
    worker's task does (no broker: the commit's message is captured, not sent);
    return the submission as the training left it."""
    from submissions.services.execution import submission_train
    from submissions.services.jobs import job_queue

    with capture(execute=False):
        submission = submission_create(
            participant=participant,
            assignment=assignment,
            upload=SimpleUploadedFile("train.py", code.encode()),
        )
        job_queue(submission=submission, kind=Run.Kind.TRAIN, status=Status.QUEUED)
    submission_train(
        submission_id=submission.pk,
        job_token=str(submission.job_token),
        worker="test@host",
        queue="train-cpu",
    )
    submission.refresh_from_db()
    return submission
