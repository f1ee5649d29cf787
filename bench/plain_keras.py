"""The baseline bench/overhead.py compares against: the same model and data in a plain Keras script.

No Hydra, no MLflow, no callbacks: what a user would write by hand. Usage:
    python bench/plain_keras.py EPOCHS
"""

import sys

import keras

from blueprint.data.digits import load_digits
from blueprint.models.cnn import build_cnn


def main(epochs: int) -> None:
    keras.utils.set_random_seed(42)
    data = load_digits(0.15, 0.15, seed=42)
    model = build_cnn([8, 8, 1], num_classes=10)  # the digits load as 0..255 pixels
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(
        data.train.images, data.train.labels,
        validation_data=(data.val.images, data.val.labels),
        batch_size=32, epochs=epochs, verbose=0,
    )  # fmt: skip
    print(model.evaluate(data.test.images, data.test.labels, verbose=0, return_dict=True))


if __name__ == "__main__":
    main(int(sys.argv[1]))
