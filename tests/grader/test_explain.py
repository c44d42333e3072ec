"""What a text model sees: occlusion weights and its embedding's nearest words.

Answered in-process by the warm predictor's own ``answer`` (the sandboxed path
is proven once in tests/workers/test_predictor.py). The model's weights are set
by hand, so which word matters and which words are near are known.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

LENGTH = 6


def _ask(models: Any, key: str, ids: list[int], **extra: Any) -> dict[str, Any]:
    from grader._serve import answer

    raw = np.array(ids, dtype="<i4").tobytes()
    request = {"model": key, "pixels": "t:" + base64.b64encode(raw).decode()}
    return answer({**request, **extra}, models)


def test_hidden_words_show_what_moved_the_prediction_and_neighbours_come_from_the_embedding(  # noqa: E501
    keras_mod: Any, tmp_path: Path
) -> None:
    from grader._serve import _Models, answer

    layers = keras_mod.layers
    model = keras_mod.Sequential(
        [
            keras_mod.Input(shape=(LENGTH,), dtype="int32"),
            layers.Embedding(6, 2),
            layers.GlobalAveragePooling1D(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    # Word 2 points to class 0 strongly, word 3 not at all; word 4 is word 2's
    # near twin, word 5 its opposite.
    vectors = np.array(
        [[0, 0], [0, 0], [6, 0.5], [0, 0.01], [5, 0.6], [-6, 0]], dtype="float32"
    )
    model.layers[0].set_weights([vectors])
    model.layers[2].set_weights(
        [np.array([[1, -1], [0, 0]], dtype="float32"), np.zeros(2, "float32")]
    )
    model.save(tmp_path / "words.keras")
    keras_mod.Sequential(
        [keras_mod.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2)]
    ).save(tmp_path / "image.keras")
    models = _Models(tmp_path, load_seconds=8.0)

    reply = _ask(models, "words", [3, 2, 1, 0, 0, 0], explain=True)

    assert reply["class"] == 0 and 0.5 < reply["probability"] <= 1
    weights = dict(reply["words"])
    # Only known words are hidden: the unknown word (1) and padding are not.
    assert sorted(weights) == [0, 1]
    assert weights[1] > 0.2 and abs(weights[0]) < 0.01
    nearest = dict(reply["neighbours"])
    assert list(nearest) == [3, 2]
    assert [k for k, _ in nearest[2]][:1] == [4]
    assert [k for k, _ in nearest[2]][-1] == 5
    assert all(k not in (0, 1, 2) for k, _ in nearest[2])
    assert all(-1 <= c <= 1 for _, c in nearest[2])
    # Word ids for an image model, or an image to weigh: each refused.
    assert "not words" in _ask(models, "image", [0] * 16, explain=True)["error"]
    pixels = base64.b64encode(bytes(16)).decode()
    refused = answer({"model": "image", "pixels": pixels, "explain": True}, models)
    assert "only a sentence" in refused["error"].lower()
