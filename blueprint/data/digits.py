"""scikit-learn's bundled 8x8 digits: real images that need no download, so runs work offline."""

import numpy as np
from sklearn.datasets import load_digits as _sklearn_digits

from blueprint.data.splits import ImageSplits, check_declared, stratified_splits
from blueprint.errors import DataError


def load_digits(
    val_fraction: float,
    test_fraction: float,
    seed: int,
    num_classes: int,
    image_shape: list[int],
    max_pixel_value: float,
    classes: list[int] | None = None,
) -> ImageSplits:
    """Loads the digits as (n, 8, 8, 1) float32 images with seeded, stratified splits.

    `classes` keeps a subset (relabelled 0..k-1 in ascending order), e.g. [0, 1] for a binary task.
    """
    bunch = _sklearn_digits()
    images = bunch.images.astype("float32")[..., np.newaxis]
    labels = bunch.target.astype("int64")
    names = [str(c) for c in range(10)]
    if classes is not None:
        unknown = sorted(set(classes) - set(range(10)))
        if unknown:
            raise DataError(f"data.classes names digits {unknown}; use digits from 0 to 9")
        keep = np.isin(labels, classes)
        images = images[keep]
        labels = np.searchsorted(np.array(sorted(classes)), labels[keep])
        names = [str(c) for c in sorted(classes)]
    if images.max() > max_pixel_value:
        raise DataError(
            f"digits pixels reach {images.max():g} but data.max_pixel_value={max_pixel_value:g}; "
            f"set data.max_pixel_value={images.max():g}"
        )
    check_declared(images, labels, num_classes, image_shape, source="digits")
    train, val, test = stratified_splits(images, labels, val_fraction, test_fraction, seed)
    return ImageSplits(train, val, test, num_classes=num_classes, class_names=names)
