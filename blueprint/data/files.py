"""Your own images on disk: a folder with one sub-folder per class, or a CSV that lists them.

The first run lists the files, skips (and reports) those that are not readable images, splits
them (stratified, seeded) and saves the inventory (`blueprint.data.inventory`). Later runs reuse
it. Images are decoded batch by batch during training, never all held in memory.
"""

import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blueprint.data import inventory
from blueprint.data.inventory import Changes, Inventory, Row
from blueprint.data.splits import (
    SPLITS,
    DatasetRecord,
    FileSplit,
    ImageData,
    missing_class,
    random_split,
    stratified_split,
)
from blueprint.errors import DataError
from blueprint.plumbing.locks import lock_beside

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
    directory = inventory.directory_for(Path(options.inventory_dir), listing.source)
    settings = _split_settings(listing, options)
    with lock_beside(directory):  # one process lists and saves; the others wait, then reuse
        saved = None if options.rebuild else inventory.read(directory)
        if saved is None:
            saved = _new_inventory(listing, directory, settings)
            rows = saved.rows
        else:
            _check_settings(saved, settings, directory)
            picked = options.class_names if listing.targets == "classes" else None
            rows = _usable_rows(saved, listing, picked)
    return _image_data(listing, saved, rows, options)


def _split_settings(listing: Listing, options: FileOptions) -> dict:
    """What decides the split; a change needs data.rebuild=true, or splits would drift."""
    if listing.splits is not None:
        return {"source": str(listing.source), "split": "csv column"}
    return {
        "source": str(listing.source),
        "split": "stratified" if listing.targets == "classes" else "random",
        "val_fraction": options.val_fraction,
        "test_fraction": options.test_fraction,
        "seed": options.seed,
    }


def _check_settings(saved: Inventory, settings: dict, directory: Path) -> None:
    for key, value in settings.items():
        if saved.settings.get(key) != value:
            shown = (
                f"data.{key}={value}"
                if key in ("val_fraction", "test_fraction", "seed")
                else (f"the {key} ({value})")
            )
            raise DataError(
                f"{shown} differs from the saved split's {saved.settings.get(key)} "
                f"({directory}); set it back to reuse that split, or data.rebuild=true to make "
                "a new one"
            )


def _new_inventory(listing: Listing, directory: Path, settings: dict) -> Inventory:
    from blueprint.data.decoding import unreadable  # TensorFlow: only when files are listed anew

    paths = list(listing.labels)
    if not paths:
        raise DataError(f"{listing.source} holds no PNG, JPEG, BMP or GIF images; add some")
    log.info("data: checking and hashing %d files in %s", len(paths), listing.source)
    failed = unreadable([str(listing.root / p) for p in paths])
    skipped = listing.skipped + [[paths[i], reason] for i, reason in failed.items()]
    paths = [p for i, p in enumerate(paths) if i not in failed]
    labels = [listing.labels[p] for p in paths]
    classes = listing.targets == "classes"
    if classes:
        _check_classes(labels, listing.classes, listing.source)
    names = np.array(labels)  # errors name the class, not its id
    if listing.splits is not None:
        split_of = [listing.splits[p] for p in paths]
        parts = [np.flatnonzero(np.array(split_of) == name) for name in SPLITS]
        gap = missing_class(names, parts) if classes else _empty_split(parts)
        if gap:
            every = "every class rows in every split" if classes else "every split rows"
            raise DataError(f"{listing.source}: {gap}; give {every}")
    else:
        fractions = settings["val_fraction"], settings["test_fraction"], settings["seed"]
        parts = (
            stratified_split(names, *fractions) if classes else random_split(len(paths), *fractions)
        )
        split_of = [""] * len(paths)
        for name, part in zip(SPLITS, parts, strict=True):
            for index in part:
                split_of[index] = name
    states = inventory.file_states(listing.root, paths)
    rows = [
        Row(path, label, split, state.sha256, state.bytes, state.mtime_ns)
        for path, label, split, state in zip(paths, labels, split_of, states, strict=True)
    ]
    saved = Inventory(directory, rows, settings, skipped)
    inventory.write(saved)
    _report_skipped(skipped, len(listing.labels) + len(listing.skipped), listing.source, saved)
    log.info("data: saved the split of %d images in %s", len(rows), directory)
    return saved


def _empty_split(parts: list[np.ndarray]) -> str | None:
    empty = [name for name, part in zip(SPLITS, parts, strict=True) if not len(part)]
    return f"the {empty[0]} split has no image" if empty else None


def _check_classes(labels: list[str], classes: list[str], source: Path) -> None:
    counts = Counter(labels)
    empty = [name for name in classes if name not in counts]
    if empty:
        raise DataError(
            f"class {empty[0]!r} in {source} has no readable image; add images, or leave it out "
            "by naming the others in data.class_names"
        )
    if len(counts) < 2:
        raise DataError(
            f"{source} holds one class only ({next(iter(counts), 'none')}); a classifier needs "
            "at least two"
        )


def _report_skipped(skipped: list[list[str]], total: int, source: Path, saved: Inventory) -> None:
    if skipped:
        path, reason = skipped[0]
        log.warning(
            "data: skipped %d of %d files in %s that are not readable images (first: %s: %s); "
            "all are listed in %s",
            len(skipped),
            total,
            source,
            path,
            reason,
            saved.json_path,
        )


def _usable_rows(saved: Inventory, listing: Listing, class_names: list[str] | None) -> list[Row]:
    """The saved rows still on disk and readable, for the selected classes; changes reported."""
    rows = [r for r in saved.rows if class_names is None or r.label in class_names]
    if class_names is not None:
        unknown = sorted(set(class_names) - {r.label for r in rows})
        if unknown:
            raise DataError(
                f"data.class_names names {unknown}, which the saved split ({saved.directory}) "
                "lacks; data.rebuild=true makes a new split with them"
            )
    skipped = {path for path, _ in saved.skipped}  # reported when the inventory was written
    listed = {path: label for path, label in listing.labels.items() if path not in skipped}
    changes = inventory.compare(rows, listing.root, listed)
    unreadable_now = _unreadable_changed(changes, listing.root)
    gone = set(changes.removed) | unreadable_now
    if changes:
        _report_changes(changes, len(unreadable_now), listing.source, saved.directory)
    return [r for r in rows if r.path not in gone]


def _unreadable_changed(changes: Changes, root: Path) -> set[str]:
    if not changes.changed:
        return set()
    from blueprint.data.decoding import unreadable

    failed = unreadable([str(root / p) for p in changes.changed])
    return {changes.changed[i] for i in failed}


def _report_changes(changes: Changes, unreadable_count: int, source: Path, directory: Path) -> None:
    log.warning(
        "data: %d files added, %d removed and %d changed (%d now unreadable) in %s since its "
        "split was saved (%s); training uses the saved split without the removed and unreadable "
        "ones, and without the added ones until data.rebuild=true makes a new split",
        len(changes.added),
        len(changes.removed),
        len(changes.changed),
        unreadable_count,
        source,
        directory,
    )


def _image_data(
    listing: Listing,
    saved: Inventory,
    rows: list[Row],
    options: FileOptions,
) -> ImageData:
    split_of = np.array([r.split for r in rows])
    if listing.targets == "values":
        names, labels = [], np.array([float(r.label) for r in rows], dtype="float32")
        gap = _empty_split([np.flatnonzero(split_of == s) for s in SPLITS])
    elif listing.targets == "masks":
        names = list(options.class_names)
        labels = np.array([str(listing.masks_root / r.label) for r in rows])
        gap = _empty_split([np.flatnonzero(split_of == s) for s in SPLITS])
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
