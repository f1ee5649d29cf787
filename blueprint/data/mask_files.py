"""Your own images with masks, for segmentation: a folder of images and a folder of masks of the
same names (any image format each, e.g. cell_01.jpg with cell_01.png), in the same sub-folders.

A mask holds a class id per pixel (0 the background), as PNG or another lossless format; with two
classes any non-zero pixel is the foreground, so masks saved as 0/255 work as they are. The
images are listed, split (at random, seeded) and saved as an inventory like `data=folder`'s.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from blueprint.data.files import FileOptions, Listing, existing_path, image_files, load_listing
from blueprint.data.splits import ImageData
from blueprint.errors import DataError

READ_THREADS = 8


def load_masks(path: str, masks_path: str, **options: Any) -> ImageData:
    """Images under `path`, each with the mask of the same relative name under `masks_path`."""
    settings = FileOptions(**options)
    images_root = existing_path(path, want_folder=True, what="the folder of images")
    masks_root = Path(masks_path).expanduser().resolve()
    if not masks_root.is_dir():
        raise DataError(
            f"data.masks_path={masks_path} is not a folder; point it at the folder of masks "
            "named like the images"
        )
    listing = list_pairs(images_root, masks_root)
    check_mask_values(masks_root, list(listing.labels.values()), len(settings.class_names))
    return load_listing(listing, settings)


def list_pairs(images_root: Path, masks_root: Path) -> Listing:
    """Image path -> its mask's path (both relative to their folders); every image needs one."""
    masks = {
        _key(p.relative_to(masks_root)): p.relative_to(masks_root).as_posix()
        for p in image_files(masks_root)
    }
    listing = Listing(images_root, images_root, [], {}, targets="masks", masks_root=masks_root)
    missing = []
    for image in image_files(images_root):
        relative = image.relative_to(images_root)
        mask = masks.get(_key(relative))
        if mask is None:
            missing.append(relative.as_posix())
        else:
            listing.labels[relative.as_posix()] = mask
    if missing:
        raise DataError(
            f"{len(missing)} of {len(missing) + len(listing.labels)} images in {images_root} "
            f"have no mask in {masks_root} (first: {missing[0]}); give each image a mask of the "
            "same name (any image suffix) or move it out"
        )
    if not listing.labels:
        raise DataError(f"data.path={images_root} holds no PNG, JPEG, BMP or GIF images; add some")
    return listing


def check_mask_values(masks_root: Path, masks: list[str], classes: int) -> None:
    """Every mask's pixels are class ids below `classes` (any value is fine with two)."""
    if classes == 2:
        return

    def largest(mask: str) -> int:
        with Image.open(masks_root / mask) as picture:
            return int(
                np.asarray(picture.convert("L") if picture.mode not in "LP" else picture).max()
            )

    with ThreadPoolExecutor(READ_THREADS) as pool:
        for mask, value in zip(masks, pool.map(largest, masks), strict=True):
            if value >= classes:
                raise DataError(
                    f"mask {masks_root / mask} holds class {value} but data.class_names names "
                    f"{classes} classes (0..{classes - 1}); name every class in data.class_names"
                )


def _key(relative: Path) -> str:
    """An image and its mask match by folder and name, whatever their suffixes."""
    return relative.with_suffix("").as_posix()
