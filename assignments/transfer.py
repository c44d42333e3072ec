"""Build the DL101 transfer assignment's published base.

The source task is digits 0-4; the assignment's target task is digits 5-9, so the
base has never seen a target class. The saved model is a feature extractor (no
classification head) whose layers carry stable names the grader looks for.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SOURCE_CLASSES = [0, 1, 2, 3, 4]
BASE_NAME = "dl101_base"


def build_base(out_path: Path, *, seed: int = 0, epochs: int = 30) -> str:
    """Train the base on digits 0-4, save it to ``out_path``; return its sha256."""
    import keras

    from .datasets import load_source, select_classes

    keras.utils.set_random_seed(seed)
    x, y = load_source("sklearn-digits")
    x, y = select_classes(x, y, SOURCE_CLASSES)
    layers = keras.layers
    inputs = keras.Input(shape=x.shape[1:], name="base_input")
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="base_conv1")(
        inputs
    )
    h = layers.MaxPooling2D(name="base_pool1")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="base_conv2")(h)
    h = layers.MaxPooling2D(name="base_pool2")(h)
    features = layers.Flatten(name="base_features")(h)
    base = keras.Model(inputs, features, name=BASE_NAME)
    # The head exists only to train the base; it is not saved.
    logits = layers.Dense(len(SOURCE_CLASSES), activation="softmax", name="source_head")
    trainer = keras.Sequential([base, logits])
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    trainer.fit(x, y, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp.keras")
    base.save(tmp)
    os.replace(tmp, out_path)
    return hashlib.sha256(out_path.read_bytes()).hexdigest()


def main() -> None:
    """Build the base from the command line: python -m assignments.transfer OUT."""
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "base.keras")
    print(build_base(out))


if __name__ == "__main__":
    main()
