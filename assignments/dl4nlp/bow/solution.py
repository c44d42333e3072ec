"""Reference solution for DL4NLP assignment 1: a bag of words into an MLP.

Run as a plain script. It reads $DOJO_DATA_DIR/train.npz and vocab.txt and writes
$DOJO_OUTPUT_DIR/model.keras and history.json. build_starters.py turns it into
starter.ipynb: "# %%" lines start cells, "[exercise]" cells become TODOs.
"""

# %% [markdown]
# # Assignment 1: a bag of words into a multilayer perceptron
#
# Turn each definition into word counts and put a hidden layer between them and
# the answer, so the network can learn combinations of words ("a tree" and
# "flowers" together say *plant* more surely than either alone). Fill in the
# cells marked **TODO**, run the notebook top to bottom, then submit it.

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
vocabulary = (DATA_DIR / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
num_classes = int(y_train.max()) + 1
print("definitions:", x_train.shape, "vocabulary:", len(vocabulary))

# %% [markdown]
# ## Build the model
#
# `CategoryEncoding(output_mode="count")` counts each vocabulary word in the
# definition (a bag of words; TF-IDF would further weight each count by how rare
# the word is). A `Dense` hidden layer with ReLU learns combinations of words,
# `Dropout` keeps it from memorising the training definitions, and a softmax
# layer gives one probability per category.

# %% [exercise:model]
# TODO: build keras.Sequential with keras.Input(shape=(32,), dtype="int32"),
# keras.layers.CategoryEncoding(num_tokens=len(vocabulary), output_mode="count"),
# Dense(32, activation="relu"), Dropout(0.5) and
# Dense(num_classes, activation="softmax").
model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:], dtype="int32"),
        keras.layers.CategoryEncoding(num_tokens=len(vocabulary), output_mode="count"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
)

# %%
model.summary()

# %% [markdown]
# ## Train
#
# Labels are integers, so use the sparse categorical cross-entropy loss; keep 10%
# of the definitions aside to watch for overfitting.

# %% [exercise:train]
# TODO: compile the model (optimizer "adam", loss
# "sparse_categorical_crossentropy", metrics ["accuracy"]) and fit it for 5
# epochs with batch_size=64 and validation_split=0.1; keep the result in
# `history`.
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    x_train, y_train, validation_split=0.1, epochs=5, batch_size=64, verbose=2
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
