"""Images already held as arrays (digits, npz, mnist): checked, split and kept in memory."""

import hashlib
import logging
from collections.abc import Sequence

import numpy as np

from blueprint.data.splits import (
    MAX_PIXEL_VALUE,
    ArraySplit,
    DatasetRecord,
    ImageData,
    stratified_split,
)
from blueprint.errors import DataError

log = logging.getLogger(__name__)


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
    value_range: Sequence[float] | None = None,
) -> ImageData:
    """Stratified, seeded splits of `images`; `test` arrays, when given, are the test split.

    Images are (n, height, width) or (n, height, width, channels). Labels are any integers:
    class ids follow their sorted values, which `class_names` (one per value) names.

    Pixels come out in 0..255, the range every model takes: `value_range` (low, high) declares
    the arrays' own range, mapped onto 0..255 as they load (the test arrays too). Without it the
    range is 0..255 for uint8 images and 0..the brightest image pixel otherwise, so 0..1 or 0..16
    arrays are stretched to 0..255 (logged).
    """
    images = _as_images(images, source)
    labels = _as_labels(labels, len(images), source)
    values = np.unique(labels)
    low, high = _value_range(images, value_range, source)
    images = _to_pixels(images, low, high)
    if test is not None:
        test_images = _to_pixels(_as_images(test[0], source), low, high)
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


def _value_range(
    images: np.ndarray, declared: Sequence[float] | None, source: str
) -> tuple[float, float]:
    """The (low, high) pixel range of `images`: declared (and checked), or found."""
    if declared is None:
        if images.dtype == np.uint8:
            return 0.0, MAX_PIXEL_VALUE
        high = float(images.max()) or MAX_PIXEL_VALUE  # all black: nothing to stretch
        if high != MAX_PIXEL_VALUE:
            log.info(
                "data: %s pixels reach %g; scaled by 255/%g to the 0..255 every model takes "
                "(data.value_range declares another range)",
                source,
                high,
                high,
            )
        return 0.0, high
    low, high = (float(v) for v in declared)
    if not low < high:
        raise DataError(f"data.value_range=[{low:g},{high:g}] is empty; give [low,high], low<high")
    darkest, brightest = float(images.min()), float(images.max())
    if darkest < low or brightest > high:
        raise DataError(
            f"{source}: pixels span {darkest:g}..{brightest:g}, outside data.value_range="
            f"[{low:g},{high:g}]; declare the range they are in, e.g. [0,{brightest:g}]"
        )
    return low, high


def _to_pixels(images: np.ndarray, low: float, high: float) -> np.ndarray:
    """`images` of the range low..high as 0..255 pixels; 0..255 arrays are kept as they are."""
    if (low, high) == (0.0, MAX_PIXEL_VALUE):
        return images
    return ((images.astype("float32") - low) * (MAX_PIXEL_VALUE / (high - low))).astype("float32")


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
