"""Reference solution for DL101 assignment 1: a multilayer perceptron.

Run as a plain script. It reads $DOJO_DATA_DIR/train.npz and writes
$DOJO_OUTPUT_DIR/model.keras and history.json. build_starters.py turns it into
starter.ipynb: "# %%" lines start cells, "[exercise]" cells become TODOs.
"""

# %% [markdown]
# # Assignment 1: a multilayer perceptron
#
# Build a network of fully connected (`Dense`) layers that recognises clothing:
# Fashion-MNIST's 28 x 28 grey images of ten kinds of garment (T-shirt/top,
# trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot). Fill in
# the cells marked **TODO**, run the notebook top to bottom, then submit it. The
# grader measures accuracy on hidden test images.

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

train = np.load(DATA_DIR / "train.npz")
x_train, y_train = train["x"], train["y"]
num_classes = int(y_train.max()) + 1
print("images:", x_train.shape, "classes:", num_classes)

# %% [markdown]
# ## Build the model
#
# Images arrive as `height x width x 1` arrays. An MLP needs a flat vector, so
# start with `Flatten`, then hidden `Dense` layers with ReLU, and end with one
# output unit per class and a softmax. Convolutions are not allowed here.

# %% [exercise:model]
# TODO: build a keras.Sequential model: keras.Input(shape=x_train.shape[1:]),
# Flatten, a hidden Dense(128, activation="relu") layer, and
# Dense(num_classes, activation="softmax").
model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:]),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
)

# %%
model.summary()

# %% [markdown]
# ## Train
#
# Labels are integers, so use the sparse categorical cross-entropy loss. Keep 10%
# of the training images aside to watch for overfitting.

# %% [exercise:train]
# TODO: compile the model (optimizer "adam", loss
# "sparse_categorical_crossentropy", metrics ["accuracy"]) and fit it with
# validation_split=0.1; keep the result in `history`.
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    x_train, y_train, validation_split=0.1, epochs=10, batch_size=64, verbose=2
)

# %% [markdown]
# ## Save
#
# The grader reads `model.keras`; the site draws your training curve from
# `history.json`.

# %%
model.save(OUTPUT_DIR / "model.keras")
curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
(OUTPUT_DIR / "history.json").write_text(json.dumps(curves))
print("saved", OUTPUT_DIR / "model.keras")
