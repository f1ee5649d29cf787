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
    """Seeded train/val/test split that keeps class proportions in every part."""
    rest_x, test_x, rest_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    val_share_of_rest = val_fraction / (1.0 - test_fraction)
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x, rest_y, test_size=val_share_of_rest, stratify=rest_y, random_state=seed
    )
    return Split(train_x, train_y), Split(val_x, val_y), Split(test_x, test_y)


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
