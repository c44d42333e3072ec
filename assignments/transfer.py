"""Build the DL101 transfer assignment's published base.

The source task is classes 0-4 (on Fashion-MNIST: T-shirt/top, trouser,
pullover, dress, coat); the assignment's target task is classes 5-9 (sandal,
shirt, sneaker, bag, ankle boot), so the base has never seen a target class. The
saved model is a feature extractor (no classification head) whose layers carry
stable names the grader looks for.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

SOURCE_CLASSES = [0, 1, 2, 3, 4]
BASE_NAME = "dl101_base"
EPOCHS = 3


def base_architecture(keras: Any, input_shape: tuple[int, ...]) -> Any:
    """Return the untrained base: two convolutions and pools, then a flatten.

    Its layer names (``base_*``) and model name are what the grader looks for.
    """
    layers = keras.layers
    inputs = keras.Input(shape=input_shape, name="base_input")
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="base_conv1")(
        inputs
    )
    h = layers.MaxPooling2D(name="base_pool1")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="base_conv2")(h)
    h = layers.MaxPooling2D(name="base_pool2")(h)
    features = layers.Flatten(name="base_features")(h)
    return keras.Model(inputs, features, name=BASE_NAME)


def build_base(
    out_path: Path,
    *,
    dataset: dict[str, Any] | None = None,
    seed: int = 0,
    epochs: int = EPOCHS,
    train_per_class: int | None = None,
) -> str:
    """Train the base on the source classes, save it, and return its sha256.

    ``dataset`` is the assignment's "dataset" section: the base learns from the
    same source's training images (never its test set), classes 0-4 only.
    """
    import keras

    from .datasets import load_data, per_class, select_classes

    keras.utils.set_random_seed(seed)
    data = load_data((dataset or {}).get("source", "fashion-mnist"))
    x, y = select_classes(data.x, data.y, SOURCE_CLASSES)
    x, y = per_class(x, y, train_per_class, seed=seed)
    layers = keras.layers
    base = base_architecture(keras, x.shape[1:])
    # The head exists only to train the base; it is not saved.
    logits = layers.Dense(len(SOURCE_CLASSES), activation="softmax", name="source_head")
    trainer = keras.Sequential([base, logits])
    trainer.compile(
        optimizer="adam",
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
    """Build the base: python -m assignments.transfer OUT [SOURCE]."""
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "base.keras")
    source = sys.argv[2] if len(sys.argv) > 2 else "fashion-mnist"
    print(build_base(out, dataset={"source": source}))


if __name__ == "__main__":
    main()
