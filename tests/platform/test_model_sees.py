"""What your model sees: the first convolution's filters and feature maps.

The maps are computed by the real grader (as in the evaluation sandbox), pass
through the worker's hostile-output reader, and are checked again by the page.
"""

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from grader import grade
from submissions.models import Status
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from workers.outputs import report_parse


@pytest.fixture(scope="module")
def cnn_report(tmp_path_factory) -> dict:
    """Grade a small 28 x 28 CNN with the real grader on a tiny hidden split."""
    import keras

    folder = tmp_path_factory.mktemp("sees")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 3)
    x = rng.random((30, 28, 28, 1), dtype=np.float32)
    np.savez(folder / "test.npz", x_public=x, y_public=y, x_private=x, y_private=y)
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 3, padding="same", activation="relu", name="first_conv"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.save(folder / "model.keras")
    spec = {"checks": {"input_shape": [28, 28, 1], "num_classes": 10}, "score": {}}
    report = grade(folder / "model.keras", spec, folder / "test.npz")
    # As the worker reads it back from the evaluation sandbox.
    return report_parse(json.loads(json.dumps(report.to_dict()))).to_dict()


def _graded(participant, assignment, data: dict):
    submission = submission_create(
        participant=participant,
        assignment=assignment,
        upload=SimpleUploadedFile("t.py", b"print(1)\n"),
    )
    from grader import GradeReport

    with transaction.atomic():
        submission.move_to(Status.QUEUED)
        submission.move_to(Status.EVALUATING)
        submission.save()
        grade_record(
            submission=submission, run=None, report=GradeReport.from_dict(data)
        )
    return submission


def test_grader_keeps_first_conv_maps_of_one_public_image_per_class(
    cnn_report,
) -> None:
    maps = cnn_report["feature_maps"]
    assert maps["layer"] == "first_conv" and maps["size"] == [28, 28]
    assert len(maps["filters"]) == 6 and maps["kernel_size"] == [3, 3]
    assert [i["label"] for i in maps["images"]] == list(range(10))
    assert all(len(i["maps"]) == 6 for i in maps["images"])


def test_participant_picks_a_public_image(
    participant_client, participant, cnn, cnn_report
) -> None:
    """The page shows the filters and the picked image's maps."""
    submission = _graded(participant, cnn, cnn_report)
    url = submission.get_absolute_url()
    page = participant_client.get(url).content.decode()
    assert "What your model sees" in page
    assert page.count('alt="filter ') == 6
    picked = cnn_report["feature_maps"]["images"][4]["index"]
    response = participant_client.get(f"{url}?image={picked}")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Feature maps of public test image {picked} (Coat)" in page
    assert page.count('alt="feature map ') == 6


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("split=private&image=0", "Only public test images can be shown"),
        ("image=99999", "There is no public test image &#x27;99999&#x27;"),
        ("image=-1", "pick one of"),
        ("image=%3Cscript%3E", "&lt;script&gt;"),
    ],
)
def test_private_or_unknown_images_are_refused_clearly(
    participant_client, participant, cnn, cnn_report, query, needle
) -> None:
    """A private or out-of-range pick is a 400 with a message, never a 5xx."""
    submission = _graded(participant, cnn, cnn_report)
    response = participant_client.get(f"{submission.get_absolute_url()}?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert needle in page and "'<script>'" not in page


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: m.update(size=[28, 999]),
        lambda m: m.update(filters=["!!notbase64"]),
        lambda m: m["images"][0].update(maps=["AAAA"]),
        lambda m: m.update(images="many"),
        lambda m: m.update(kernel_size=[3]),
    ],
)
def test_damaged_maps_from_the_sandbox_are_not_drawn(
    participant_client, participant, cnn, cnn_report, damage
) -> None:
    """Maps with a wrong size, length or encoding are dropped; the page stays up."""
    data = json.loads(json.dumps(cnn_report))
    damage(data["feature_maps"])
    submission = _graded(participant, cnn, data)
    response = participant_client.get(submission.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    if "What your model sees" in page:
        # Only the damaged image was dropped; the others still show.
        assert 'alt="Public test image' in page
