"""The image files a prediction job reads: one image, a folder (searched recursively) or a CSV
with a `path` column, such as an inventory blueprint saved for a `data=folder|csv` run."""

import csv
import json
from pathlib import Path

from blueprint.data.files import image_files
from blueprint.errors import ConfigError


def image_paths(source: Path) -> list[Path]:
    """The files to predict, in a stable order; ConfigError when there are none."""
    if source.is_dir():
        paths = image_files(source)
        if not paths:
            raise ConfigError(
                f"input={source} holds no PNG, JPEG, BMP or GIF images; give a folder with some"
            )
        return paths
    if source.suffix.lower() == ".csv" and source.is_file():
        return _csv_paths(source)
    if source.is_file():
        return [source]
    raise ConfigError(f"input={source}: no such image, folder or CSV file")


def _csv_paths(csv_path: Path) -> list[Path]:
    """Paths of the CSV's `path` column, relative ones resolved against the data source an
    inventory was made from (its inventory.json says), or else the CSV's folder."""
    root = csv_path.parent
    meta = csv_path.parent / "inventory.json"
    if meta.is_file():
        source = Path(json.loads(meta.read_text())["settings"]["source"])
        root = source if source.is_dir() else source.parent
    with open(csv_path, newline="") as file:
        reader = csv.DictReader(file)
        if "path" not in (reader.fieldnames or []):
            raise ConfigError(f"input={csv_path} has no `path` column; name the image column path")
        paths = [root / row["path"] for row in reader if row["path"]]
    if not paths:
        raise ConfigError(f"input={csv_path} lists no images")
    return paths
