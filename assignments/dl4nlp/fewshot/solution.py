"""Reference solution for DL4NLP assignment 3: few-shot transfer with GloVe.

Run as a plain script. It reads $DOJO_DATA_DIR/train.npz, vocab.txt and
glove.npy and writes $DOJO_OUTPUT_DIR/model.keras and history.json.
build_starters.py turns it into starter.ipynb: "# %%" lines start cells,
"[exercise]" cells become TODOs.
"""

# %% [markdown]
# # Assignment 3: few labels, pretrained word vectors
#
# Same network as assignment 2, but now you have only **10 labelled definitions
# per category** (100 in all). Trained from scratch, the embedding only learns
# the few words those 100 definitions contain. GloVe vectors were learned from
# six billion words of unlabelled text: words that mean similar things already
# have similar vectors, so a definition full of words your examples never showed
# still lands near the right category. Start the `Embedding` from GloVe and keep
# it frozen; train only the convolution and the softmax. Fill in the cells
# marked **TODO**.

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
glove = np.load(DATA_DIR / "glove.npy", allow_pickle=False)
num_classes = int(y_train.max()) + 1
print("definitions:", x_train.shape, "vectors:", glove.shape)

# %% [markdown]
# ## Build the model
#
# `glove[i]` is the 50-number GloVe vector of `vocabulary[i]` (zeros for the
# padding, the unknown word and the few words GloVe lacks). Build assignment 2's
# network, then copy the vectors into the embedding with `set_weights` and
# freeze it, so 100 examples cannot pull the vectors apart.

# %% [exercise:model]
# TODO: build the same keras.Sequential as in assignment 2 (Input of 32 int32
# ids, Embedding(len(vocabulary), 50), Conv1D(64, 3, activation="relu"),
# GlobalMaxPooling1D(), Dropout(0.3), Dense(num_classes, activation="softmax")),
# then embedding.set_weights([glove]) and embedding.trainable = False.
embedding = keras.layers.Embedding(len(vocabulary), 50, name="embedding")
model = keras.Sequential(
    [
        keras.Input(shape=x_train.shape[1:], dtype="int32"),
        embedding,
        keras.layers.Conv1D(64, 3, activation="relu", name="conv1d"),
        keras.layers.GlobalMaxPooling1D(name="pool"),
        keras.layers.Dropout(0.3, name="dropout"),
        keras.layers.Dense(num_classes, activation="softmax", name="output"),
    ]
)
embedding.set_weights([glove])
embedding.trainable = False

# %%
model.summary()

# %% [markdown]
# ## Train
#
# With 100 examples, hold nothing out, use small batches (16) and more epochs
# (30): each epoch is only a few steps.

# %% [exercise:train]
# TODO: compile the model (optimizer "adam", loss
# "sparse_categorical_crossentropy", metrics ["accuracy"]) and fit it for 30
# epochs with batch_size=16; keep the result in `history`.
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(x_train, y_train, epochs=30, batch_size=16, verbose=2)

# %% [markdown]
# ## Save

# %%
model.save(OUTPUT_DIR / "model.keras")
curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
(OUTPUT_DIR / "history.json").write_text(json.dumps(curves))
print("saved", OUTPUT_DIR / "model.keras")
