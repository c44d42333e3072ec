"""What your model sees: the first convolution's filters and feature maps.

The maps are computed by the real grader (as in the evaluation sandbox), pass
through the worker's hostile-output reader, and are checked again by the page.
"""

import base64
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from grader import grade
from submissions import prediction_worker, tasks
from submissions.models import Status
from submissions.prediction_rows import Prediction
from submissions.public_split import public_image_get, public_split_sizes
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from tests.model_builders import graded_with_model
from web.images import png_data_uri
from workers.outputs import report_parse
from workshops import folders


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
    # The filters stand apart, framed, as in the theory notes (issue 28: 15).
    assert 'class="image-row filter-strip" id="sees-filters"' in page
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
        ("image=999999", "There is no public test image &#x27;999999&#x27;"),
        ("image=-1", "&#x27;-1&#x27; is not a test image number"),
        ("image=%3Cscript%3E", "&lt;script&gt;"),
        ("image=1.5", "use a whole number from 0 to"),
        ("image=%2B1", "&#x27;+1&#x27; is not a test image number"),
        ("image=%201", "is not a test image number"),
        ("image=", "is not a test image number"),
        ("image=0x1", "is not a test image number"),
        ("image=" + "9" * 40, "There is no public test image"),
    ],
)
def test_private_or_unknown_images_are_refused_clearly(
    participant_client, participant, cnn, cnn_report, query, needle
) -> None:
    """A private or out-of-range pick is a 400 with a message, never a 5xx; the
    rest of the page (the quick picks, the number field) still shows."""
    submission = _graded(participant, cnn, cnn_report)
    response = participant_client.get(f"{submission.get_absolute_url()}?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert needle in page and "'<script>'" not in page
    assert 'id="sees-error"' in page and 'id="sees-index"' in page
    assert page.count('alt="Public test image') == 10


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


def test_any_public_image_can_be_picked_by_its_index(
    participant_client, participant, cnn, cnn_report
) -> None:
    """A public image the grader did not draw is shown (from the public images
    kept for the site), and the page asks the predictor for its maps."""
    sizes = public_split_sizes(assignment_id=cnn.pk)
    quick = {i["index"] for i in cnn_report["feature_maps"]["images"]}
    index = sizes["public"] - 1
    assert index not in quick
    submission = _graded(participant, cnn, cnn_report)
    url = submission.get_absolute_url()
    page = participant_client.get(url).content.decode()
    assert f'max="{index}"' in page and f"from 0 to {index}" in page
    response = participant_client.get(f"{url}?image={index}")
    assert response.status_code == 200
    page = response.content.decode()
    name = cnn.spec["class_names"][sizes["labels"][index]]
    assert f"Feature maps of public test image {index} ({name})" in page
    assert f'data-index="{index}"' in page and "js/sees.js" in page
    raw = base64.b64decode(public_image_get(assignment_id=cnn.pk, index=index))
    drawn = png_data_uri(raw, height=28, width=28, channels=1)
    assert f'src="{drawn}" alt="the image"' in page


def test_an_index_of_the_private_split_is_refused_by_name(
    participant_client, participant, cnn, cnn_report
) -> None:
    """Indices run over the hidden split, public first: the first private one
    is refused as private, the one past the end as unknown."""
    sizes = public_split_sizes(assignment_id=cnn.pk)
    submission = _graded(participant, cnn, cnn_report)
    url = submission.get_absolute_url()
    first_private = sizes["public"]
    response = participant_client.get(f"{url}?image={first_private}")
    assert response.status_code == 400
    assert (
        f"Test image {first_private} belongs to the private test set"
        in response.content.decode()
    )
    past = sizes["public"] + sizes["private"]
    response = participant_client.get(f"{url}?image={past}")
    assert response.status_code == 400
    assert "There is no public test image" in response.content.decode()


def test_only_public_images_are_kept_for_the_site(cnn) -> None:
    """The site's copy holds the public half, byte for byte, and no private image."""
    hidden = folders.assignment_hidden_dir(cnn.pk) / "test.npz"
    with np.load(hidden) as data:
        public = np.clip(np.rint(data["x_public"] * 255), 0, 255).astype(np.uint8)
        private = np.clip(np.rint(data["x_private"] * 255), 0, 255).astype(np.uint8)
        labels = data["y_public"].tolist()
    kept = np.load(folders.assignment_materials_dir(cnn.pk) / "public_images.npy")
    assert kept.shape == public.shape and np.array_equal(kept, public)
    assert public_split_sizes(assignment_id=cnn.pk)["labels"] == labels
    public_rows = {row.tobytes() for row in public}
    only_private = [row for row in private if row.tobytes() not in public_rows]
    assert only_private and not any(
        np.array_equal(row, k) for row in only_private[:20] for k in kept
    )


@pytest.mark.parametrize(
    ("index", "needle"),
    [
        ("first_private", "belongs to the private test set"),
        (-1, "is not a test image number"),
        (1.5, "is not a test image number"),
        (True, "is not a test image number"),
        ("abc", "is not a test image number"),
        ([1], "is not a test image number"),
        (10**12, "There is no public test image"),
    ],
)
def test_maps_requests_for_other_than_a_public_index_are_refused(
    participant_client, participant, cnn, outbox, index, needle
) -> None:
    """The maps endpoint checks the index as strictly as the page: 400, nothing
    sent to the predictor."""
    submission = graded_with_model(participant, cnn)
    if index == "first_private":
        index = public_split_sizes(assignment_id=cnn.pk)["public"]
    response = participant_client.post(
        f"/s/{submission.pk}/predict/",
        json.dumps({"public_index": index}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert outbox == []


def test_a_maps_request_for_a_public_index_goes_to_the_predictor(
    participant_client, participant, cnn, outbox, django_capture_on_commit_callbacks
) -> None:
    """It is queued like a prediction, with that public image's own pixels."""
    submission = graded_with_model(participant, cnn)
    with django_capture_on_commit_callbacks(execute=True):
        response = participant_client.post(
            f"/s/{submission.pk}/predict/",
            json.dumps({"public_index": 3}),
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    assert participant_client.get(response.json()["poll"]).json() == {
        "status": "pending"
    }
    [sent] = outbox
    assert sent["queue"] == "predict"
    asked = Prediction.objects.get(pk=sent["args"][0])
    assert asked.kind == "maps"
    assert asked.asked == public_image_get(assignment_id=cnn.pk, index=3)


def test_maps_of_a_picked_public_image_come_back_from_the_sandboxed_predictor(
    participant_client,
    participant,
    cnn,
    outbox,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    """The page's request, the worker's task and the real warm predictor: the
    poll answers with the first convolution's maps, drawn by the site."""
    settings.DOJO_PREDICT_TIMEOUT_SECONDS = 150  # the predictor's first start
    submission = graded_with_model(participant, cnn, kind="conv")
    with django_capture_on_commit_callbacks(execute=True):
        posted = participant_client.post(
            f"/s/{submission.pk}/predict/",
            json.dumps({"public_index": 5}),
            content_type="application/json",
        )
    assert posted.status_code == 202, posted.content
    [sent] = outbox
    try:
        tasks.predict(*sent["args"])
    finally:
        if prediction_worker._predictor is not None:
            prediction_worker._predictor.stop()
            prediction_worker._predictor = None
    answer = participant_client.get(posted.json()["poll"])
    assert answer.status_code == 200, answer.content
    maps = answer.json()["maps"]
    assert answer.json()["status"] == "done" and len(maps) == 6
    assert all(m.startswith("data:image/png;base64,") for m in maps)
