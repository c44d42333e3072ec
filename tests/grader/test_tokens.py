"""Token-sequence inputs (the DL4NLP pack): the grader reads word ids, not images.

A synthetic task stands in for WordNet so that each model trains in a second:
sequences of 12 word ids, and the class is which of four signal words occurs.
The pack's own spec supplies the checks (its input length replaced).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import grade
from grader._metrics import load_test_split

PACK = Path(__file__).resolve().parents[2] / "assignments" / "dl4nlp"
LENGTH, VOCABULARY, CLASSES = 12, 60, 4


def _sequences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(10, VOCABULARY, size=(n, LENGTH)).astype(np.int32)
    y = rng.integers(0, CLASSES, size=n).astype(np.int64)
    x[np.arange(n), rng.integers(0, LENGTH, size=n)] = 2 + y  # the signal word
    x[:, -2:] = 0  # padding after the words, as the pack's encoding leaves it
    return x, y


@pytest.fixture(scope="module")
def token_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x_public, y_public = _sequences(200, seed=1)
    x_private, y_private = _sequences(200, seed=2)
    path = tmp_path_factory.mktemp("tokens") / "test.npz"
    np.savez(
        path,
        x_public=x_public,
        y_public=y_public,
        x_private=x_private,
        y_private=y_private,
    )
    return path


def _spec(slug: str) -> dict[str, Any]:
    spec = json.loads((PACK / slug / "spec.json").read_text())
    spec["checks"] = {**spec["checks"], "input_shape": [LENGTH], "num_classes": 4}
    return spec


def _fit(keras: Any, model: Any) -> Any:
    x, y = _sequences(600, seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy"
    )
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return model


def _save(model: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.keras"
    model.save(path)
    return path


def _check(report: Any, check_id: str) -> Any:
    return next(c for c in report.checks if c.id == check_id)


def test_token_ids_stay_integers(token_split: Path) -> None:
    split = load_test_split(token_split)
    assert split.x_public.dtype == np.int32 and split.image_shape == (LENGTH,)


def test_a_sequence_model_on_word_ids_passes_and_is_measured(
    keras_mod: Any, token_split: Path, tmp_path: Path
) -> None:
    """Embedding + Conv1D on int32 ids: graded, and both layers found to be used."""
    layers = keras_mod.layers
    model = _fit(
        keras_mod,
        keras_mod.Sequential(
            [
                keras_mod.Input(shape=(LENGTH,), dtype="int32"),
                layers.Embedding(VOCABULARY, 8),
                layers.Conv1D(16, 3, activation="relu"),
                layers.GlobalMaxPooling1D(),
                layers.Dense(CLASSES, activation="softmax"),
            ]
        ),
    )
    report = grade(_save(model, tmp_path, "seq"), _spec("sequence"), token_split)
    assert report.status == "graded", report.reason
    assert report.public_accuracy > 0.8
    assert report.passed_checks, [c.message for c in report.checks if not c.passed]
    assert (
        "Conv1D, LSTM, GRU or Bidirectional"
        in _check(report, "required_layer:Conv1D|LSTM|GRU|Bidirectional").message
    )
    assert (
        "shuffled across definitions"
        in _check(report, "contribution:Embedding").message
    )
    wrong = report.misclassified
    assert all("tokens" in item and "pixels" not in item for item in wrong)
    assert all(0 not in item["tokens"] for item in wrong)


def test_an_image_shaped_model_is_refused_with_what_to_use(
    keras_mod: Any, token_split: Path, tmp_path: Path
) -> None:
    """A model for 28 x 28 images fails with the token input it needs instead."""
    layers = keras_mod.layers
    model = keras_mod.Sequential(
        [
            keras_mod.Input(shape=(28, 28, 1)),
            layers.Flatten(),
            layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    report = grade(_save(model, tmp_path, "image"), _spec("meet"), token_split)
    assert report.status == "failed"
    assert f'keras.Input(shape=({LENGTH},), dtype="int32")' in report.reason
    assert "Embedding" in report.reason and "images are" not in report.reason


def test_no_sequence_layer_names_every_accepted_one(
    keras_mod: Any, token_split: Path, tmp_path: Path
) -> None:
    layers = keras_mod.layers
    model = _fit(
        keras_mod,
        keras_mod.Sequential(
            [
                keras_mod.Input(shape=(LENGTH,), dtype="int32"),
                layers.Embedding(VOCABULARY, 8),
                layers.GlobalAveragePooling1D(),
                layers.Dense(CLASSES, activation="softmax"),
            ]
        ),
    )
    report = grade(_save(model, tmp_path, "noseq"), _spec("sequence"), token_split)
    check = _check(report, "required_layer:Conv1D|LSTM|GRU|Bidirectional")
    assert not check.passed
    assert "keras.layers.Conv1D or keras.layers.LSTM" in check.message
    assert report.score <= 50


def test_an_embedding_that_is_added_with_zero_weight_fails_its_contribution(
    keras_mod: Any, token_split: Path, tmp_path: Path
) -> None:
    """The bag of words does the work; the Embedding branch is added times zero."""
    layers = keras_mod.layers
    inputs = keras_mod.Input(shape=(LENGTH,), dtype="int32")
    bag = layers.CategoryEncoding(num_tokens=VOCABULARY, output_mode="multi_hot")(
        inputs
    )
    real = layers.Dense(CLASSES)(bag)
    carried = layers.GlobalMaxPooling1D()(
        layers.Conv1D(4, 3)(layers.Embedding(VOCABULARY, 8)(inputs))
    )
    zero = layers.Dense(
        CLASSES, kernel_initializer="zeros", bias_initializer="zeros", trainable=False
    )(carried)
    outputs = layers.Activation("softmax")(layers.Add()([real, zero]))
    model = _fit(keras_mod, keras_mod.Model(inputs, outputs))
    report = grade(_save(model, tmp_path, "carried"), _spec("sequence"), token_split)
    assert report.status == "graded" and report.public_accuracy > 0.8
    check = _check(report, "contribution:Embedding")
    assert not check.passed
    assert "across definitions" in check.message
    assert "does not feed your prediction" in check.message


def test_the_warm_predictor_answers_a_sentence_as_word_ids(
    keras_mod: Any, tmp_path: Path
) -> None:
    """ "t:" + int32 ids gets the top three; ids an image model cannot take do not."""
    import base64

    from grader._serve import _Models, answer

    layers = keras_mod.layers
    keras_mod.Sequential(
        [
            keras_mod.Input(shape=(LENGTH,), dtype="int32"),
            layers.Embedding(VOCABULARY, 4),
            layers.GlobalAveragePooling1D(),
            layers.Dense(CLASSES, activation="softmax"),
        ]
    ).save(tmp_path / "words.keras")
    keras_mod.Sequential(
        [keras_mod.Input((8, 8, 1)), layers.Flatten(), layers.Dense(CLASSES)]
    ).save(tmp_path / "image.keras")
    models = _Models(tmp_path, load_seconds=8.0)

    def ask(key: str, ids: list[int]) -> dict[str, Any]:
        raw = np.array(ids, dtype="<i4").tobytes()
        return answer(
            {"model": key, "pixels": "t:" + base64.b64encode(raw).decode()}, models
        )

    top = ask("words", [2, 3, 4] + [0] * (LENGTH - 3))["top"]
    assert len(top) == 3 and all(0 <= k < CLASSES for k, _ in top)
    assert "exactly 12 word ids" in ask("words", [2, 3])["error"]
    assert "out of range" in ask("words", [-1] + [0] * (LENGTH - 1))["error"]
    assert "not words" in ask("image", [2] * 16)["error"]


def test_a_bag_of_words_batch_stays_within_the_activation_budget() -> None:
    """20,000 counts a definition: the grader's batches shrink to fit 128 MiB;
    an Embedding + Conv1D sequence is small enough for the largest batch."""
    from grader._predict import (
        ACTIVATION_BUDGET_BYTES,
        MAX_CHUNK,
        chunk_size,
        widest_activation,
    )

    bag = widest_activation([[None, 20_000], [None, 32], [None, 10]])
    assert chunk_size(bag) * bag * 4 <= ACTIVATION_BUDGET_BYTES
    assert chunk_size(bag) == 1024
    sequence = widest_activation([[None, 32, 50], [None, 30, 64], [None, 64]])
    assert chunk_size(sequence) == MAX_CHUNK
