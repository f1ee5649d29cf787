"""Class probabilities for image files, streamed in batches through the model's own preprocessing.

Files are decoded the way training decoded them (`blueprint.data.decoding.load_image`, resized to
the model's input) in a parallel tf.data pipeline that drops the files it cannot decode; those are
decoded again one by one only to say why, and get a row with the reason instead of probabilities.
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from blueprint.data.decoding import load_image, unreadable
from blueprint.diagnostics.evaluation import class_probabilities


@dataclass(frozen=True)
class Prediction:
    path: Path
    probabilities: np.ndarray | None  # None when the file could not be read
    error: str = ""


def predict_files(model: keras.Model, paths: list[Path], batch_size: int) -> Iterator[Prediction]:
    """One `Prediction` per path, in the order given."""
    height, width, channels = model.inputs[0].shape[1:]
    names = [str(p) for p in paths]
    dataset = (
        tf.data.Dataset.from_tensor_slices((np.arange(len(names)), names))
        .map(
            lambda i, path: (i, load_image(path, (height, width), channels)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .ignore_errors()
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    done = 0
    for indices, images in dataset:
        probabilities = class_probabilities(
            keras.ops.convert_to_numpy(model.predict_on_batch(images))
        )
        for index, row in zip(indices.numpy(), probabilities, strict=True):
            yield from _failed(paths[done:index])
            yield Prediction(paths[index], row)
            done = index + 1
    yield from _failed(paths[done:])


def _failed(paths: list[Path]) -> Iterator[Prediction]:
    """The files the pipeline dropped, each with the reason TensorFlow gives."""
    reasons = unreadable([str(p) for p in paths]) if paths else {}
    for i, path in enumerate(paths):
        yield Prediction(path, None, reasons.get(i, "could not be decoded"))


def write_csv(
    predictions: Iterator[Prediction], class_names: list[str], output: Path
) -> dict[str, int]:
    """Writes one row per image (file, predicted class, confidence, a probability per class,
    error) as it arrives; returns counts of the images predicted and failed."""
    counts = {"predicted": 0, "failed": 0}
    with open(output, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["file", "predicted", "confidence", *(f"p_{n}" for n in class_names), "error"]
        )
        for p in predictions:
            if p.probabilities is None:
                writer.writerow([p.path, "", "", *([""] * len(class_names)), p.error])
                counts["failed"] += 1
                continue
            best = int(np.argmax(p.probabilities))
            writer.writerow(
                [
                    p.path,
                    class_names[best],
                    f"{p.probabilities[best]:.6f}",
                    *(f"{v:.6f}" for v in p.probabilities),
                    "",
                ]
            )
            counts["predicted"] += 1
    return counts
