"""scikit-learn's bundled 8x8 digits: real images that need no download, so runs work offline."""

from collections.abc import Sequence

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits as _sklearn_digits

from blueprint.data.arrays import image_data_from_arrays
from blueprint.data.splits import MAX_PIXEL_VALUE, ImageData
from blueprint.errors import DataError

COUNTS = 16  # scikit-learn's digits count ink in 4x4 blocks: 0..16


def load_digits(
    val_fraction: float,
    test_fraction: float,
    seed: int,
    classes: list[int] | None = None,
    image_size: Sequence[int] = (8, 8),
) -> ImageData:
    """Loads the digits as (n, height, width, 1) float32 images with seeded, stratified splits,
    their 0..16 counts scaled to whole 0..255 grey levels, so an 8-bit image file of a digit holds
    what the model trained on.

    `classes` keeps a subset (relabelled 0..k-1 in ascending order), e.g. [0, 1] for a binary task.
    `image_size` other than 8x8 resizes them (bilinear), for models that need larger inputs.
    """
    bunch = _sklearn_digits()
    grey = np.round(bunch.images * (MAX_PIXEL_VALUE / COUNTS)).astype("float32")
    images = _resized(grey, tuple(image_size))
    labels = bunch.target.astype("int64")
    if classes is not None:
        unknown = sorted(set(classes) - set(range(10)))
        if unknown:
            raise DataError(f"data.classes names digits {unknown}; use digits from 0 to 9")
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
    return image_data_from_arrays(
        images,
        labels,
        source="sklearn.datasets.load_digits",
        name="digits",
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        value_range=(0, MAX_PIXEL_VALUE),
    )


def _resized(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, 8, 8) -> (n, height, width), pixel values kept in 0..255."""
    if size != images.shape[1:]:
        height, width = size
        images = np.stack(
            [np.asarray(Image.fromarray(i).resize((width, height), Image.BILINEAR)) for i in images]
        )
    return images
