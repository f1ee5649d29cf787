"""Optuna stores, opened so that a sweeper, its parallel trials and the listing can share one
SQLite file: set up by one process at a time, and never written by a process that only reads."""

import sqlite3
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning

from blueprint.credentials import masked
from blueprint.errors import SweepError, first_line
from blueprint.plumbing.locks import database_lock, lock_beside
from blueprint.plumbing.sqlite_files import (
    BUSY_TIMEOUT_S,
    OPTUNA_TABLES,
    check_owner,
    sqlite_path,
)
from blueprint.sweeps.study import RequeueStale


class StoreNotSetUp(SweepError):
    """A SQLite file Optuna has not set up yet (empty, or a sweep is creating its tables now)."""


def open_storage(
    url: str,
    *,
    create: bool,
    key: str = "hydra.sweeper.storage",
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_interruptions: int = 2,
) -> optuna.storages.RDBStorage:
    """Opens an Optuna RDB store; `create` sets up a missing or empty SQLite file first.

    A sweep passes `heartbeat_interval` and `grace_period` (seconds): its trials' heartbeats
    are recorded in the store, and trials whose heartbeat went stale are queued again, up to
    `max_interruptions` times in a row (`blueprint.sweeps.study.RequeueStale`). Jobs and the
    listing pass none.

    Creating runs under the file's setup lock: Optuna stamps its schema version on every open,
    and two processes stamping a fresh file at once collide. Reading (`create=False`) never
    writes: a file Optuna has not finished setting up raises StoreNotSetUp instead. A file that
    holds another program's tables (mlflow.db) is refused before anything touches it. `key`
    names the setting to fix in the error line. Any failure becomes one SweepError line.
    """
    heartbeat = {}
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period,
            "heartbeat_stale_trial_callback": RequeueStale(max_interruptions),
        }
    try:
        path = sqlite_path(url)
        if path is None:  # a server database: no file to own
            if not create:
                return rdb_storage(url, skip_table_creation=True)
            with database_lock(url):
                return rdb_storage(url, **heartbeat)
        if not create and not path.is_file():
            raise SweepError(
                f"no Optuna store at {path}; run a sweep first or pass --storage <url>"
            )
        engine_kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_S}}
        check_owner(path, "Optuna", OPTUNA_TABLES, key)  # before any write, lock file included
        if not create:
            if not is_set_up(path):
                raise StoreNotSetUp(f"no studies yet in {path}")
            return rdb_storage(url, engine_kwargs=engine_kwargs, skip_table_creation=True)
        with lock_beside(path):
            with sqlite3.connect(path, timeout=BUSY_TIMEOUT_S) as connection:
                connection.execute("PRAGMA journal_mode=WAL")  # persists in the file
            return rdb_storage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except SweepError:
        raise
    except Exception as err:  # a dead server, a corrupt file, a missing driver: one line each
        raise SweepError(
            f"cannot open the Optuna storage {masked(url)}: {masked(first_line(err))}; "
            f"fix or remove it, or point {key} at another store"
        ) from err


def rdb_storage(url: str, **kwargs: Any) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage, without the warning that its heartbeat arguments are experimental."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return optuna.storages.RDBStorage(url, **kwargs)


def is_set_up(path: Path) -> bool:
    """Whether Optuna finished setting up the file: its schema stamp is the last step."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S) as connection:
        connection.execute("PRAGMA schema_version")  # a corrupt file fails right here
        stamped = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).fetchone()[0]
        return (
            bool(stamped)
            and connection.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
        )
