"""The plain Keras side of bench/photo_pipeline.py: a folder of images as a user writes it by hand.

`keras.utils.image_dataset_from_directory` with blueprint's split shares (70% training; the 30%
held out halved by batches into validation and test), blueprint's own MLP (`build_mlp`: the same
layers, rescaling included; one sigmoid unit for two classes, so binary cross-entropy), Adam at
1e-3, batch 32, no callbacks but the bench's epoch clock. Usage:
    python -m bench.plain_keras_folder FOLDER SIZE CACHE EPOCHS TIMES_JSON

CACHE `memory` adds `.cache()` as Keras' tutorials do (blueprint's `data.cache=memory`); `none`
reads every file every epoch.
"""

import sys

import keras
import tensorflow as tf

from bench.epoch_times import EpochTimes
from blueprint.models.mlp import build_mlp

SEED = 42  # conf/trainer's seed


def main(folder: str, size: int, cache: str, epochs: int, times_json: str) -> None:
    keras.utils.set_random_seed(SEED)
    train, held_out = keras.utils.image_dataset_from_directory(
        folder, label_mode="binary", image_size=(size, size), batch_size=32,
        validation_split=0.3, subset="both", seed=SEED, verbose=False,
    )  # fmt: skip
    classes = len(train.class_names)
    half = held_out.cardinality() // 2
    val, test = held_out.take(half), held_out.skip(half)
    if cache == "memory":
        train, val = train.cache().shuffle(1000), val.cache()
    train, val = train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)
    model = build_mlp([size, size, 3], num_classes=classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(train, validation_data=val, epochs=epochs, verbose=0,
              callbacks=[EpochTimes(times_json)])  # fmt: skip
    print(model.evaluate(test, verbose=0, return_dict=True))


if __name__ == "__main__":
    folder, size, cache, epochs, times_json = sys.argv[1:]
    main(folder, int(size), cache, int(epochs), times_json)
