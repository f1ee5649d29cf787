"""Optuna stores, opened so that a sweeper and its parallel trials can share one SQLite file."""

import sqlite3
from pathlib import Path

import optuna
from sqlalchemy.engine import make_url

from blueprint.errors import BlueprintError, first_line
from blueprint.resolvers import PROJECT_ROOT

DEFAULT_STORAGE = f"sqlite:///{PROJECT_ROOT}/multirun/optuna.db"
SQLITE_BUSY_TIMEOUT_S = 60  # writers queue for the lock instead of failing "database is locked"


class SweepError(BlueprintError):
    """A sweep that cannot start or go on: bad config, an unusable store, too many failures."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases (and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_storage(url: str, *, create: bool) -> optuna.storages.RDBStorage:
    """Opens an Optuna RDB store; `create` makes a missing SQLite file (and WAL mode) first.

    WAL lets trials read the study while another process writes; the busy timeout makes
    concurrent writers wait their turn. Any failure becomes one SweepError line.
    """
    try:
        path = sqlite_path(url)
        engine_kwargs = {}
        if path is not None:
            if not create and not path.is_file():
                raise SweepError(
                    f"no Optuna store at {path}; run a sweep first or pass --storage <url>"
                )
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S) as connection:
                connection.execute("PRAGMA schema_version")  # a corrupt file fails right here
                if create:
                    connection.execute("PRAGMA journal_mode=WAL")  # persists in the file
            engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, skip_table_creation=not create
        )
    except SweepError:
        raise
    except Exception as err:  # a dead server, a corrupt file, a missing driver: one line each
        raise SweepError(
            f"cannot open the Optuna storage {url}: {first_line(err)}; "
            "fix or remove it, or point hydra.sweeper.storage at another store"
        ) from err
