"""The batch grader's model cache holds a byte budget, not a count of models.

A cached model holds several times its file in memory; with 32 of them kept,
the sandbox's memory ran out on whichever model came next, and that model was
blamed. Small models on the 8 x 8 digits, a budget of a few hundred KB.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader import BatchItem, grade, grade_batch
from grader._grade import GradingCache
from grader._load import ModelCache, resident_estimate

from .conftest import load_spec, mlp_layers


def _mlp(hidden: int) -> Callable[[Any], Any]:
    return lambda keras: mlp_layers(keras, hidden=hidden)


def test_the_cache_evicts_by_bytes_and_never_keeps_a_model_past_its_budget() -> None:
    """Entries leave oldest first until the new one fits; one too big is not kept."""
    cache = ModelCache(max_bytes=100)
    cache.put("a", "model a", cost=40)
    cache.put("b", "model b", cost=40)
    cache.put("c", "model c", cost=40)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (
        None,
        "model b",
        "model c",
    )
    assert cache.held_bytes == 80
    cache.put("big", "model big", cost=101)
    assert cache.get("big") is None
    assert cache.held_bytes == 80


def test_a_model_past_the_budget_is_graded_alone_and_the_rest_as_alone(
    make_model: Callable[..., Path], digits_dir: Path
) -> None:
    """Before a model larger than the whole budget, every cached model is
    dropped, and it is not kept after; the others' grades are unchanged."""
    small_a = make_model("cache_small_a", _mlp(32), epochs=0)
    small_b = make_model("cache_small_b", _mlp(33), epochs=0)
    big = make_model("cache_big", _mlp(600), epochs=0)
    budget = resident_estimate(small_a) + resident_estimate(small_b) // 2
    assert resident_estimate(big) > budget
    spec, test = load_spec("mlp"), digits_dir / "test.npz"
    order = [
        ("a", small_a),
        ("b", small_b),
        ("a2", small_a),
        ("big", big),
        ("b2", small_b),
    ]
    cache = GradingCache(reuse_models=True, model_bytes=budget)
    seen: dict[str, tuple[int, int]] = {}

    def on_model(item: BatchItem) -> None:
        assert cache.models is not None
        seen[item.id] = (len(cache.models), cache.models.held_bytes)

    reports = grade_batch(
        [BatchItem(id=key, model=path, spec=spec, data=test) for key, path in order],
        on_model=on_model,
        cache=cache,
    )
    assert [r.status for r in reports] == ["graded"] * 5
    # By bytes: b's arrival pushed a out (one fits, two do not).
    assert seen["a2"] == (1, resident_estimate(small_b))
    assert seen["big"] == (0, 0)
    assert seen["b2"] == (0, 0)
    assert cache.models is not None and len(cache.models) == 1
    assert cache.models.held_bytes <= budget
    alone = {p: grade(p, spec, test).public_accuracy for p in (small_a, small_b, big)}
    assert [r.public_accuracy for r in reports] == [alone[p] for _, p in order]
