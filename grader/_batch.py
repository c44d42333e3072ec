"""Grade many models in one process so TensorFlow starts once."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import SetupError
from ._grade import GradingCache, grade
from ._load import MODEL_CACHE_BYTES, resident_estimate
from ._report import (
    STATUS_ERROR,
    STATUS_FAILED,
    STATUS_GRADED,
    GradeReport,
    failed_report,
)
from ._spec import validate_spec

# A full session reset runs a garbage collection over all of TensorFlow's objects
# (about 0.17 s); resetting after every model would triple a regrade's time.
# Models do not share state through the session, so a periodic reset only bounds
# memory; a model that failed triggers one at once.
CLEAR_EVERY = 50


@dataclass(frozen=True)
class BatchItem:
    """One model to grade; ``id`` is the caller's key (a submission id, say)."""

    id: str
    model: Path
    spec: dict[str, Any]
    data: Path
    base: Path | None = None


def grade_batch(
    items: Iterable[BatchItem],
    *,
    on_report: Callable[[BatchItem, GradeReport], None] | None = None,
    on_model: Callable[[BatchItem], None] | None = None,
    clear_every: int = CLEAR_EVERY,
    reuse_models: bool = True,
    model_cache_bytes: int = MODEL_CACHE_BYTES,
    cache: GradingCache | None = None,
) -> list[GradeReport]:
    """Grade every item in order; one bad model or setup never stops the batch.

    The setup (spec, test split, published base) is loaded first; a fault there
    is the platform's and becomes an ``error`` report for that item. Then
    ``on_model`` is called (the caller records that the participant's model is
    now being touched) and the model is graded: any crash from there on came
    from loading or calling the participant's model, and fails that item.
    ``reuse_models`` rebuilds an architecture once and then only swaps weights
    (see ``ModelCache``, which keeps at most ``model_cache_bytes`` of models);
    turn it off to load every file from scratch. A model larger than that
    budget on its own is graded alone: every cached model is dropped first and
    it is not kept, so if it runs out of memory it is the only one to blame.
    ``cache``: the caches to grade with (default: new ones).
    """
    import keras

    if cache is None:
        cache = GradingCache(reuse_models=reuse_models, model_bytes=model_cache_bytes)
    reports: list[GradeReport] = []
    since_clear = 0
    for item in items:
        alone = False
        try:
            _load_setup(item, cache)
        except SetupError as exc:
            report = _error_report(item, f"Grading setup error: {exc}")
        except Exception as exc:  # a grader bug must not lose the rest of the batch
            report = _error_report(item, f"Grader crashed: {_detail(exc)}")
        else:
            alone = cache.models is not None and not cache.models.fits(
                resident_estimate(item.model)
            )
            if alone:
                _clear(cache, keras)
            if on_model is not None:
                on_model(item)
            report = _grade_model(item, cache.without_models() if alone else cache)
        reports.append(report)
        if on_report is not None:
            on_report(item, report)
        since_clear += 1
        if alone or report.status != STATUS_GRADED or since_clear >= clear_every:
            _clear(cache, keras)
            since_clear = 0
    return reports


def _clear(cache: GradingCache, keras: Any) -> None:
    """Forget every cached model and reset the Keras session (frees their memory)."""
    if cache.models is not None:
        cache.models.clear()
    keras.backend.clear_session()


def _load_setup(item: BatchItem, cache: GradingCache) -> None:
    """Load what grading needs besides the model, so its faults come first."""
    validate_spec(item.spec)
    cache.test_split(item.data)
    if item.base is not None:
        cache.base_layers(item.base)


def _grade_model(item: BatchItem, cache: GradingCache) -> GradeReport:
    try:
        return grade(
            item.model, item.spec, item.data, base_model_path=item.base, cache=cache
        )
    except SetupError as exc:
        return _error_report(item, f"Grading setup error: {exc}")
    except Exception as exc:  # noqa: BLE001 - raised while handling their model
        return _error_report(
            item,
            "Grading stopped on your model "
            f"({_detail(exc)}). Build it from standard keras.layers, check that "
            "it runs on one batch of the training data, and save it again.",
            status=STATUS_FAILED,
        )


def _detail(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()[:300]


def _error_report(
    item: BatchItem, reason: str, *, status: str = STATUS_ERROR
) -> GradeReport:
    points = (
        item.spec.get("score", {}).get("points", 100)
        if isinstance(item.spec, dict)
        else 100
    )
    version = str(item.spec.get("version", "")) if isinstance(item.spec, dict) else ""
    return failed_report(
        reason=reason,
        spec_version=version,
        max_score=float(points),
        status=status,
    )
