"""Images already held as arrays (digits, npz, mnist): checked, split and kept in memory."""

import hashlib

import numpy as np

from blueprint.data.splits import ArraySplit, DatasetRecord, ImageData, stratified_split
from blueprint.errors import DataError


def image_data_from_arrays(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    source: str,
    name: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    class_names: list[str] | None = None,
) -> ImageData:
    """Stratified, seeded splits of `images`; `test` arrays, when given, are the test split.

    Images are (n, height, width) or (n, height, width, channels). Labels are any integers:
    class ids follow their sorted values, which `class_names` (one per value) names.
    The largest pixel value is 255 for uint8 images and the brightest pixel otherwise.
    """
    images = _as_images(images, source)
    labels = _as_labels(labels, len(images), source)
    values = np.unique(labels)
    if test is not None:
        test_images = _as_images(test[0], source)
        test_labels = _as_labels(test[1], len(test_images), source)
        _check_same_kind(images, test_images, values, test_labels, source)
    if class_names is None:
        class_names = [str(v) for v in values]
    elif len(class_names) != len(values):
        raise DataError(
            f"{source} holds {len(values)} label values {values[:10].tolist()} but "
            f"data.class_names names {len(class_names)}; give one name per value, in their order"
        )
    if len(class_names) < 2:
        raise DataError(f"{source} holds one class only ({class_names}); a classifier needs two")
    parts = stratified_split(labels, val_fraction, 0 if test is not None else test_fraction, seed)
    ids = np.searchsorted(values, labels)
    train, val, held_out = (ArraySplit(images[p], ids[p]) for p in parts)
    if test is not None:
        held_out = ArraySplit(test_images, np.searchsorted(values, test_labels))
    digest = hashlib.sha256()
    for split in (train, val, held_out):
        digest.update(np.ascontiguousarray(split.images).data)
        digest.update(np.ascontiguousarray(split.labels).data)
    return ImageData(
        train,
        val,
        held_out,
        class_names=list(class_names),
        image_shape=tuple(int(d) for d in images.shape[1:]),
        max_pixel_value=255.0 if images.dtype == np.uint8 else float(images.max()) or 1.0,
        record=DatasetRecord(name=name, source=source, digest=digest.hexdigest()[:12]),
    )


def _as_images(images: np.ndarray, source: str) -> np.ndarray:
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or not len(images):
        raise DataError(
            f"{source}: images have shape {list(images.shape)}; expected (n, height, width) or "
            "(n, height, width, 1 or 3) with n > 0"
        )
    if not np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_:
        raise DataError(f"{source}: images are {images.dtype}; expected numbers")
    return images


def _as_labels(labels: np.ndarray, count: int, source: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{source}: labels have shape {list(labels.shape)} and type {labels.dtype}; "
            f"expected {count} integer class ids, one per image"
        )
    return labels.astype("int64")


def _check_same_kind(
    images: np.ndarray,
    test_images: np.ndarray,
    values: np.ndarray,
    test_labels: np.ndarray,
    source: str,
) -> None:
    if test_images.shape[1:] != images.shape[1:]:
        raise DataError(
            f"{source}: test images are {list(test_images.shape[1:])} but training images are "
            f"{list(images.shape[1:])}; both need one shape"
        )
    unknown = np.setdiff1d(test_labels, values)
    if unknown.size:
        raise DataError(f"{source}: test labels {unknown[:5].tolist()} never occur in training")
