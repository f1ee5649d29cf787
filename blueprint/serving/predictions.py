"""A trained model's outputs for image files, streamed in batches through its own preprocessing,
and the predictions CSV: classes with their probabilities, values, or mask files (segmentation).

Files are decoded the way training decoded them (`blueprint.data.decoding.load_image`, resized to
the model's input) in a parallel tf.data pipeline that drops the files it cannot decode; those are
decoded again one by one only to say why, and get a row with the reason instead of an output.
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from blueprint.data.decoding import load_image, unreadable
from blueprint.models.heads import class_probabilities


@dataclass(frozen=True)
class Prediction:
    path: Path
    output: np.ndarray | None  # the model's output for the image; None when it was unreadable
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
        outputs = keras.ops.convert_to_numpy(model.predict_on_batch(images))
        for index, row in zip(indices.numpy(), outputs, strict=True):
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
    predictions: Iterator[Prediction],
    task: str,
    class_names: list[str],
    output: Path,
    masks_dir: Path | None = None,
) -> dict[str, int]:
    """Writes one row per image as it arrives; returns counts of the images predicted and failed.

    Rows: file, then for classes the predicted class, its confidence and a probability per
    class; for values (regression) the value; for masks (segmentation) the mask file, a PNG of
    class ids at the image's own size in `masks_folder(output)`; then the error of an unreadable
    file."""
    columns = {
        "classification": ["predicted", "confidence", *(f"p_{n}" for n in class_names)],
        "regression": ["value"],
        "segmentation": ["mask"],
    }[task]
    counts = {"predicted": 0, "failed": 0}
    masks = MaskWriter(masks_dir) if task == "segmentation" else None
    with open(output, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", *columns, "error"])
        for p in predictions:
            if p.output is None:
                writer.writerow([p.path, *([""] * len(columns)), p.error])
                counts["failed"] += 1
                continue
            if masks is not None:
                cells = [masks.write(p.path, p.output.argmax(axis=-1))]
            elif task == "regression":
                cells = [f"{float(p.output[0]):.6g}"]
            else:
                cells = _class_cells(class_probabilities(p.output[np.newaxis])[0], class_names)
            writer.writerow([p.path, *cells, ""])
            counts["predicted"] += 1
    return counts


def _class_cells(probabilities: np.ndarray, class_names: list[str]) -> list[str]:
    best = int(np.argmax(probabilities))
    return [
        class_names[best],
        f"{probabilities[best]:.6f}",
        *(f"{v:.6f}" for v in probabilities),
    ]


def masks_folder(output: Path) -> Path:
    """Where a segmentation's masks go: beside the CSV, `<name>_masks/`."""
    return output.with_name(f"{output.stem}_masks")


class MaskWriter:
    """Predicted masks as PNG files of class ids, resized (nearest neighbour) to each image's
    own size, named after the image (a repeated name gets a number)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.used: set[str] = set()

    def write(self, image: Path, mask: np.ndarray) -> str:
        name, number = image.stem, 1
        while f"{name}.png" in self.used:
            number += 1
            name = f"{image.stem}_{number}"
        self.used.add(f"{name}.png")
        with Image.open(image) as original:  # reads the header only
            size = original.size
        picture = Image.fromarray(mask.astype("uint8"), mode="L")
        picture.resize(size, Image.Resampling.NEAREST).save(self.folder / f"{name}.png")
        return f"{self.folder.name}/{name}.png"
