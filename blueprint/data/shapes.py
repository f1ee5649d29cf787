"""Generated shapes: a dataset for every task, made in memory from a seed, so each task has data
that needs no download and a known answer.

Each image is one filled circle, square or triangle of random size, place and grey level on a
noisy background of another level. What the model learns depends on the task: the shape
(classification, binary), the share of the image it covers (regression), or its mask, a class id
per pixel with 0 for the background (segmentation).
"""

import hashlib
from collections.abc import Sequence

import numpy as np

from blueprint.data.arrays import image_data_from_arrays
from blueprint.data.splits import (
    MAX_PIXEL_VALUE,
    ArraySplit,
    DatasetRecord,
    ImageData,
    random_split,
)

SHAPES = ("circle", "square", "triangle")
BACKGROUND = "background"  # class 0 of a mask
NOISE = 12.0  # standard deviation of the pixel noise


def load_shapes(
    task: str,
    count: int,
    image_size: Sequence[int],
    shapes: Sequence[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> ImageData:
    """`count` grey (height, width, 1) images in 0-255, split at random (stratified by shape
    for classes)."""
    images, masks, kinds = draw_shapes(count, tuple(image_size), list(shapes), seed)
    if task in ("classification", "binary"):
        return image_data_from_arrays(
            images,
            kinds,
            source="blueprint.data.shapes",
            name="shapes",
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
            class_names=list(shapes),
            value_range=(0, MAX_PIXEL_VALUE),  # not up to the brightest
        )
    if task == "regression":
        targets, kind, names = masks.astype(bool).mean(axis=(1, 2)).astype("float32"), "values", []
    else:
        targets, kind, names = masks, "masks", [BACKGROUND, *shapes]
    parts = random_split(count, val_fraction, test_fraction, seed)
    splits = [ArraySplit(images[p], targets[p]) for p in parts]
    digest = hashlib.sha256(images.data)
    digest.update(np.ascontiguousarray(targets).data)
    return ImageData(
        *splits,
        class_names=names,
        image_shape=images.shape[1:],
        record=DatasetRecord("shapes", "blueprint.data.shapes", digest.hexdigest()[:12]),
        targets=kind,
    )


def draw_shapes(
    count: int, size: tuple[int, int], shapes: list[str], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (n, h, w, 1) float32, masks (n, h, w) int32 of class ids 1.., shape ids (n,))."""
    rng = np.random.default_rng(seed)
    height, width = size
    rows, columns = np.mgrid[0:height, 0:width].astype("float32") + 0.5
    side = min(height, width)
    images = np.empty((count, height, width, 1), dtype="float32")
    masks = np.zeros((count, height, width), dtype="int32")
    kinds = rng.integers(len(shapes), size=count)
    for i, kind in enumerate(kinds):
        radius = rng.uniform(0.15, 0.35) * side
        centre_y = rng.uniform(radius, height - radius)
        centre_x = rng.uniform(radius, width - radius)
        inside = _inside(shapes[kind], rows - centre_y, columns - centre_x, radius)
        background, foreground = _levels(rng)
        image = np.where(inside, foreground, background) + rng.normal(0, NOISE, (height, width))
        images[i, ..., 0] = np.clip(np.round(image), 0, MAX_PIXEL_VALUE)
        masks[i][inside] = kind + 1
    return images, masks, kinds


def _inside(shape: str, dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    """Pixels of `shape` centred at (0, 0); the three cover about the same area at one radius."""
    if shape == "circle":
        return dy**2 + dx**2 <= radius**2
    if shape == "square":
        half = radius * np.sqrt(np.pi) / 2
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    # An upright triangle: the base below, the apex above, each side a half-plane.
    top, bottom = -1.1 * radius, 0.8 * radius
    slope = (bottom - top) / (1.15 * radius)
    return (dy <= bottom) & (dy >= top + slope * np.abs(dx))


def _levels(rng: np.random.Generator) -> tuple[float, float]:
    """Background and shape grey levels at least 70 apart, either one the brighter."""
    background = rng.uniform(20, 235)
    gap = rng.uniform(70, 150) * rng.choice([-1, 1])
    if not 0 <= background + gap <= 255:
        gap = -gap
    return background, float(np.clip(background + gap, 0, 255))
