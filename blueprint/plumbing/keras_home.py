"""Where Keras keeps what it downloads, so an offline error can say where to place a file."""

import os
from pathlib import Path


def keras_cache_dir(subdir: str) -> Path:
    """$KERAS_HOME/<subdir>, else ~/.keras/<subdir> (`datasets`, `models`), as Keras' `get_file`."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / subdir
