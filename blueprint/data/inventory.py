"""The saved inventory of an image folder or CSV: every file, its label, its split, its hash.

Written once, the first time a source is used, in its own folder under `data.inventory_dir`
(outside the user's data): `inventory.csv` (path, label, split, sha256, bytes, mtime_ns; paths
relative to the data root) and `inventory.json` (the split settings and the files skipped). Later
runs read it back, so the split never changes under a user's feet, and compare it with the files
on disk: added, removed and changed files are reported, never silently used.
"""

import csv
import hashlib
import io
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blueprint.data.splits import SPLITS, missing_class, random_split, stratified_split
from blueprint.errors import DataError
from blueprint.plumbing.locks import lock_beside

if TYPE_CHECKING:  # files.py lists the sources and imports this module
    from blueprint.data.files import FileOptions, Listing

log = logging.getLogger(__name__)

COLUMNS = ("path", "label", "split", "sha256", "bytes", "mtime_ns")
HASH_THREADS = 8  # hashing is disk-bound: a few threads overlap the reads


@dataclass(frozen=True)
class Row:
    path: str  # relative to the data root, with forward slashes
    label: str  # the class name
    split: str  # train | val | test
    sha256: str
    bytes: int
    mtime_ns: int


@dataclass(frozen=True)
class Inventory:
    directory: Path
    rows: list[Row]
    settings: dict[str, Any]  # what decides the split: compared with the config on every run
    skipped: list[list[str]] = field(default_factory=list)  # [path, reason] left out at listing

    @property
    def csv_path(self) -> Path:
        return self.directory / "inventory.csv"

    @property
    def json_path(self) -> Path:
        return self.directory / "inventory.json"

    def digest(self) -> str:
        return digest(self.rows)


def digest(rows: Iterable[Row]) -> str:
    """Changes whenever a file's content, label or split does."""
    text = "\n".join(f"{r.path},{r.label},{r.split},{r.sha256}" for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def directory_for(inventory_dir: Path, source: Path) -> Path:
    """One folder per data source, named after it and told apart by its absolute path."""
    key = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    return inventory_dir / f"{source.name or 'data'}-{key}"


def read(directory: Path) -> Inventory | None:
    """The saved inventory, or None when there is none yet."""
    csv_path, json_path = directory / "inventory.csv", directory / "inventory.json"
    if not json_path.is_file():
        return None
    try:
        meta = json.loads(json_path.read_text())
        with open(csv_path, newline="") as file:
            rows = [
                Row(
                    r["path"],
                    r["label"],
                    r["split"],
                    r["sha256"],
                    int(r["bytes"]),
                    int(r["mtime_ns"]),
                )
                for r in csv.DictReader(file)
            ]
        return Inventory(directory, rows, meta["settings"], meta.get("skipped", []))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(
            f"the saved inventory {directory} is unreadable ({type(err).__name__}: {err}); "
            "make a new one with data.rebuild=true"
        ) from None


def write(inventory: Inventory) -> None:
    """Both files, each replaced whole: a reader never sees half of one."""
    inventory.directory.mkdir(parents=True, exist_ok=True)
    _replace(inventory.csv_path, _csv_text(inventory.rows))
    meta = {
        "settings": inventory.settings,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": len(inventory.rows),
        "digest": inventory.digest(),
        "skipped": inventory.skipped,
    }
    _replace(inventory.json_path, json.dumps(meta, indent=2) + "\n")


def _csv_text(rows: Iterable[Row]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(astuple(row) for row in rows)
    return text.getvalue()


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


@dataclass(frozen=True)
class FileState:
    sha256: str
    bytes: int
    mtime_ns: int


def file_states(root: Path, paths: list[str]) -> list[FileState]:
    """Content hash, size and modification time of each file, read on a few threads."""

    def state(path: str) -> FileState:
        full = root / path
        stat = full.stat()
        with open(full, "rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        return FileState(digest, stat.st_size, stat.st_mtime_ns)

    with ThreadPoolExecutor(HASH_THREADS) as pool:
        return list(pool.map(state, paths))


@dataclass(frozen=True)
class Changes:
    added: list[str]  # on disk, not in the inventory: not used until a rebuild
    removed: list[str]  # in the inventory, gone from disk: left out
    changed: list[str]  # same path, other content: used where still readable

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def compare(rows: list[Row], root: Path, listed: dict[str, str]) -> Changes:
    """What differs between the saved rows and the files listed now (path -> label).

    Size and modification time find the candidates; only those are hashed, so a run over an
    unchanged folder reads no file. A file whose label changed (a CSV edit) counts as changed.
    """
    saved = {row.path: row for row in rows}
    removed = sorted(path for path in saved if path not in listed)
    added = sorted(path for path in listed if path not in saved)
    changed = sorted(path for path in saved if path in listed and saved[path].label != listed[path])
    candidates = []
    for path, row in saved.items():
        if path in listed and path not in changed:
            try:
                stat = (root / path).stat()
            except OSError:
                removed.append(path)
                continue
            if (stat.st_size, stat.st_mtime_ns) != (row.bytes, row.mtime_ns):
                candidates.append(path)
    states = file_states(root, candidates)
    changed += [p for p, s in zip(candidates, states, strict=True) if s.sha256 != saved[p].sha256]
    return Changes(added, sorted(removed), sorted(changed))


# --- the rules for a source's saved split: made once, reused after ---------------------------


def saved_split(listing: "Listing", options: "FileOptions") -> tuple[Inventory, list[Row]]:
    """The source's saved inventory (made and written first if there is none, or with
    `data.rebuild`) and its rows still usable: on disk, readable, of the picked classes."""
    directory = directory_for(Path(options.inventory_dir), listing.source)
    settings = _split_settings(listing, options)
    with lock_beside(directory):  # one process lists and saves; the others wait, then reuse
        saved = None if options.rebuild else read(directory)
        if saved is None:
            saved = _new_inventory(listing, directory, settings)
            return saved, saved.rows
        _check_settings(saved, settings, directory)
        picked = options.class_names if listing.targets == "classes" else None
        return saved, _usable_rows(saved, listing, picked)


def _split_settings(listing: "Listing", options: "FileOptions") -> dict:
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


def _new_inventory(listing: "Listing", directory: Path, settings: dict) -> Inventory:
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
        gap = missing_class(names, parts) if classes else empty_split(parts)
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
    states = file_states(listing.root, paths)
    rows = [
        Row(path, label, split, state.sha256, state.bytes, state.mtime_ns)
        for path, label, split, state in zip(paths, labels, split_of, states, strict=True)
    ]
    saved = Inventory(directory, rows, settings, skipped)
    write(saved)
    _report_skipped(skipped, len(listing.labels) + len(listing.skipped), listing.source, saved)
    log.info("data: saved the split of %d images in %s", len(rows), directory)
    return saved


def empty_split(parts: list[np.ndarray]) -> str | None:
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


def _usable_rows(saved: Inventory, listing: "Listing", class_names: list[str] | None) -> list[Row]:
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
    changes = compare(rows, listing.root, listed)
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
