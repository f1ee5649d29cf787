"""Your own images on disk: a folder with one sub-folder per class, or a CSV that lists them.

The first run lists the files, skips (and reports) those that are not readable images, splits
them (stratified, seeded) and saves the inventory (`blueprint.data.inventory`). Later runs reuse
it. Images are decoded batch by batch during training, never all held in memory.
"""

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blueprint.data import inventory
from blueprint.data.inventory import Inventory, Row, empty_split
from blueprint.data.splits import (
    SPLITS,
    DatasetRecord,
    FileSplit,
    ImageData,
    missing_class,
)
from blueprint.errors import DataError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
CSV_COLUMNS = ("path", "label", "target", "split")  # label (classes) or target (numbers)
COLOR_MODES = {"grayscale": 1, "rgb": 3}


@dataclass
class Listing:
    """The images a source names now: path (relative to `root`) -> label."""

    root: Path
    source: Path  # the folder or CSV the user pointed at
    classes: list[str]  # every class the source names, with images or not
    labels: dict[str, str]
    splits: dict[str, str] | None = None  # a CSV's own split column
    targets: str = "classes"  # "values": a CSV's target column, numbers kept as text; "masks":
    masks_root: Path | None = None  # labels are mask paths relative to this folder
    skipped: list[list[str]] = field(default_factory=list)  # [path, reason]


@dataclass(frozen=True)
class FileOptions:
    """The keys of conf/data/folder.yaml (and csv.yaml) past `path`: conf documents each."""

    val_fraction: float
    test_fraction: float
    seed: int
    inventory_dir: str
    class_names: list[str] | None = None
    image_size: tuple[int, int] = (64, 64)
    color_mode: str = "rgb"
    rebuild: bool = False
    cache: str = "none"  # none | memory | a path prefix

    @property
    def channels(self) -> int:
        return COLOR_MODES[self.color_mode]

    @property
    def cache_prefix(self) -> str:
        """`cache` with a path made absolute, so the run's working directory does not matter."""
        if self.cache in ("none", "memory"):
            return self.cache
        return str(Path(self.cache).expanduser().resolve())


def image_files(root: Path) -> list[Path]:
    """Every PNG, JPEG, BMP or GIF file under `root` (sub-folders searched too), sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_folder(path: str, **options: Any) -> ImageData:
    """Images in `path/<class>/...` (sub-folders searched too); `class_names` picks and orders."""
    settings = FileOptions(**options)
    listing = list_folder(existing_path(path, want_folder=True), settings.class_names)
    return load_listing(listing, settings)


def load_csv(path: str, **options: Any) -> ImageData:
    """Images listed in a CSV with columns `path,label[,split]` (classes) or `path,target[,split]`
    (a number per image, for regression), paths relative to the CSV."""
    settings = FileOptions(**options)
    listing = read_csv_listing(existing_path(path, want_folder=False), settings.class_names)
    return load_listing(listing, settings)


def existing_path(path: str, want_folder: bool, what: str = "") -> Path:
    """`data.path` resolved; one line when it is missing or of the wrong kind (`what` it is)."""
    resolved = Path(path).expanduser().resolve()
    what = what or ("a folder with one sub-folder per class" if want_folder else "a CSV file")
    if not resolved.exists():
        raise DataError(f"data.path={path} does not exist; point data.path at {what}")
    if resolved.is_dir() != want_folder:
        raise DataError(f"data.path={path} is not {what}; point data.path at one")
    return resolved


def list_folder(root: Path, class_names: list[str] | None) -> Listing:
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if class_names is not None:
        unknown = [name for name in class_names if name not in folders]
        if unknown:
            raise DataError(
                f"data.class_names names {unknown} but {root} has no such sub-folder "
                f"(it has {folders[:10]}); use names of its sub-folders"
            )
        folders = list(class_names)
    if not folders:
        raise DataError(
            f"data.path={root} has no class sub-folders; put each class's images in a sub-folder "
            "named after the class (cats/, dogs/, ...)"
        )
    listing = Listing(root=root, source=root, classes=folders, labels={})
    for label in folders:
        for file in sorted((root / label).rglob("*")):
            if file.is_file():
                relative = file.relative_to(root).as_posix()
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    listing.labels[relative] = label
                else:
                    listing.skipped.append([relative, "not a PNG, JPEG, BMP or GIF file"])
    return listing


def read_csv_listing(csv_path: Path, class_names: list[str] | None) -> Listing:
    try:
        with open(csv_path, newline="") as file:
            reader = csv.DictReader(file)
            columns = reader.fieldnames or []
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"data.path={csv_path} cannot be read as a CSV ({err})") from None
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    kinds = [c for c in ("label", "target") if c in columns]
    if unknown or "path" not in columns or len(kinds) != 1:
        raise DataError(
            f"{csv_path} has columns {columns}; it needs path,label (classes) or path,target "
            f"(numbers) and may have split (unknown: {unknown or 'none'})"
        )
    column = kinds[0]
    root = csv_path.parent
    splits = {} if "split" in columns else None
    targets = "values" if column == "target" else "classes"
    listing = Listing(root, csv_path, [], {}, splits=splits, targets=targets)
    if targets == "values" and class_names is not None:
        raise DataError(
            f"data.class_names={class_names} names classes but {csv_path} holds numbers (a "
            "target column); set data.class_names=null"
        )
    for number, record in enumerate(records, start=2):
        path, label = (record.get("path") or "").strip(), (record.get(column) or "").strip()
        where = f"{csv_path} line {number}"
        if not path or not label:
            raise DataError(f"{where} lacks a path or a {column}; every row needs both")
        if targets == "values" and not _is_number(label):
            raise DataError(
                f"{where} has target {label!r}, which is not a number; regression targets are "
                "numbers such as 0.5 or 12"
            )
        if class_names is not None and label not in class_names:
            raise DataError(
                f"{where} has label {label!r}, which data.class_names={class_names} does not "
                "name; add it there or remove the row"
            )
        if path in listing.labels:
            raise DataError(f"{where} lists {path} a second time; list each image once")
        if listing.splits is not None:
            split = (record.get("split") or "").strip()
            if split not in SPLITS:
                raise DataError(f"{where} has split {split!r}; use one of {', '.join(SPLITS)}")
            listing.splits[path] = split
        listing.labels[path] = label
    if targets == "classes":
        listing.classes = class_names or sorted(set(listing.labels.values()))
    missing = [path for path in listing.labels if not (root / path).is_file()]
    if missing:
        raise DataError(
            f"{csv_path}: {len(missing)} of {len(listing.labels)} listed files do not exist "
            f"(first: {missing[0]}); paths are relative to the CSV's folder"
        )
    for path in [p for p in listing.labels if Path(p).suffix.lower() not in IMAGE_SUFFIXES]:
        del listing.labels[path]
        listing.skipped.append([path, "not a PNG, JPEG, BMP or GIF file"])
    return listing


def _is_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


def load_listing(listing: Listing, options: FileOptions) -> ImageData:
    """The saved inventory for this source (written first if there is none), as three splits."""
    saved, rows = inventory.saved_split(listing, options)
    return _image_data(listing, saved, rows, options)


def _image_data(
    listing: Listing,
    saved: Inventory,
    rows: list[Row],
    options: FileOptions,
) -> ImageData:
    split_of = np.array([r.split for r in rows])
    if listing.targets == "values":
        names, labels = [], np.array([float(r.label) for r in rows], dtype="float32")
        gap = empty_split([np.flatnonzero(split_of == s) for s in SPLITS])
    elif listing.targets == "masks":
        names = list(options.class_names)
        labels = np.array([str(listing.masks_root / r.label) for r in rows])
        gap = empty_split([np.flatnonzero(split_of == s) for s in SPLITS])
    else:
        class_names = options.class_names
        names = list(class_names or sorted({r.label for r in saved.rows}))
        ids = {name: i for i, name in enumerate(names)}
        labels = np.array([ids[r.label] for r in rows], dtype="int64")
        gap = missing_class(np.array([r.label for r in rows]), [split_of == s for s in SPLITS])
    if gap:
        raise DataError(
            f"{listing.source}: {gap} now that files were removed; data.rebuild=true makes a "
            "new split from the files on disk"
        )
    digest = inventory.digest(rows)  # of the rows in use: removed files change it
    height, width = options.image_size
    channels, cache = options.channels, options.cache_prefix
    splits = []
    for name in SPLITS:
        chosen = [i for i, r in enumerate(rows) if r.split == name]
        splits.append(
            FileSplit(
                paths=tuple(str(listing.root / rows[i].path) for i in chosen),
                labels=labels[chosen],
                image_size=(height, width),
                channels=channels,
                cache=cache,
                cache_key=f"{name}-{digest}-{height}x{width}x{channels}",
                mask_classes=len(names) if listing.targets == "masks" else 0,
            )
        )
    if cache not in ("none", "memory"):
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
    return ImageData(
        *splits,
        class_names=names,
        image_shape=(height, width, channels),  # decoded to 8 bits: 0..255 pixels
        record=DatasetRecord(
            name=listing.source.name,
            source=str(listing.source),
            digest=digest,
            files=(saved.csv_path, saved.json_path),
        ),
        targets=listing.targets,
    )
