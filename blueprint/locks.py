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


SETUP_LOCK_KEY = 0x626C7565  # "blue": the advisory lock id taken while a library sets up tables


@contextmanager
def database_setup_lock(url: str) -> Iterator[None]:
    """Holds a PostgreSQL advisory lock while this process creates a library's tables in the
    database at `url`: two processes creating them in a fresh database at once collide in
    PostgreSQL's catalog ("duplicate key ... pg_type_typname_nsp_index"). Other URLs: no lock."""
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy  # only for server databases

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({SETUP_LOCK_KEY})"))
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({SETUP_LOCK_KEY})"))
    finally:
        engine.dispose()
