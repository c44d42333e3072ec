"""Text data for the DL4NLP pack: tokenise, build the vocabulary, encode.

The pack fixes the tokenisation so that every participant, the grader and
"try your model" turn a definition into the same integers: lowercase, words are
runs of letters and digits, ids 0 (padding) and 1 (a word outside the
vocabulary), then the training split's words by frequency (ties
alphabetically), at most ``vocabulary_size`` of them, each seen at least twice.
A definition becomes exactly ``sequence_length`` ids: cut at the end, padded
with zeros after the words.

Files for participants (``$DOJO_DATA_DIR``): ``train.npz`` (``x`` int32
N x sequence_length, ``y`` int64), ``vocab.txt`` (line i is id i) and, when the
spec names pretrained vectors, ``glove.npy`` (vocabulary x 50 float32, the
GloVe vector of each vocabulary word, zeros where GloVe has none).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

PAD, UNKNOWN = 0, 1
PAD_TOKEN, UNKNOWN_TOKEN = "<pad>", "<unk>"
WORD = re.compile(r"[a-z0-9]+")
SEQUENCE_LENGTH = 32
VOCABULARY_SIZE = 20_000
MIN_COUNT = 2
VOCABULARY_FILE = "vocab.txt"
VECTORS_FILE = "glove.npy"


def tokenise(text: str) -> list[str]:
    """Return the words of ``text``: lowercase runs of letters and digits."""
    return WORD.findall(text.lower())


def build_vocabulary(
    texts: list[str], *, size: int = VOCABULARY_SIZE, min_count: int = MIN_COUNT
) -> list[str]:
    """Return the vocabulary: padding, unknown, then the most frequent words."""
    counts = Counter(word for text in texts for word in tokenise(text))
    words = sorted(
        (word for word, n in counts.items() if n >= min_count),
        key=lambda word: (-counts[word], word),
    )
    return [PAD_TOKEN, UNKNOWN_TOKEN, *words[: max(0, size - 2)]]


def encode(
    texts: list[str], vocabulary: list[str], *, length: int = SEQUENCE_LENGTH
) -> np.ndarray:
    """Return an int32 len(texts) x length array of word ids (see module doc)."""
    ids = {word: i for i, word in enumerate(vocabulary)}
    out = np.zeros((len(texts), length), dtype=np.int32)
    for row, text in enumerate(texts):
        words = tokenise(text)[:length]
        out[row, : len(words)] = [ids.get(word, UNKNOWN) for word in words]
    return out


def read_vocabulary(path: Path) -> list[str]:
    """Read ``vocab.txt`` (one word a line, line i is id i)."""
    return Path(path).read_text(encoding="utf-8").split("\n")[:-1]


def top_categories(categories: tuple[str, ...], count: int) -> list[str]:
    """Return the ``count`` largest categories, largest first (ties by name)."""
    sizes = Counter(categories)
    return sorted(sizes, key=lambda name: (-sizes[name], name))[:count]


def load_definitions(
    dataset: dict[str, Any],
) -> tuple[list[str], np.ndarray, list[str]]:
    """Return the definitions of the largest categories, their labels, the names.

    Raise ``WordNetError`` where WordNet is missing or damaged.
    """
    from .wordnet import read_noun_definitions

    nouns = read_noun_definitions()
    names = top_categories(nouns.categories, int(dataset.get("categories", 10)))
    label_of = {name: i for i, name in enumerate(names)}
    keep = [i for i, c in enumerate(nouns.categories) if c in label_of]
    texts = [nouns.definitions[i] for i in keep]
    labels = np.array([label_of[nouns.categories[i]] for i in keep], dtype=np.int64)
    return texts, labels, names


def write_vocabulary(
    dataset: dict[str, Any], train_texts: list[str], out_dir: Path
) -> list[str]:
    """Write ``vocab.txt`` (and ``glove.npy`` where the spec names vectors).

    The vocabulary comes from the training split only, before any few-shot or
    test slice, so every assignment of the pack shares it. Raise ``GloveError``
    where the vectors are missing or not the recorded ones.
    """
    from .glove import load_vectors

    vocabulary = build_vocabulary(
        train_texts, size=int(dataset.get("vocabulary_size", VOCABULARY_SIZE))
    )
    out_dir = Path(out_dir)
    (out_dir / VOCABULARY_FILE).write_text(
        "".join(f"{word}\n" for word in vocabulary), encoding="utf-8"
    )
    pretrained = dataset.get("pretrained")
    if pretrained:
        matrix, _ = load_vectors(vocabulary, digests=pretrained.get("sha256", {}))
        np.save(out_dir / VECTORS_FILE, matrix, allow_pickle=False)
    return vocabulary
