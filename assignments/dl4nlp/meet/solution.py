"""Reference solution for DL4NLP assignment 0: meet the data.

Run as a plain script. It reads $DOJO_DATA_DIR/train.npz and vocab.txt and writes
$DOJO_OUTPUT_DIR/model.keras and history.json. build_starters.py turns it into
starter.ipynb: "# %%" lines start cells, "[exercise]" cells become TODOs.
"""

# %% [markdown]
# # Assignment 0: meet the data
#
# Fifteen minutes to meet the text and the submission loop. Each example is a
# WordNet definition ("a domesticated carnivorous mammal ...") and its label is
# the category of the noun it defines (animal, artifact, person, ...). The pack
# has already tokenised every definition: you get word ids, the vocabulary that
# maps them back to words, and the labels. Decode a few definitions, count the
# classes, train the simplest text model there is (a bag of words into one
# softmax layer) and submit. Fill in the cells marked **TODO**.

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
    "artifact", "person", "plant", "animal", "act",
    "communication", "state", "location", "attribute", "substance",
]  # fmt: skip

train = np.load(DATA_DIR / "train.npz")
x_train, y_train = train["x"], train["y"]
vocabulary = (DATA_DIR / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]

# %% [markdown]
# ## Look at the data
#
# `x_train` holds one row per definition: 32 word ids. Id 0 is padding (short
# definitions are filled up with zeros), id 1 a word outside the vocabulary, and
# id i >= 2 is line i of `vocab.txt` (the most frequent words first).

# %%
print("definitions:", x_train.shape, x_train.dtype, "labels:", y_train.shape)
print("vocabulary:", len(vocabulary), "words; the first ones:", vocabulary[:12])


# %% [exercise:decode]
# TODO: write decode(ids) that turns one row of word ids back into text: skip
# the padding (id 0) and join vocabulary[i] with spaces. Keep the first
# definition of each class, decoded, in the list `decoded` (ten strings) and
# print each with its class name.
def decode(ids: np.ndarray) -> str:
    return " ".join(vocabulary[i] for i in ids if i != 0)


decoded = [decode(x_train[np.flatnonzero(y_train == k)[0]]) for k in range(10)]
for name, text in zip(CLASS_NAMES, decoded, strict=True):
    print(f"{name:14s} {text}")

# %% [markdown]
# ## Class balance
#
# These classes are not balanced: artifacts are almost four times as common as
# substances, so always guessing "artifact" is already right 18% of the time.
# That is the floor the grader scores from.

# %% [exercise:balance]
# TODO: count the definitions of each class with np.bincount(y_train) and print
# each class name with its count and its share of the whole.
counts = np.bincount(y_train, minlength=len(CLASS_NAMES))
for name, count in zip(CLASS_NAMES, counts, strict=True):
    print(f"{name:14s} {count:6d} {count / counts.sum():6.1%}")

# %% [markdown]
# ## The simplest text model: a bag of words
#
# `CategoryEncoding(output_mode="multi_hot")` turns the 32 ids into a vector
# with one entry per vocabulary word: 1 if the word occurs in the definition, 0
# otherwise. Word order is gone: that is a *bag of words*. One `Dense` softmax
# layer on top is logistic regression: a weight per word and class.

# %% [exercise:model]
# TODO: build keras.Sequential with keras.Input(shape=(32,), dtype="int32"),
# keras.layers.CategoryEncoding(num_tokens=len(vocabulary),
# output_mode="multi_hot") and Dense(10, activation="softmax"); compile it
# (optimizer "adam", loss "sparse_categorical_crossentropy", metrics
# ["accuracy"]) and fit it with validation_split=0.1 for 5 epochs; keep the
# result in `history`.
model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:], dtype="int32"),
        keras.layers.CategoryEncoding(
            num_tokens=len(vocabulary), output_mode="multi_hot"
        ),
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
# and grades it on hidden definitions.

# %%
model.save(OUTPUT_DIR / "model.keras")
curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
(OUTPUT_DIR / "history.json").write_text(json.dumps(curves))
print("saved", OUTPUT_DIR / "model.keras")
