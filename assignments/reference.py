"""The DL101 reference CNN, defined once for the code that builds it.

Participants read the same architecture written out in
`assignments/dl101/cnn/solution.py`, a script they run as it stands (it
imports nothing of the project); a test proves that both build the same
layers. Keras is passed in, so importing this module costs nothing.
"""

from typing import Any


def cnn_trunk_layers(keras: Any) -> list[Any]:
    """Return fresh layers of the two Conv2D/MaxPooling2D blocks and the Flatten."""
    layers = keras.layers
    return [
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
    ]


def cnn_trunk(keras: Any, *, input_shape: tuple[int, ...]) -> Any:
    """Return the CNN's convolutional trunk alone, with fresh random weights."""
    return keras.Sequential([keras.Input(shape=input_shape), *cnn_trunk_layers(keras)])


def reference_cnn(keras: Any, *, input_shape: tuple[int, ...], classes: int) -> Any:
    """Return the reference CNN: the trunk, then Dropout, Dense(64) and softmax."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *cnn_trunk_layers(keras),
            layers.Dropout(0.3),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(classes, activation="softmax"),
        ]
    )
