"""The check slice: a few training images per class and a public sample, cut
once per data version; nothing of the private split is in it."""

import numpy as np
import pytest

from checks.data import check_data_prepare
from workshops import folders

pytestmark = pytest.mark.django_db


def _rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x}


def test_slice_keeps_few_images_per_class_and_only_public_test_images(
    workshop, settings
):
    mlp = workshop.assignments.get(slug="mlp")
    data = check_data_prepare(assignment_id=mlp.pk)
    per_class = settings.DOJO_CHECK_TRAIN_PER_CLASS
    assert sorted(p.name for p in data.train_dir.iterdir()) == ["train.npz"]
    with np.load(data.train_dir / "train.npz") as train:
        assert np.bincount(train["y"]).tolist() == [per_class] * 10
        check_train = _rows(train["x"])
        # Shuffled, so a validation_split's last rows are not one class.
        assert len(set(train["y"][-per_class:].tolist())) > 1
    with np.load(folders.assignment_train_dir(mlp.pk) / "train.npz") as full:
        assert check_train <= _rows(full["x"])
    with np.load(folders.assignment_hidden_dir(mlp.pk) / "test.npz") as hidden:
        public, private = _rows(hidden["x_public"]), _rows(hidden["x_private"])
    with np.load(data.public_sample) as sample:
        assert sorted(sample.files) == [
            "x_private",
            "x_public",
            "y_private",
            "y_public",
        ]
        shown = _rows(sample["x_public"]) | _rows(sample["x_private"])
        assert np.array_equal(sample["x_public"], sample["x_private"])
        assert len(sample["y_public"]) == data.public_count
    assert shown <= public
    assert not shown & (private - public)
    assert data.train_count == per_class * 10


def test_slice_is_cut_once_and_again_for_new_data(workshop, settings):
    mlp = workshop.assignments.get(slug="mlp")
    first = check_data_prepare(assignment_id=mlp.pk)
    assert check_data_prepare(assignment_id=mlp.pk) == first
    settings.DOJO_CHECK_TRAIN_PER_CLASS = 7
    smaller = check_data_prepare(assignment_id=mlp.pk)
    assert smaller.train_dir != first.train_dir and smaller.train_count == 70


def test_slice_says_whether_it_is_the_whole_training_set(workshop, settings):
    """A slice that holds every training image says "all N", never "a slice"."""
    mlp = workshop.assignments.get(slug="mlp")
    with np.load(folders.assignment_train_dir(mlp.pk) / "train.npz") as full:
        total = len(full["y"])
    part = check_data_prepare(assignment_id=mlp.pk)
    assert part.training_slice() == (
        f"{part.train_count:,} of the {total:,} training images"
    )
    # A text assignment's participants read texts, not images.
    assert part.training_slice("texts").endswith(f"of the {total:,} training texts")
    settings.DOJO_CHECK_TRAIN_PER_CLASS = total  # more than any class has
    whole = check_data_prepare(assignment_id=mlp.pk)
    assert (whole.train_count, whole.train_total) == (total, total)
    assert whole.training_slice() == f"all {total:,} training images"


def test_a_text_assignment_is_told_of_texts_not_images():
    """The indicative note names the pack's examples (issue 28 for DL4NLP)."""
    from checks.feedback import examples_noun

    assert examples_noun({"checks": {"input_kind": "tokens"}}) == "texts"
    assert examples_noun({"checks": {"input_kind": "images"}}) == "images"
    assert examples_noun({}) == "images"
