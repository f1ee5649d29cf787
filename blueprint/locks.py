"""An exclusive lock beside a file, for the files several processes may create at once."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def lock_beside(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on `<file>.lock` while this process creates or updates `path`.

    A lock file beside the file, not the file itself: SQLite's own locks are released between the
    statements of a library's setup, and a file being replaced cannot hold a lock at all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
