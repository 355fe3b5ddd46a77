"""Writes a Keras run the way Keras writes it: CSVLogger's training.log and ModelCheckpoint's
model.keras side by side, so the class count read from the saved model config is tested on files
real Keras produced. Not run by the tests (the project does not depend on keras). To regenerate:

    pip install --target /tmp/keras keras          # keras 3 and its small dependencies
    KERAS_BACKEND=torch PYTHONPATH=/tmp/keras python tests/history/keras_writer.py OUT_DIR

The model: a 4-class softmax classifier of 20-dimensional Gaussian blobs (seeded), 12 epochs.
The committed fixture tests/history/data/keras_run/ was written by this (keras 3.15.1, torch backend).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(out: Path) -> None:
    import keras  # only in the side environment that writes the fixture
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1.0, size=(4, 20))
    y = rng.integers(0, 4, size=2000)
    x = (centers[y] + rng.normal(0, 1.6, size=(2000, 20))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(
        x[:1500],
        y[:1500],
        validation_data=(x[1500:], y[1500:]),
        epochs=12,
        batch_size=64,
        verbose=0,
        callbacks=[
            keras.callbacks.CSVLogger(str(out / "training.log")),
            keras.callbacks.ModelCheckpoint(str(out / "model.keras")),
        ],
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
