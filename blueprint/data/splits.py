"""In-memory labelled image splits, the one shape every data source returns."""

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from blueprint.errors import DataError


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, height, width, channels), raw pixel values
    labels: np.ndarray  # (n,), integer class ids

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class ImageSplits:
    train: Split
    val: Split
    test: Split
    num_classes: int
    class_names: list[str]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.train.images.shape[1:])


def stratified_splits(
    images: np.ndarray,
    labels: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[Split, Split, Split]:
    """Seeded train/val/test split that keeps class proportions in every part.

    Every class must reach every split, or the validation metrics and the per-class evaluation
    would silently miss it: too small a fraction is a DataError naming both fractions.
    """
    try:
        rest_x, test_x, rest_y, test_y = train_test_split(
            images, labels, test_size=test_fraction, stratify=labels, random_state=seed
        )
        val_share_of_rest = val_fraction / (1.0 - test_fraction)
        train_x, val_x, train_y, val_y = train_test_split(
            rest_x, rest_y, test_size=val_share_of_rest, stratify=rest_y, random_state=seed
        )
    except ValueError as err:  # scikit-learn: a split smaller than the number of classes
        raise _empty_class_error(val_fraction, test_fraction, str(err)) from err
    splits = Split(train_x, train_y), Split(val_x, val_y), Split(test_x, test_y)
    classes = np.unique(labels)
    for name, split in zip(("train", "validation", "test"), splits, strict=True):
        missing = np.setdiff1d(classes, split.labels)
        if missing.size:
            raise _empty_class_error(
                val_fraction, test_fraction, f"the {name} split has no image of class {missing[0]}"
            )
    return splits


def _empty_class_error(val_fraction: float, test_fraction: float, reason: str) -> DataError:
    return DataError(
        f"data.val_fraction={val_fraction:g} and data.test_fraction={test_fraction:g} leave a "
        f"class out of a split ({reason.splitlines()[0]}); use larger fractions, e.g. "
        "data.val_fraction=0.15 data.test_fraction=0.15"
    )


def check_declared(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    image_shape: list[int],
    source: str,
) -> None:
    """Raises DataError when the data disagrees with what its config declares."""
    found_classes = len(np.unique(labels))
    if found_classes != num_classes:
        raise DataError(
            f"{source} holds {found_classes} classes but data.num_classes={num_classes}; "
            f"set data.num_classes={found_classes}"
        )
    found_shape = list(images.shape[1:])
    if found_shape != list(image_shape):
        raise DataError(
            f"{source} images have shape {found_shape} but data.image_shape={list(image_shape)}; "
            f"set data.image_shape={found_shape}"
        )
