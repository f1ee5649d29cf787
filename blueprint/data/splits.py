"""What every data source returns: three splits that can stream, and what describes them.

A split is either arrays already in memory (`ArraySplit`: digits, npz, mnist) or image files read
from disk batch by batch (`FileSplit`: folder, csv). Labels are always in memory (they are small,
and class counts, class weights and the evaluation need them); images are not, for files.
`blueprint.data.pipeline` turns either kind into a tf.data pipeline.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blueprint.errors import DataError

SPLITS = ("train", "val", "test")
# What a split's `labels` hold: class ids (classification, binary), numbers (regression), or a
# class id per pixel (segmentation: (n, height, width) masks).
TARGETS = ("classes", "values", "masks")
# The one pixel convention: every source's images are 0..255, as an 8-bit image file holds (sources
# of another range scale theirs as they load), so a model reads any ordinary image file as it
# read its training images.
MAX_PIXEL_VALUE = 255.0


@dataclass(frozen=True)
class ArraySplit:
    images: np.ndarray  # (n, height, width, channels), pixel values in 0..MAX_PIXEL_VALUE
    labels: np.ndarray  # (n,) class ids or float values, or (n, height, width) masks

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class FileSplit:
    paths: tuple[str, ...]  # absolute image file paths, decoded and resized batch by batch
    labels: np.ndarray  # (n,) class ids or float values; for masks, the mask files' paths
    image_size: tuple[int, int]  # height, width every image is resized to
    channels: int  # 1 (grayscale) or 3 (rgb), whatever the file holds
    cache: str = "none"  # none | memory | a path prefix for tf.data's file cache
    cache_key: str = ""  # tells file caches of different inventories and image settings apart
    # > 0: labels are paths of mask files with this many classes (segmentation), read with the
    # images; with 2, any non-zero pixel is the foreground (masks saved as 0/255)
    mask_classes: int = 0

    def __len__(self) -> int:
        return len(self.labels)


Split = ArraySplit | FileSplit


@dataclass(frozen=True)
class DatasetRecord:
    """What the run records about its data: MLflow's dataset input and the files to log."""

    name: str
    source: str  # a path or URI: where the data came from
    digest: str  # changes whenever the images, labels or split change
    files: tuple[Path, ...] = ()  # inventory files, logged as the run's `data/` artifacts


@dataclass(frozen=True)
class ImageData:
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    image_shape: tuple[int, int, int]  # height, width, channels of what the model receives
    # the model rescales its input by 1/this, so raw pixels go in: MAX_PIXEL_VALUE for every
    # source (`blueprint.data.facts.load_data` refuses another)
    max_pixel_value: float = MAX_PIXEL_VALUE
    record: DatasetRecord = field(default_factory=lambda: DatasetRecord("data", "", ""))
    targets: str = "classes"  # one of TARGETS; class_names is empty for values

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def splits(self) -> dict[str, Split]:
        return dict(zip(SPLITS, (self.train, self.val, self.test), strict=True))

    def class_counts(self) -> dict[str, list[int]]:
        """Images per class (in class order) for each split; none for values or masks."""
        if self.targets != "classes":
            return {}
        return {
            name: np.bincount(split.labels, minlength=self.num_classes).tolist()
            for name, split in self.splits().items()
        }


def stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test indices (each sorted) that keep class proportions in every part.

    `test_fraction=0` leaves the test part empty, for sources that bring their own test split.

    Every class must reach every split, or the validation metrics and the per-class evaluation
    would silently miss it: too small a fraction is a DataError naming both fractions.
    """
    from sklearn.model_selection import train_test_split  # 0.8 s: only for sources it splits

    indices = np.arange(len(labels))
    try:
        if test_fraction > 0:
            rest, test = train_test_split(
                indices, test_size=test_fraction, stratify=labels, random_state=seed
            )
        else:  # the source brings its own test split
            rest, test = indices, indices[:0]
        train, val = train_test_split(
            rest,
            test_size=val_fraction / (1.0 - test_fraction),
            stratify=labels[rest],
            random_state=seed,
        )
    except ValueError as err:  # scikit-learn: a split smaller than the number of classes
        raise _empty_class_error(val_fraction, test_fraction, str(err)) from err
    parts = np.sort(train), np.sort(val), np.sort(test)
    gap = missing_class(labels, parts if test_fraction > 0 else parts[:2])
    if gap:
        raise _empty_class_error(val_fraction, test_fraction, gap)
    return parts


def random_split(
    count: int, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test indices (each sorted) for targets without classes to stratify by."""
    order = np.random.default_rng(seed).permutation(count)
    test_count, val_count = round(count * test_fraction), round(count * val_fraction)
    if min(val_count, count - test_count - val_count) < 1 or (test_fraction and not test_count):
        raise DataError(
            f"{count} images cannot fill the splits of data.val_fraction={val_fraction:g} and "
            f"data.test_fraction={test_fraction:g}; add images or use larger fractions"
        )
    test, val = order[:test_count], order[test_count : test_count + val_count]
    return np.sort(order[test_count + val_count :]), np.sort(val), np.sort(test)


def missing_class(labels: np.ndarray, parts: Sequence[np.ndarray]) -> str | None:
    """Which split lacks which class ("the val split has no image of class 3"), or None."""
    classes = np.unique(labels)
    for name, part in zip(SPLITS, parts, strict=False):
        missing = np.setdiff1d(classes, labels[part])
        if missing.size:
            return f"the {name} split has no image of class {missing[0]}"
    return None


def _empty_class_error(val_fraction: float, test_fraction: float, reason: str) -> DataError:
    return DataError(
        f"data.val_fraction={val_fraction:g} and data.test_fraction={test_fraction:g} leave a "
        f"class out of a split ({reason.splitlines()[0]}); use larger fractions, e.g. "
        "data.val_fraction=0.15 data.test_fraction=0.15"
    )
