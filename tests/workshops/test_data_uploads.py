"""Instructors replace a dataset or a transfer base; a refusal changes nothing."""

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from workshops import folders
from workshops.data_uploads import assignment_base_upload, assignment_dataset_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_data_root")]

PER_CLASS = 20


def npz(**arrays) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return SimpleUploadedFile("faces.npz", buffer.getvalue())


def images(n: int = 3 * PER_CLASS) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 6, 6), dtype="uint8")


def labels(n_classes: int = 3) -> np.ndarray:
    return np.repeat(np.arange(n_classes), PER_CLASS)


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def snapshot(assignment) -> dict:
    """Everything an upload may change: the spec row and every data file."""
    assignment.refresh_from_db()
    folder = folders.assignment_dir(assignment.pk)
    return {
        "spec": assignment.spec,
        "version": assignment.spec_version,
        "sha": assignment.spec_sha256,
        "files": {
            str(p.relative_to(folder)): digest(p)
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        },
    }


def refusal(call, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        call(**kwargs)
    return " ".join(caught.value.messages)


def test_a_good_npz_replaces_the_data_and_bumps_the_version(workshop):
    """The new split is installed, the spec follows it, the test split stays hidden."""
    cnn = workshop.assignments.get(slug="cnn")
    seed = cnn.spec["dataset"]["seed"]
    upload = npz(x=images(), y=labels())
    cnn = assignment_dataset_upload(assignment=cnn, upload=upload)
    cnn.refresh_from_db()
    assert cnn.spec_version == 2
    assert cnn.spec["dataset"] == {
        "source": "npz",
        "sha256": hashlib.sha256(upload.file.getvalue()).hexdigest(),
        "seed": seed,
    }
    assert cnn.spec["checks"]["input_shape"] == [6, 6, 1]
    assert cnn.spec["checks"]["num_classes"] == 3
    assert cnn.spec["class_names"] == ["0", "1", "2"]
    assert cnn.spec["checks"]["required_layers"] == {
        "Conv2D": 2,
        "MaxPooling2D": 1,
        "Dropout": 1,
    }
    train_dir = folders.assignment_train_dir(cnn.pk)
    assert sorted(p.name for p in train_dir.iterdir()) == ["train.npz"]
    with np.load(train_dir / "train.npz") as train:
        assert sorted(train.files) == ["x", "y"]
        assert train["x"].shape == (36, 6, 6, 1)
    with np.load(folders.assignment_hidden_dir(cnn.pk) / "test.npz") as test:
        assert len(test["y_public"]) == len(test["y_private"]) == 12
    uploads = folders.assignment_dir(cnn.pk) / "uploads"
    assert [p.name for p in uploads.iterdir()] == [
        f"{cnn.spec['dataset']['sha256']}.npz"
    ]


def test_the_transfer_train_dir_keeps_its_base_and_never_gets_the_test_split(workshop):
    transfer = workshop.assignments.get(slug="transfer")
    assignment_dataset_upload(assignment=transfer, upload=npz(x=images(), y=labels()))
    train_dir = folders.assignment_train_dir(transfer.pk)
    assert sorted(p.name for p in train_dir.iterdir()) == ["base.keras", "train.npz"]


BAD_DATASETS = {
    "missing array": (
        lambda: npz(x=images()),
        "The upload has no array named y",
    ),
    "wrong ndim": (
        lambda: npz(x=images().reshape(60, 36), y=labels()),
        "x has shape (60, 36); expected N x H x W",
    ),
    "non-numeric dtype": (
        lambda: npz(x=np.full((60, 6, 6), "a"), y=labels()),
        "images must be numbers",
    ),
    "NaN": (
        lambda: npz(x=np.full((60, 6, 6), np.nan, dtype="float32"), y=labels()),
        "x contains NaN or infinite values",
    ),
    "label out of range": (
        lambda: npz(x=images(), y=np.where(labels() == 2, 7, labels())),
        "Labels must be the integers 0..K-1 with every class present (found [0, 1, 7])",
    ),
    "length mismatch": (
        lambda: npz(x=images(), y=labels()[:-1]),
        "x has 60 images but y has 59 labels",
    ),
    "not an npz": (
        lambda: SimpleUploadedFile("faces.npz", b"x,y\n1,2\n"),
        "faces.npz is not an .npz archive. Save it with np.savez_compressed",
    ),
    "a pickle inside": (
        lambda: npz(x=np.array([{"a": 1}] * 60, dtype=object), y=labels()),
        "The upload holds Python objects, which are never loaded",
    ),
    "empty": (
        lambda: SimpleUploadedFile("faces.npz", b""),
        "The file is empty",
    ),
}


@pytest.mark.parametrize("case", BAD_DATASETS, ids=str)
def test_a_bad_npz_is_refused_with_its_reason_and_nothing_changes(case, workshop):
    make_upload, message = BAD_DATASETS[case]
    cnn = workshop.assignments.get(slug="cnn")
    before = snapshot(cnn)
    assert message in refusal(
        assignment_dataset_upload, assignment=cnn, upload=make_upload()
    )
    assert snapshot(cnn) == before


def test_a_refusal_after_a_good_upload_keeps_the_uploaded_data(workshop):
    mlp = workshop.assignments.get(slug="mlp")
    assignment_dataset_upload(assignment=mlp, upload=npz(x=images(), y=labels()))
    before = snapshot(mlp)
    refusal(assignment_dataset_upload, assignment=mlp, upload=npz(x=images()))
    assert snapshot(mlp) == before
    assert before["version"] == 2


def test_an_upload_over_the_size_limit_is_refused(workshop, settings):
    settings.DOJO_DATASET_MAX_BYTES = 1000
    cnn = workshop.assignments.get(slug="cnn")
    before = snapshot(cnn)
    message = refusal(
        assignment_dataset_upload,
        assignment=cnn,
        upload=npz(x=images(), y=labels()),
    )
    assert message.endswith("; the limit is 1,000 bytes. Upload a smaller file.")
    assert snapshot(cnn) == before


# --- The transfer base ----------------------------------------------------------


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory) -> dict[str, bytes]:
    """Tiny models saved once: a good base, a Lambda model, a weightless one."""
    import keras

    folder = tmp_path_factory.mktemp("bases")
    layers = keras.layers
    inputs = keras.Input(shape=(8, 8, 1))
    good = keras.Model(inputs, layers.Flatten()(layers.Conv2D(2, 3)(inputs)))
    good.save(folder / "good.keras")
    inputs = keras.Input(shape=(8, 8, 1))
    lambda_model = keras.Model(
        inputs,
        layers.Dense(2)(layers.Flatten()(layers.Lambda(lambda t: t * 2)(inputs))),
    )
    lambda_model.save(folder / "lambda.keras")
    inputs = keras.Input(shape=(8, 8, 1))
    keras.Model(inputs, layers.Flatten()(inputs)).save(folder / "weightless.keras")
    names = ("good", "lambda", "weightless")
    return {name: (folder / f"{name}.keras").read_bytes() for name in names}


def test_a_good_base_is_published_and_bumps_the_version(workshop, keras_files):
    transfer = workshop.assignments.get(slug="transfer")
    upload = SimpleUploadedFile("my-base.keras", keras_files["good"])
    transfer = assignment_base_upload(assignment=transfer, upload=upload)
    transfer.refresh_from_db()
    assert transfer.spec_version == 2
    base = folders.assignment_train_dir(transfer.pk) / "base.keras"
    assert base.read_bytes() == keras_files["good"]
    assert transfer.spec["base_model"]["input_shape"] == [8, 8, 1]
    assert transfer.spec["base_model"]["sha256"] == digest(base)
    train_dir = folders.assignment_train_dir(transfer.pk)
    assert sorted(p.name for p in train_dir.iterdir()) == ["base.keras", "train.npz"]


def hdf5_file() -> bytes:
    return b"\x89HDF\r\n\x1a\n" + bytes(2048)


BAD_BASES = {
    "lambda layer": (lambda files: files["lambda"], "uses Lambda"),
    "no weights": (lambda files: files["weightless"], "no layers with weights"),
    "legacy h5": (lambda files: hdf5_file(), "legacy HDF5 (.h5)"),
    "empty": (lambda files: b"", "The file is empty"),
    "random bytes": (lambda files: os.urandom(4096), "not a Keras archive"),
    "a pickle": (lambda files: b"\x80\x04K\x01." + bytes(64), "a Python pickle"),
    "a zip that is no model": (
        lambda files: _zip({"notes.txt": b"hello"}),
        "not a Keras model",
    ),
}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("case", BAD_BASES, ids=str)
def test_an_unsafe_or_broken_base_is_refused_and_nothing_changes(
    case, workshop, request
):
    make_bytes, message = BAD_BASES[case]
    keras_cases = ("lambda layer", "no weights")
    files = request.getfixturevalue("keras_files") if case in keras_cases else {}
    transfer = workshop.assignments.get(slug="transfer")
    before = snapshot(transfer)
    upload = SimpleUploadedFile("base.keras", make_bytes(files))
    assert message in refusal(
        assignment_base_upload, assignment=transfer, upload=upload
    )
    assert snapshot(transfer) == before


def test_a_base_is_refused_for_an_assignment_without_one(workshop):
    cnn = workshop.assignments.get(slug="cnn")
    before = snapshot(cnn)
    upload = SimpleUploadedFile("base.keras", _zip({"config.json": b"{}"}))
    message = refusal(assignment_base_upload, assignment=cnn, upload=upload)
    assert "Only a transfer-learning assignment has a pretrained base" in message
    assert snapshot(cnn) == before


# --- The page -------------------------------------------------------------------


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_instructor_page_replaces_the_dataset_and_says_what_changed(
    workshop, instructor
):
    client = login(instructor)
    url = reverse("assignment-data", args=[workshop.slug, "mlp"])
    page = client.get(url)
    assert page.status_code == 200
    assert "Upload a pretrained base" not in page.content.decode()
    bad = client.post(url, {"action": "dataset", "dataset": npz(x=images())})
    assert bad.status_code == 400
    assert 'id="id_dataset_error"' in bad.content.decode()
    assert "no array named y" in bad.content.decode()
    ok = client.post(
        url, {"action": "dataset", "dataset": npz(x=images(), y=labels())}, follow=True
    )
    assert ok.redirect_chain[-1][0] == url
    assert (
        "New dataset: 36 training images of 6x6x1, 3 classes; spec v2."
        in ok.content.decode()
    )


def test_the_transfer_page_publishes_a_base_and_warns_of_a_shape_mismatch(
    workshop, instructor, keras_files
):
    client = login(instructor)
    url = reverse("assignment-data", args=[workshop.slug, "transfer"])
    assert "Upload a pretrained base" in client.get(url).content.decode()
    bad = client.post(
        url, {"action": "base", "base": SimpleUploadedFile("b.keras", hdf5_file())}
    )
    assert bad.status_code == 400
    assert 'id="id_base_error"' in bad.content.decode()
    base = SimpleUploadedFile("b.keras", keras_files["good"])
    ok = client.post(url, {"action": "base", "base": base}, follow=True)
    assert "New pretrained base for 8x8x1 images" in ok.content.decode()
    assert "spec v2" in ok.content.decode()
    data = npz(x=images(), y=labels())
    ok = client.post(url, {"action": "dataset", "dataset": data}, follow=True)
    page = ok.content.decode()
    assert "New dataset: 36 training images of 6x6x1, 3 classes; spec v3." in page
    assert "The base takes 8x8x1 images but the data is 6x6x1" in page


def test_participants_cannot_open_or_post_to_the_page(
    workshop, participant, instructor
):
    client = login(participant)
    url = reverse("assignment-data", args=[workshop.slug, "cnn"])
    cnn = workshop.assignments.get(slug="cnn")
    before = snapshot(cnn)
    assert client.get(url).status_code in (403, 404)
    posted = client.post(
        url, {"action": "dataset", "dataset": npz(x=images(), y=labels())}
    )
    assert posted.status_code in (403, 404)
    assert snapshot(cnn) == before
    assert Client().get(url).status_code == 302


def test_a_replaced_upload_is_deleted_once_the_new_one_is_committed(
    workshop, django_capture_on_commit_callbacks
):
    mlp = workshop.assignments.get(slug="mlp")
    with django_capture_on_commit_callbacks(execute=True):
        assignment_dataset_upload(assignment=mlp, upload=npz(x=images(), y=labels()))
    with django_capture_on_commit_callbacks(execute=True):
        mlp = assignment_dataset_upload(
            assignment=mlp, upload=npz(x=images()[::-1], y=labels())
        )
    uploads = folders.assignment_dir(mlp.pk) / "uploads"
    assert [p.name for p in uploads.iterdir()] == [
        f"{mlp.spec['dataset']['sha256']}.npz"
    ]
    assert mlp.spec_version == 3


def test_reloading_the_pack_keeps_an_uploaded_dataset_and_base(workshop, keras_files):
    """`load_workshop` again updates the pack's parts, not the instructor's data."""
    from workshops.services import workshop_load_pack

    cnn = assignment_dataset_upload(
        assignment=workshop.assignments.get(slug="cnn"),
        upload=npz(x=images(), y=labels()),
    )
    cnn.refresh_from_db()
    transfer = workshop.assignments.get(slug="transfer")
    good = SimpleUploadedFile("my-base.keras", keras_files["good"])
    assignment_base_upload(assignment=transfer, upload=good)
    transfer.refresh_from_db()
    base = folders.assignment_train_dir(transfer.pk) / "base.keras"
    base_bytes = base.read_bytes()
    before = {a.slug: (a.spec, a.spec_version) for a in (cnn, transfer)}
    train = folders.assignment_train_dir(cnn.pk) / "train.npz"
    train_bytes = train.read_bytes()
    workshop_load_pack(path=Path(__file__).resolve().parents[2] / "assignments/dl101")
    for a in (cnn, transfer):
        a.refresh_from_db()
        assert (a.spec, a.spec_version) == before[a.slug]
    assert train.read_bytes() == train_bytes
    assert base.read_bytes() == base_bytes
