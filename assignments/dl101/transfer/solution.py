"""Reference solution for DL101 assignment 3: transfer learning.

Run as a plain script. It reads $DOJO_DATA_DIR/train.npz and base.keras and writes
$DOJO_OUTPUT_DIR/model.keras and history.json. build_starters.py turns it into
starter.ipynb: "# %%" lines start cells, "[exercise]" cells become TODOs.
"""

# %% [markdown]
# # Assignment 3: transfer learning
#
# A network was trained on five kinds of clothing (T-shirt/top, trouser,
# pullover, dress, coat) and published as `base.keras`: it turns an image into a
# vector of features. Reuse it, frozen, to recognise five other kinds it has never
# seen (sandal, shirt, sneaker, bag, ankle boot; labelled 0-4 here) by training
# only a new head on top. Fill in the cells marked **TODO**, run the notebook top
# to bottom, then submit it. The grader measures accuracy on hidden test images.

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

base = keras.saving.load_model(DATA_DIR / "base.keras", compile=False)
base.summary()

# %% [markdown]
# ## Build the model
#
# Freeze the base so training cannot change its weights, then put a small head
# on top: a hidden `Dense` layer and the softmax output. The grader checks that
# the base's weights are exactly the published ones.

# %% [exercise:model]
# TODO: set base.trainable = False, then build keras.Sequential with
# keras.Input(shape=x_train.shape[1:]), base, Dense(64, activation="relu") and
# Dense(num_classes, activation="softmax").
base.trainable = False
model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:]),
        base,
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
)

# %%
model.summary()

# %% [markdown]
# ## Train
#
# Labels are integers, so use the sparse categorical cross-entropy loss. Keep 10%
# of the training images aside to watch for overfitting. There are only a few
# images per class: small batches (16) give the head enough steps.

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
    x_train, y_train, validation_split=0.1, epochs=10, batch_size=16, verbose=2
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
