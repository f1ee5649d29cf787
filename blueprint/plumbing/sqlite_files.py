"""SQLite store files shared by MLflow (runs) and Optuna (studies): whose file it is, and one
process at a time setting it up (under `blueprint.plumbing.locks.lock_beside`).

Both libraries create their tables and stamp a schema version the first time they open a file.
Two processes opening a fresh file at once both insert that stamp and the second fails
(`UNIQUE constraint failed: alembic_version.version_num`), and either library happily adds its
tables to a file that belongs to another program. Opening goes through here to prevent both.
"""

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from blueprint.errors import BlueprintError

BUSY_TIMEOUT_S = 60  # writers queue for the lock instead of failing "database is locked"

# Tables that mark a file as one program's store: any one of them is enough.
MLFLOW_TABLES = frozenset({"experiments", "runs"})
OPTUNA_TABLES = frozenset({"studies", "version_info"})


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases (and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def table_names(path: Path) -> set[str]:
    """The tables in an existing SQLite file; a corrupt file raises sqlite3.DatabaseError."""
    with sqlite3.connect(path, timeout=BUSY_TIMEOUT_S) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {name for (name,) in rows}


def check_owner(path: Path, program: str, marker_tables: frozenset[str], key: str) -> set[str]:
    """Raises BlueprintError when `path` holds tables but none of `program`'s; returns the tables.

    An empty or missing file is fine: the program creates its tables there.
    """
    if not path.is_file():
        return set()
    tables = table_names(path)
    if tables and not tables & marker_tables:
        raise BlueprintError(
            f"{path} is not an {program} store (it holds other tables: "
            f"{', '.join(sorted(tables)[:4])}); point {key} at a new file or an existing "
            f"{program} store"
        )
    return tables
