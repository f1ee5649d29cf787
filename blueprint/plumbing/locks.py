"""Exclusive locks for what several processes may set up or take at once: a lock file beside a
file, an advisory lock in a PostgreSQL database."""

import fcntl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from blueprint.plumbing.sqlite_files import sqlite_path


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


LOCK_KEY = 0x626C7565  # "blue": the PostgreSQL advisory lock id blueprint's processes share


@contextmanager
def database_lock(url: str) -> Iterator[None]:
    """Holds a PostgreSQL advisory lock on the database at `url` (other URLs: no lock): while a
    library creates its tables there (two processes doing it at once collide in PostgreSQL's
    catalog, "duplicate key ... pg_type_typname_nsp_index"), or while a sweep takes trials."""
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy  # only for server databases

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({LOCK_KEY})"))
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
    finally:
        engine.dispose()


def store_lock(url: str) -> AbstractContextManager[None]:
    """The lock of the store at `url`: a SQLite file's lock file, or the database's lock."""
    path = sqlite_path(url)
    return lock_beside(path) if path is not None else database_lock(url)
