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
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blueprint.errors import DataError

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
