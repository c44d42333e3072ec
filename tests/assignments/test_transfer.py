"""The published base is a named, head-less feature extractor."""

from __future__ import annotations

from pathlib import Path

from grader._load import load_model


def test_base_is_a_named_feature_extractor(data_dirs: dict[str, Path]) -> None:
    """build_base saves a safe-loadable model with base_* layers and no head."""
    base = load_model(data_dirs["transfer"] / "base.keras")
    names = [layer.name for layer in base.layers]
    assert "base_conv1" in names and "base_conv2" in names
    assert base.output_shape == (None, 7 * 7 * 32)
    assert all(not name.startswith("source_head") for name in names)
