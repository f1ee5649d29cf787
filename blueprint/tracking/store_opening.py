"""Opening an MLflow store safely: whose file it is, one process creating its tables, and a hint
that fits what went wrong (a server to start only when a server does not answer)."""

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse
from urllib.request import url2pathname

from blueprint.credentials import TRACKING_PASSWORD_ENV, TRACKING_USER_ENV, masked
from blueprint.errors import BlueprintError, first_line
from blueprint.plumbing.locks import database_lock, lock_beside
from blueprint.plumbing.sqlite_files import MLFLOW_TABLES, check_owner, sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient


@contextmanager
def fail_fast_http() -> Iterator[None]:
    """A dead server should fail the first request in seconds, not after minutes of retries.

    Scoped to opening the store: later requests keep MLflow's retries for transient blips.
    """
    keys = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_server_access(uri: str) -> None:
    """A tracking server answers this process's credentials (MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD): checked before a sweep writes its study, so a wrong password
    stops it with one line and nothing written. Local stores need no check."""
    if not uri.startswith(("http://", "https://")):
        return
    from mlflow import MlflowClient

    try:
        with fail_fast_http():
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:
        raise BlueprintError(open_error_hint(uri, err)) from err


def is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def store_file(uri: str) -> Path | None:
    """The SQLite file behind a tracking URI; None for servers and other databases."""
    return sqlite_path(uri) if uri.startswith("sqlite:") else None


def guarded_open(uri: str) -> AbstractContextManager[None]:
    """Refuses another program's SQLite file (before MLflow adds ~70 tables to it), then holds
    the setup lock while MLflow creates or upgrades its tables, so two processes starting on a
    fresh file (or PostgreSQL database) do not both create them. Servers need neither."""
    path = store_file(uri)
    if path is None:
        return database_lock(uri)
    check_owner(path, "MLflow", MLFLOW_TABLES, "tracking.uri (or MLFLOW_TRACKING_URI)")
    return lock_beside(path)


def locked_client(uri: str) -> "MlflowClient":
    """A client on the store at `uri`, made under the lock a run holds while it creates the
    store's tables: made mid-way, the client would create them too, and one of the two fails."""
    from mlflow import MlflowClient

    with guarded_open(uri):
        return MlflowClient(uri)  # which creates or upgrades the tables as it is made


def check_artifact_folder(location: str, fix: str) -> None:
    """Creates a local artifact folder now, so an unusable one stops the run before it starts
    (one line) rather than after training, when the first artifact is written."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return  # a server's or a cloud store (mlflow-artifacts:, s3:): its client checks it
    folder = Path(url2pathname(parsed.path) if parsed.scheme else location)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError("not writable")
    except OSError as err:
        raise BlueprintError(
            f"cannot write MLflow artifacts to {folder}: {first_line(err)}; {fix}"
        ) from err


def _causes(err: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = err
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def server_lost(uri: str, err: BaseException) -> bool:
    """Whether `err` is a tracking server at `uri` that stopped answering (no connection, or
    MLflow's retries exhausted), rather than a fault of the run."""
    if not uri.startswith(("http://", "https://")):
        return False
    text = " ".join(str(e) for e in _causes(err))
    return any(isinstance(e, ConnectionError) for e in _causes(err)) or any(
        phrase in text for phrase in ("Max retries exceeded", "Connection refused")
    )


def open_error_hint(uri: str, err: BaseException) -> str:
    """One line: what failed opening the store at `uri`, and the fix that fits the cause; a
    password in `uri` (a database's, or `http://user:pw@` as typed) is masked."""
    return masked(_open_error_line(uri, err))


def _open_error_line(uri: str, err: BaseException) -> str:
    cause = first_line(err)
    text = " ".join(str(e) for e in _causes(err)).lower()
    retarget = "or point tracking.uri (or MLFLOW_TRACKING_URI) at another store"
    if uri.startswith(("http://", "https://")):
        if "error code 401" in text:
            return (
                f"the MLflow server {uri} did not accept the credentials: set "
                f"{TRACKING_USER_ENV} and {TRACKING_PASSWORD_ENV} to your account on it "
                "(the server's admin creates it)"
            )
        if "error code 403" in text and "permission" in text:
            return (
                f"the MLflow server {uri} refused: your account ({TRACKING_USER_ENV}) may not "
                "write there; ask its admin for EDIT on the experiment, or pick another one"
            )
        if any(isinstance(e, OSError) for e in _causes(err)):
            fix = f"nothing answers at {uri}: start the MLflow server there, {retarget}"
        else:
            fix = f"the server at {uri} answered but refused: is it MLflow? {retarget}"
        return f"cannot open the MLflow store {uri}: {cause}; {fix}"
    path = store_file(uri)
    if path is None:
        return f"cannot open the MLflow store {uri}: {cause}; check that store, {retarget}"
    if "not a database" in text or "malformed" in text:
        fix = f"{path} is not a readable SQLite file: move it aside, {retarget}"
    elif "unable to open database file" in text or "readonly" in text or "permission" in text:
        fix = f"make {path.parent} exist and writable, {retarget}"
    elif any(word in text for word in ("alembic", "revision", "migrat", "out-of-date", "schema")):
        fix = (
            f"its tables could not be brought to this MLflow's schema: back up {path} and run "
            f"`mlflow db upgrade sqlite:///{path}`, {retarget}"
        )
    else:
        fix = f"check {path}, {retarget}"
    return f"cannot open the MLflow store {path}: {cause}; {fix}"
