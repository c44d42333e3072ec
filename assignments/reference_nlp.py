"""The DL4NLP reference sequence network, defined once for the code that builds it.

Participants read the same network written out in
``assignments/dl4nlp/sequence/solution.py`` and ``fewshot/solution.py`` (scripts
that import nothing of the project); a test proves that they build the same
layers. Keras is passed in, so importing this module costs nothing.
"""

from typing import Any

EMBEDDING_DIM = 50
FILTERS = 64
KERNEL_SIZE = 3


def sequence_model(
    keras: Any,
    *,
    vocabulary_size: int,
    length: int,
    classes: int,
    embeddings: Any = None,
) -> Any:
    """Return Embedding -> Conv1D -> GlobalMaxPooling1D -> Dropout -> softmax.

    With ``embeddings`` (a vocabulary x 50 matrix) the Embedding starts from
    those vectors and stays frozen; without, it starts random and is trained.
    """
    layers = keras.layers
    embedding = layers.Embedding(vocabulary_size, EMBEDDING_DIM, name="embedding")
    model = keras.Sequential(
        [
            keras.Input(shape=(length,), dtype="int32"),
            embedding,
            layers.Conv1D(FILTERS, KERNEL_SIZE, activation="relu", name="conv1d"),
            layers.GlobalMaxPooling1D(name="pool"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(classes, activation="softmax", name="output"),
        ]
    )
    if embeddings is not None:
        embedding.set_weights([embeddings])
        embedding.trainable = False
    return model
