"""Reference solution for DL101 assignment 0: hello Keras and the data.

Run as a plain script. It reads $DOJO_DATA_DIR/train.npz and writes
$DOJO_OUTPUT_DIR/model.keras and history.json. build_starters.py turns it into
starter.ipynb: "# %%" lines start cells, "[exercise]" cells become TODOs.
"""

# %% [markdown]
# # Assignment 0: hello Keras and the data
#
# Fifteen minutes to meet the data and the submission loop before the real
# models. Look at Fashion-MNIST (what one image is, what the classes are, how
# many of each), train the simplest model there is (one `Dense` softmax layer:
# logistic regression), and submit. Fill in the cells marked **TODO**, run the
# notebook top to bottom, then submit it.

# %%
import json
import os
from pathlib import Path

import keras
import numpy as np

DATA_DIR = Path(os.environ.get("DOJO_DATA_DIR", "data"))
OUTPUT_DIR = Path(os.environ.get("DOJO_OUTPUT_DIR", "output"))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)
CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

train = np.load(DATA_DIR / "train.npz")
x_train, y_train = train["x"], train["y"]

# %% [markdown]
# ## Look at the data
#
# `x_train` holds the images: one row per image, 28 x 28 pixels, one grey
# channel, values from 0 (black) to 1 (white). `y_train` holds one integer
# label per image.

# %%
print("images:", x_train.shape, x_train.dtype, x_train.min(), x_train.max())
print("labels:", y_train.shape, y_train.dtype)

# %% [markdown]
# One image of each class, drawn with characters (darker pixels, denser
# characters), with its class name above it.

# %%
SHADES = " .:-=+*#%@"


def draw(image: np.ndarray) -> list[str]:
    """Return a 14-line text drawing of one 28 x 28 image."""
    small = image[::2, ::2, 0]
    return ["".join(SHADES[min(int(v * 10), 9)] for v in row) for row in small]


for first in (0, 5):
    drawings = []
    for label in range(first, first + 5):
        index = int(np.flatnonzero(y_train == label)[0])
        drawings.append([CLASS_NAMES[label][:14].ljust(14), *draw(x_train[index])])
    for lines in zip(*drawings, strict=True):
        print("   ".join(lines))
    print()

# %% [markdown]
# ## Class balance
#
# A balanced data set has as many images of each class: then always guessing
# one class is right only one time in ten, the floor the grader scores from.

# %% [exercise:balance]
# TODO: count the images of each class with np.bincount(y_train) and print
# each class name with its count.
counts = np.bincount(y_train, minlength=len(CLASS_NAMES))
for name, count in zip(CLASS_NAMES, counts, strict=True):
    print(f"{name:12s} {count:6d}")

# %% [markdown]
# ## The simplest model: logistic regression
#
# `Flatten` turns each 28 x 28 image into 784 numbers; one `Dense` layer with a
# softmax gives a probability per class. That is logistic regression: a weight
# per pixel and class, no hidden layer.

# %% [exercise:model]
# TODO: build keras.Sequential with keras.Input(shape=x_train.shape[1:]),
# Flatten() and Dense(10, activation="softmax"); compile it (optimizer "adam",
# loss "sparse_categorical_crossentropy", metrics ["accuracy"]) and fit it with
# validation_split=0.1 for 5 epochs; keep the result in `history`.
model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:]),
        keras.layers.Flatten(),
        keras.layers.Dense(len(CLASS_NAMES), activation="softmax"),
    ]
)
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    x_train, y_train, validation_split=0.1, epochs=5, batch_size=64, verbose=2
)

# %% [markdown]
# ## Save and submit
#
# The grader reads `model.keras`; the site draws your training curve from
# `history.json`. Submit this notebook: the site trains it again in a sandbox
# and grades it on hidden test images.

# %%
model.save(OUTPUT_DIR / "model.keras")
curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
(OUTPUT_DIR / "history.json").write_text(json.dumps(curves))
print("saved", OUTPUT_DIR / "model.keras")
