"""A model trained under another Keras backend (JAX, on CPU) grades as shipped.

GPU workers may train with JAX or PyTorch where TensorFlow has no CUDA build; the
grader (TensorFlow, like the evaluation workers) must grade what they save.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grader import grade

from .conftest import load_spec

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """
import sys
import keras, numpy as np
assert keras.backend.backend() == "jax", keras.backend.backend()
keras.utils.set_random_seed(0)
with np.load(sys.argv[1]) as train:
    x, y = train["x"], train["y"]
layers = keras.layers
model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Conv2D(8, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(),
    layers.Conv2D(16, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(),
    layers.Flatten(),
    layers.Dropout(0.2),
    layers.Dense(32, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(5e-3),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=15, batch_size=32, verbose=0)
model.save(sys.argv[2])
import jax
print("trained with", keras.backend.backend(), "on", jax.devices()[0].platform)
"""


def test_cnn_trained_with_jax_on_cpu_grades_with_the_shipped_grader(
    digits_dir: Path, tmp_path: Path
) -> None:
    """Train the CNN under KERAS_BACKEND=jax, then grade it (TensorFlow backend)."""
    model = tmp_path / "jax_cnn.keras"
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(digits_dir / "train.npz"), str(model)],
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trained with jax on cpu" in done.stdout
    report = grade(model, load_spec("cnn"), digits_dir / "test.npz")
    assert report.status == "graded", report.reason
    assert all(check.passed for check in report.checks), report.checks
    assert report.public_accuracy > 0.85
    assert report.score > 80
