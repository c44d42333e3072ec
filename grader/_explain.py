"""What a text model sees: which words moved its prediction, and its word map.

Computed by the warm predictor (``_serve``) for one sentence of word ids:

- occlusion: each word is replaced in turn by the unknown word, and the drop
  in the predicted class's probability is that word's weight (negative where
  hiding it made the class more likely);
- neighbours: for a few words of the sentence, the words closest to them by
  cosine in the model's own first Embedding's matrix.

Everything is bounded by the sentence's length (at most ``MAX_WORDS`` rows are
run, in small batches) and by the embedding's size, which the model's file
already bounds. The site checks every number before showing it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inspect import flatten_layers

# The packs' convention (assignments.text): 0 pads a sentence, 1 is a word
# outside the vocabulary; real words start at 2.
PAD, UNKNOWN = 0, 1
MAX_WORDS = 64
BATCH = 16
NEIGHBOUR_WORDS = 3
NEIGHBOURS = 5


class ScoresUnusable(Exception):
    """The model's output for the sentence is not one finite score per class."""


def _scores(model: Any, x: np.ndarray) -> np.ndarray:
    out = model(x, training=False)
    return np.asarray(out.numpy() if hasattr(out, "numpy") else out)


def occlusion(
    model: Any, ids: np.ndarray, probabilities: Any
) -> tuple[int, float, list[list[float]]]:
    """Return (class, probability, [[position, drop], ...]) for one row of ids.

    ``probabilities`` turns one row of scores into probabilities (``_serve``'s
    softmax-unless-already). Words outside the vocabulary and padding are not
    hidden: hiding them changes nothing the model could read.
    """
    row = ids[0]
    scores = _scores(model, ids)[0]
    if scores.ndim != 1 or not np.all(np.isfinite(scores)):
        raise ScoresUnusable
    base = probabilities(scores)
    label = int(np.argmax(base))
    positions = [int(p) for p in np.flatnonzero(row > UNKNOWN)[:MAX_WORDS]]
    drops: list[list[float]] = []
    for start in range(0, len(positions), BATCH):
        chunk = positions[start : start + BATCH]
        hidden = np.repeat(ids, len(chunk), axis=0)
        hidden[np.arange(len(chunk)), chunk] = UNKNOWN
        scores = _scores(model, hidden)
        for k, position in enumerate(chunk):
            prob = probabilities(scores[k])[label]
            if not np.isfinite(prob):
                continue  # this row's scores were not finite: no weight to show
            drops.append([position, round(float(base[label] - prob), 6)])
    return label, round(float(base[label]), 6), drops


def embedding_matrix(model: Any) -> np.ndarray | None:
    """Return the first Embedding layer's (vocabulary, dim) matrix, or None."""
    for item in flatten_layers(model):
        if type(item.layer).__name__ != "Embedding":
            continue
        try:
            matrix = np.asarray(item.layer.get_weights()[0], dtype="float32")
        except (IndexError, ValueError, TypeError):
            return None
        if matrix.ndim != 2 or not np.all(np.isfinite(matrix)):
            return None
        return matrix
    return None


def neighbours(matrix: np.ndarray, ids: np.ndarray) -> list[list[Any]]:
    """Return [[word, [[neighbour, cosine], ...]], ...] for a few sentence words.

    The first ``NEIGHBOUR_WORDS`` distinct known words the embedding holds; for
    each its ``NEIGHBOURS`` nearest real words (never padding, unknown or itself).
    """
    norms = np.linalg.norm(matrix, axis=1)
    unit = matrix / np.where(norms > 0, norms, 1.0)[:, None]
    words: list[int] = []
    for word in ids[0].tolist():
        if word > UNKNOWN and word < len(matrix) and word not in words:
            words.append(int(word))
        if len(words) == NEIGHBOUR_WORDS:
            break
    out: list[list[Any]] = []
    for word in words:
        cosines = unit @ unit[word]
        cosines[[PAD, UNKNOWN, word]] = -np.inf
        best = np.argsort(-cosines)[:NEIGHBOURS]
        near = [
            [int(k), round(float(cosines[k]), 4)]
            for k in best
            if np.isfinite(cosines[k])
        ]
        out.append([word, near])
    return out


def explain(model: Any, ids: np.ndarray, probabilities: Any) -> dict[str, Any]:
    """Return the reply for one sentence: class, probability, words, neighbours."""
    label, probability, drops = occlusion(model, ids, probabilities)
    matrix = embedding_matrix(model)
    return {
        "class": label,
        "probability": probability,
        "words": drops,
        "neighbours": [] if matrix is None else neighbours(matrix, ids),
    }
