"""Reference solution for DL4NLP assignment 2: word embeddings and a sequence model.

Run as a plain script. It reads $DOJO_DATA_DIR/train.npz and vocab.txt and writes
$DOJO_OUTPUT_DIR/model.keras and history.json. build_starters.py turns it into
starter.ipynb: "# %%" lines start cells, "[exercise]" cells become TODOs.
"""

# %% [markdown]
# # Assignment 2: word embeddings and a sequence model
#
# A bag of words forgets the order of words and treats "dog" and "puppy" as
# unrelated. Here each word id becomes a learned vector (an `Embedding`), and a
# one-dimensional convolution slides over the sequence of vectors to find short
# phrases ("a species of", "a person who") wherever they occur; global max
# pooling keeps the strongest match of each filter. An `LSTM` reading the words
# in order works too. Fill in the cells marked **TODO**, run the notebook top to
# bottom, then submit it.

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
# `Embedding(len(vocabulary), 50)` gives each word a vector of 50 numbers,
# learned with the rest. `Conv1D(64, 3)` looks at three consecutive words at a
# time; `GlobalMaxPooling1D` keeps, for each of its 64 filters, the best match
# anywhere in the definition. The grader checks that the embedding and the
# convolution (or LSTM) are really used: it shuffles each one's output across
# definitions and expects the accuracy to drop.

# %% [exercise:model]
# TODO: build keras.Sequential with keras.Input(shape=(32,), dtype="int32"),
# Embedding(len(vocabulary), 50), Conv1D(64, 3, activation="relu"),
# GlobalMaxPooling1D(), Dropout(0.3) and Dense(num_classes, activation="softmax").
model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:], dtype="int32"),
        keras.layers.Embedding(len(vocabulary), 50, name="embedding"),
        keras.layers.Conv1D(64, 3, activation="relu", name="conv1d"),
        keras.layers.GlobalMaxPooling1D(name="pool"),
        keras.layers.Dropout(0.3, name="dropout"),
        keras.layers.Dense(num_classes, activation="softmax", name="output"),
    ]
)

# %%
model.summary()

# %% [markdown]
# ## Train

# %% [exercise:train]
# TODO: compile the model (optimizer "adam", loss
# "sparse_categorical_crossentropy", metrics ["accuracy"]) and fit it for 4
# epochs with batch_size=64 and validation_split=0.1; keep the result in
# `history`.
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    x_train, y_train, validation_split=0.1, epochs=4, batch_size=64, verbose=2
)

# %% [markdown]
# ## Save

# %%
model.save(OUTPUT_DIR / "model.keras")
curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
(OUTPUT_DIR / "history.json").write_text(json.dumps(curves))
print("saved", OUTPUT_DIR / "model.keras")
