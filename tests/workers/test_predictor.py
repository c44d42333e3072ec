"""The warm predictor: a sandbox with model files only, answering fast and safely."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import wait_for
from workers.predictor import PredictorError, WarmPredictor
from workers.predictor_replies import (
    parse_explain_reply,
    parse_maps_reply,
    parse_reply,
)
from workers.sandbox import remove_tree


@pytest.fixture(scope="module")
def models() -> Iterator[dict[str, Path]]:
    """A tiny softmax model on 8 x 8 x 1 images, and one with a Lambda layer."""
    import keras

    folder = Path(tempfile.mkdtemp(prefix="dojo-predict-models-"))
    keras.utils.set_random_seed(0)
    good = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    good.save(folder / "good.keras")
    evil = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Lambda(lambda t: t * 2)]
    )
    evil.save(folder / "evil.keras")
    dynamic = keras.Sequential(
        [
            keras.Input((None, None, 1)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    dynamic.save(folder / "dynamic.keras")
    conv = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(10, 3, padding="same", name="first_conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    conv.save(folder / "conv.keras")
    words = keras.Sequential(
        [
            keras.Input((12,), dtype="int32"),
            keras.layers.Embedding(50, 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    words.save(folder / "words.keras")
    yield {
        "words": folder / "words.keras",
        "conv": folder / "conv.keras",
        "good": folder / "good.keras",
        "evil": folder / "evil.keras",
        "dynamic": folder / "dynamic.keras",
    }
    shutil.rmtree(folder, ignore_errors=True)


def _sandboxed_predictor(**options) -> Iterator[WarmPredictor]:
    """Yield a bwrap predictor in its own folder, with these options; stop it."""
    root = Path(tempfile.mkdtemp(prefix="dojo-predictor-", dir="/tmp"))
    root.chmod(0o755)  # the sandbox uid must traverse it
    warm = WarmPredictor(
        work_root=root, backend="bwrap", env={"TF_CPP_MIN_LOG_LEVEL": "3"}, **options
    )
    yield warm
    warm.stop()
    remove_tree(root)


@pytest.fixture(scope="module")
def predictor(models: dict[str, Path]) -> Iterator[WarmPredictor]:
    """A predictor whose folder keeps about four of these models' files."""
    largest = max(path.stat().st_size for path in models.values())
    yield from _sandboxed_predictor(models_bytes=int(4.5 * largest))


def image(size: int = 64) -> str:
    pixels = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8)
    return base64.b64encode(pixels.tobytes()).decode()


def test_predictor_answers_top_three_and_stays_warm(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """Two requests go to one sandboxed process; each gets 3 ranked classes."""
    ask = {"model_path": models["good"], "key": "good", "num_classes": 5}
    first = predictor.predict(pixels=image(), timeout=120, **ask)
    ready = (predictor._folder / "ready").read_text()
    second = predictor.predict(pixels=image(), timeout=10, **ask)
    assert (predictor._folder / "ready").read_text() == ready
    for top in (first, second):
        assert len(top) == 3 and len({k for k, _ in top}) == 3
        probabilities = [p for _, p in top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-6
    # Only the model file was placed in the predictor's folder.
    assert sorted(p.name for p in (predictor._folder / "models").iterdir()) == [
        "good.keras"
    ]


def test_unsafe_model_is_refused_with_a_reason(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """A Lambda layer is never loaded: the answer says the model cannot be used."""
    with pytest.raises(PredictorError, match="cannot be loaded"):
        predictor.predict(
            model_path=models["evil"],
            key="evil",
            pixels=image(),
            num_classes=5,
            timeout=60,
        )


def test_image_of_the_wrong_size_is_refused(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    with pytest.raises(PredictorError, match="does not fit"):
        predictor.predict(
            model_path=models["good"],
            key="good",
            pixels=image(100),
            num_classes=5,
            timeout=60,
        )


@pytest.mark.parametrize(
    "reply",
    [
        b"not json",
        b"[]",
        b'{"top": []}',
        b'{"top": [[1, 0.5], [2, 0.2], [3, 0.1], [4, 0.1]]}',
        b'{"top": [[7, 0.5]]}',
        b'{"top": [[-1, 0.5]]}',
        b'{"top": [[1, 1.5]]}',
        b'{"top": [[1, NaN]]}',
        b'{"top": [[true, 0.5]]}',
        b'{"top": [["1", 0.5]]}',
    ],
)
def test_hostile_replies_are_refused(reply: bytes) -> None:
    """What comes out of the sandbox is checked: bad shapes, labels or numbers."""
    with pytest.raises(PredictorError, match="unreadable"):
        parse_reply(reply, num_classes=5)


def test_error_reply_is_passed_on_bounded() -> None:
    with pytest.raises(PredictorError) as info:
        parse_reply(json.dumps({"error": "x" * 5000}).encode(), num_classes=5)
    assert len(str(info.value)) == 300


def test_predictor_draws_the_first_convolutions_maps_of_one_image(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """What your model sees, for any image: at most 8 maps of the conv's size."""
    size, maps = predictor.feature_maps(
        model_path=models["conv"], key="conv", pixels=image(), timeout=120
    )
    assert size == [8, 8] and len(maps) == 8
    assert all(len(base64.b64decode(m)) == 64 for m in maps)
    with pytest.raises(PredictorError, match="no Conv2D"):
        predictor.feature_maps(
            model_path=models["good"], key="good", pixels=image(), timeout=60
        )


@pytest.mark.parametrize(
    "reply",
    [
        b"not json",
        b'{"size": [8, 8]}',
        b'{"size": [8, 99], "maps": ["AA=="]}',
        b'{"size": [8, true], "maps": ["AA=="]}',
        b'{"size": [8], "maps": ["AA=="]}',
        b'{"size": [8, 8], "maps": []}',
        b'{"size": [8, 8], "maps": [1]}',
        b'{"size": [2, 2], "maps": ["' + b"A" * 100 + b'"]}',
        b'{"size": [8, 8], "maps": ["AA==", "AA==", "AA==", "AA==", "AA==", '
        b'"AA==", "AA==", "AA==", "AA=="]}',
    ],
)
def test_hostile_maps_replies_are_refused(reply: bytes) -> None:
    """A maps reply is bounded here: its size, the count and length of its maps."""
    with pytest.raises(PredictorError, match="unreadable"):
        parse_maps_reply(reply)


def test_predictor_weighs_a_sentences_words_and_names_embedding_neighbours(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """What a text model sees, through the sandbox: a weight per known word of
    the sentence (not the unknown word, not padding), and nearest words."""
    ids = np.array([5, 1, 7, 5, 9] + [0] * 7, dtype="<i4")
    seen = predictor.explain(
        model_path=models["words"],
        key="words",
        pixels="t:" + base64.b64encode(ids.tobytes()).decode(),
        num_classes=5,
        length=12,
        timeout=120,
    )
    assert 0 <= seen["class"] < 5 and 0 < seen["probability"] <= 1
    assert [position for position, _ in seen["words"]] == [0, 2, 3, 4]
    assert [word for word, _ in seen["neighbours"]] == [5, 7, 9]
    assert all(len(near) == 5 for _, near in seen["neighbours"])
    with pytest.raises(PredictorError, match="(?i)only a sentence"):
        predictor.explain(
            model_path=models["good"],
            key="good",
            pixels=image(),
            num_classes=5,
            length=12,
            timeout=60,
        )


EXPLAINED = {"class": 1, "probability": 0.5, "words": [[0, 0.1]], "neighbours": []}


@pytest.mark.parametrize(
    "change",
    [
        {"class": 5},
        {"class": True},
        {"probability": 1.5},
        {"probability": float("nan")},
        {"words": [[12, 0.1]]},
        {"words": [[0, 0.1], [0, 0.2]]},
        {"words": [[0, 2.0]]},
        {"words": [[0, 0.1]] * 65},
        {"words": "everything"},
        {"neighbours": [[2, [[3, 0.5]]]] * 4},
        {"neighbours": [[2, [[3, 0.5]] * 6]]},
        {"neighbours": [[2, [[-3, 0.5]]]]},
        {"neighbours": [[2, [[3, "near"]]]]},
        {"neighbours": [[2]]},
    ],
)
def test_hostile_explain_replies_are_refused(change: dict) -> None:
    """Class, probability, each position (once, inside the sentence), each
    weight and each neighbour are checked before the site sees them."""
    assert parse_explain_reply(
        json.dumps(EXPLAINED).encode(), num_classes=5, length=12
    )["words"] == [(0, 0.1)]
    with pytest.raises(PredictorError, match="unreadable"):
        parse_explain_reply(
            json.dumps({**EXPLAINED, **change}).encode(), num_classes=5, length=12
        )


def _ask(predictor: WarmPredictor, models, key: str, *, model: str = "good"):
    return predictor.predict(
        model_path=models[model], key=key, pixels=image(), num_classes=5, timeout=60
    )


def test_a_model_with_dynamic_input_is_answered_with_an_error_not_a_crash(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """Input(shape=(None, None, 1)) gets an error reply; the same predictor
    process then answers the next participant at once."""
    _ask(predictor, models, "good")
    serving = predictor._folder
    with pytest.raises(PredictorError, match="input"):
        _ask(predictor, models, "dynamic", model="dynamic")
    assert len(_ask(predictor, models, "good")) == 3
    assert predictor._folder == serving and predictor.running


def test_the_models_folder_is_pruned_by_bytes_least_recently_used_first(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """However many models are asked about, the folder's files stay within its
    byte budget; the predictor answers for a model whose file was removed."""
    fit = predictor.models_bytes // models["good"].stat().st_size
    for n in range(fit + 2):
        _ask(predictor, models, f"m{n}")
        _ask(predictor, models, "m0")  # kept: used most recently
    kept = {p.name: p.stat().st_size for p in (predictor._folder / "models").iterdir()}
    assert sum(kept.values()) <= predictor.models_bytes
    assert "m0.keras" in kept and "m1.keras" not in kept
    assert len(_ask(predictor, models, "m1")) == 3  # copied in again


def test_a_predictor_whose_folder_is_gone_is_replaced(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """If its folder is removed (a sweeper, an operator), the next request
    starts a new predictor instead of waiting for an answer that cannot come."""
    _ask(predictor, models, "good")
    old = predictor._folder
    remove_tree(old)
    assert len(_ask(predictor, models, "good")) == 3
    assert predictor._folder != old


def test_a_reply_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    """The reply is read bounded, never through a link to a host file."""
    from workers.predictor_replies import read_reply

    secret = tmp_path / "secret"
    secret.write_text('{"top": [[1, 0.5]]}')
    link = tmp_path / "reply.json"
    link.symlink_to(secret)
    with pytest.raises(PredictorError, match="unreadable"):
        read_reply(link, num_classes=5)
    big = tmp_path / "big.json"
    big.write_bytes(b'{"top": [[1, 0.5]]' + b" " * 10**6 + b"}")
    with pytest.raises(PredictorError, match="unreadable"):
        read_reply(big, num_classes=5)


def test_a_request_past_its_budget_stops_the_predictor_for_a_fresh_one(
    predictor: WarmPredictor, models: dict[str, Path]
) -> None:
    """A model that holds the predictor past the request's time budget gets an
    error; the predictor it held is stopped, and the next request is answered
    by a fresh one instead of waiting behind it."""
    _ask(predictor, models, "good")
    held = predictor._folder
    with pytest.raises(PredictorError, match="in time"):
        predictor.predict(
            model_path=models["good"],
            key="budget",
            pixels=image(),
            num_classes=5,
            timeout=0.001,
        )
    assert len(_ask(predictor, models, "good")) == 3
    assert predictor._folder != held


@pytest.fixture(scope="module")
def slow() -> Iterator[Path]:
    """A 200-layer MLP: seconds to load, where the tiny models take milliseconds."""
    import keras

    folder = Path(tempfile.mkdtemp(prefix="dojo-predict-slow-"))
    deep = [keras.layers.Dense(4) for _ in range(200)]
    keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), *deep, keras.layers.Dense(5)]
    ).save(folder / "slow.keras")
    # One convolution of about 7 TFLOP (a 29 x 29 kernel over 1024 x 1024 x 64
    # values): a single TensorFlow op, which no load budget can interrupt, and
    # tens of seconds even on a fast CPU, where the stuck request waits 4 s
    # (one of 0.8 TFLOP ended within 6 s on 2 cores). Its activations, about
    # 256 MiB each side, stay well inside a request's memory budget.
    keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.UpSampling2D(128),
            keras.layers.Conv2D(64, 1),
            keras.layers.Conv2D(64, 29),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5),
        ]
    ).save(folder / "stuck.keras")
    yield folder / "slow.keras"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def hasty() -> Iterator[WarmPredictor]:
    """A predictor that may take 1.5 s to load a model."""
    yield from _sandboxed_predictor(load_seconds=1.5)


def test_a_model_slow_to_load_is_refused_while_the_same_predictor_serves_others(
    hasty: WarmPredictor, models: dict[str, Path], slow: Path
) -> None:
    """A load past the predictor's load budget is given up and answered with a
    reason, while another participant's request, sent during it, is answered
    by the same warm process (no restart); the slow model is then refused at
    once, without a copy or a load (its file is not even needed)."""
    _ask(hasty, models, "good")
    serving, ready = hasty._folder, (hasty._folder / "ready").read_text()
    refused: list[str] = []

    def ask_slow() -> None:
        try:
            hasty.predict(
                model_path=slow, key="slow", pixels=image(), num_classes=5, timeout=60
            )
        except PredictorError as exc:
            refused.append(str(exc))

    asking = threading.Thread(target=ask_slow)
    asking.start()
    victim = _ask(hasty, models, "victim")
    asking.join()
    assert len(victim) == 3
    assert len(refused) == 1 and "longer than 1.5 s to load" in refused[0]
    assert hasty._folder == serving and hasty.running
    assert (serving / "ready").read_text() == ready
    with pytest.raises(PredictorError, match="to load"):
        hasty.predict(
            model_path=slow.with_name("gone.keras"),
            key="slow",
            pixels=image(),
            num_classes=5,
            timeout=60,
        )
    assert len(_ask(hasty, models, "good")) == 3
    assert hasty._folder == serving

    # A model that holds the predictor past a request's wait (one long op) is
    # the one its "working" marker names: refused from then on, while a
    # request merely queued behind it is told the predictor was restarted.
    # The stuck request waits 4 s: more than twice the load budget, as any
    # request may (``predictor_load_check``), and far less than the op takes.
    stuck: list[str] = []

    def ask_stuck() -> None:
        try:
            hasty.predict(
                model_path=slow.with_name("stuck.keras"),
                key="stuck",
                pixels=image(),
                num_classes=5,
                timeout=4,
            )
        except PredictorError as exc:
            stuck.append(str(exc))

    asking = threading.Thread(target=ask_stuck)
    asking.start()
    wait_for(lambda: "stuck" in _marker(serving), timeout=60, what="the stuck load")
    with pytest.raises(PredictorError, match="restarted"):
        _ask(hasty, models, "queued")
    asking.join()
    assert len(stuck) == 1 and "longer than 2.25 s to answer" in stuck[0], stuck
    assert "queued" not in hasty._refused
    with pytest.raises(PredictorError, match="to answer one prediction"):
        hasty.predict(
            model_path=slow.with_name("gone.keras"),
            key="stuck",
            pixels=image(),
            num_classes=5,
            timeout=60,
        )
    assert len(_ask(hasty, models, "queued")) == 3
    assert hasty._folder != serving


def _marker(folder: Path) -> str:
    try:
        return (folder / "working").read_text()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def greedy() -> Iterator[dict[str, Path]]:
    """Models that need far more memory for one image than a request may use.

    "huge" shows it in its layer outputs (8 x 8 blown up to 4096 x 4096 x 32
    floats: 2 GiB); "attention" hides it inside a layer (eight 4096 x 4096
    score matrices, about 1 GiB at peak, for an output of 4096 x 1).
    """
    import keras

    folder = Path(tempfile.mkdtemp(prefix="dojo-predict-greedy-"))
    layers = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(32, 3, padding="same")(layers.UpSampling2D(512)(inputs))
    x = layers.Dense(5, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, x).save(folder / "huge.keras")
    inputs = keras.Input((64, 64, 1))
    tokens = layers.Reshape((4096, 1))(inputs)
    x = layers.MultiHeadAttention(num_heads=8, key_dim=4)(tokens, tokens)
    x = layers.Dense(5, activation="softmax")(layers.GlobalAveragePooling1D()(x))
    keras.Model(inputs, x).save(folder / "attention.keras")
    yield {"huge": folder / "huge.keras", "attention": folder / "attention.keras"}
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def frugal() -> Iterator[WarmPredictor]:
    """A predictor whose requests may use 256 MiB each (of its 3 GiB)."""
    yield from _sandboxed_predictor(request_memory_bytes=256 * 1024 * 1024)


def _ask_greedy(predictor: WarmPredictor, greedy, kind: str, size: int):
    return predictor.predict(
        model_path=greedy[kind], key=kind, pixels=image(size), num_classes=5, timeout=60
    )


def test_a_model_whose_layers_need_too_much_memory_is_refused_unrun(
    frugal: WarmPredictor, models: dict[str, Path], greedy: dict[str, Path]
) -> None:
    """A model whose layer outputs need gigabytes for one image (more than the
    whole predictor has) gets a clear 'too much memory' answer without being
    run; the same predictor answers the next participant, with no cold start."""
    _ask(frugal, models, "good")
    serving = frugal._folder
    for _ in range(2):  # refused again from what the predictor remembers
        with pytest.raises(PredictorError, match="too much memory") as refused:
            _ask_greedy(frugal, greedy, "huge", 64)
        assert "MiB for one image" in str(refused.value)
    assert len(_ask(frugal, models, "next-participant")) == 3
    assert frugal._folder == serving and frugal.running


def test_a_request_whose_peak_memory_passes_the_budget_replaces_the_predictor(
    frugal: WarmPredictor, models: dict[str, Path], greedy: dict[str, Path]
) -> None:
    """A model whose memory hides inside a layer runs once: the request's peak
    goes past the budget, it is answered 'too much memory', its predictor is
    replaced at once, the next participant is answered, and the model is
    refused from then on without reaching a predictor."""
    _ask(frugal, models, "good")
    held = frugal._folder
    with pytest.raises(PredictorError, match="too much memory"):
        _ask_greedy(frugal, greedy, "attention", 64 * 64)
    replacement = frugal._folder
    assert replacement != held
    assert len(_ask(frugal, models, "next-participant")) == 3
    with pytest.raises(PredictorError, match="too much memory"):
        _ask_greedy(frugal, greedy, "attention", 64 * 64)
    assert frugal._folder == replacement and frugal.running


def test_a_restart_reply_is_an_over_memory_error() -> None:
    """An error the predictor marks for restart is told apart from others."""
    from workers.predictor_replies import PredictorOverMemory

    reply = {"error": "The model needs too much memory", "restart": True}
    with pytest.raises(PredictorOverMemory):
        parse_reply(json.dumps(reply).encode(), num_classes=5)
    with pytest.raises(PredictorError) as plain:
        parse_reply(json.dumps({**reply, "restart": 1}).encode(), num_classes=5)
    assert not isinstance(plain.value, PredictorOverMemory)


@pytest.mark.parametrize(
    ("memory_mb", "request_mb"), [(3072, 2048), (3072, 0), (0, 0), (1024, -1)]
)
def test_a_request_memory_budget_must_fit_well_inside_the_predictor(
    memory_mb: int, request_mb: int, tmp_path: Path
) -> None:
    """A budget past half the predictor's memory (or not positive) is refused
    before any predictor starts."""
    with pytest.raises(ValueError, match="memory"):
        WarmPredictor(
            work_root=tmp_path,
            backend="bwrap",
            env={},
            memory_bytes=memory_mb * 2**20,
            request_memory_bytes=request_mb * 2**20,
        )


ASKED = {"12-0123abcd.json": "slow", "13-89abcdef.json": "victim"}


@pytest.mark.parametrize(
    "marker",
    [
        b"12-0123abcd.json victim\n",  # not the model this request was sent for
        b"99-0123abcd.json slow\n",  # a request this worker never sent
        b"12-0123abcd.json ../slow\n",
        b"12-0123abcd.json slow\n" + b" " * 200,
        b"12-0123abcd.json\xff slow\n",
        b"",
    ],
)
def test_a_malformed_working_marker_blames_nobody(tmp_path: Path, marker) -> None:
    """The serve loop's marker is hostile: only the exact format, naming a
    request this worker sent with its own model key, can blame a model."""
    from workers.predictor_replies import working_model

    path = tmp_path / "working"
    path.write_bytes(marker)
    assert working_model(path, asked=ASKED, held_seconds=0) is None


def test_a_working_marker_blames_only_a_model_past_its_hold(tmp_path: Path) -> None:
    """A well-formed marker blames its model once it has held the predictor
    past the budget, never through a link, never when missing."""
    import os

    from workers.predictor_replies import working_model

    path = tmp_path / "working"
    assert working_model(path, asked=ASKED, held_seconds=0) is None
    path.write_text("12-0123abcd.json slow\n")
    assert working_model(path, asked=ASKED, held_seconds=0) == "slow"
    assert working_model(path, asked=ASKED, held_seconds=3600) is None
    os.utime(path, (0, 0))  # picked up long ago
    assert working_model(path, asked=ASKED, held_seconds=3600) == "slow"
    link = tmp_path / "link"
    link.symlink_to(path)
    assert working_model(link, asked=ASKED, held_seconds=0) is None
