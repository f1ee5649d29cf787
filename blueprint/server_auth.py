"""MLflow's basic-auth app for `make server`: who may read and write a team's runs.

Its files live beside the store (STORE/): `basic_auth.db`, the users and their permissions;
`basic_auth.ini`, MLflow's settings for it; `basic_auth.key`, the static key MLflow signs its
sign-up form with (the same across restarts). The admin account is created on the first start
from MLflow's MLFLOW_AUTH_ADMIN_PASSWORD, or from a file (`--admin-password-file`): never from
the command line, and never written anywhere but the users database (as a salted hash).
"""

import configparser
import os
import secrets
from pathlib import Path

from blueprint.errors import BlueprintError

USERS_DB = "basic_auth.db"
ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"  # MLflow's own variable
MIN_PASSWORD = 12  # characters: MLflow refuses to create the admin with fewer


def private_file(path: Path, text: str) -> None:
    """Writes `text` readable by this user only."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def admin_password(password_file: Path | None) -> str | None:
    """The admin password: line 1 of `password_file`, else MLFLOW_AUTH_ADMIN_PASSWORD."""
    if password_file is None:
        return os.environ.get(ADMIN_PASSWORD_ENV) or None
    try:
        lines = password_file.read_text().splitlines()
    except OSError as err:
        raise BlueprintError(
            f"cannot read the admin password file {password_file} ({err.strerror}); point "
            "ADMIN_PASSWORD_FILE (--admin-password-file) at a readable file"
        ) from err
    if not lines or not lines[0]:
        raise BlueprintError(f"{password_file} is empty: write the admin password on its line 1")
    return lines[0]


def auth_env(store: Path, default_permission: str, password_file: Path | None) -> dict[str, str]:
    """The environment that makes `mlflow server --app-name basic-auth` keep its users in
    `store`; writes the settings and key files there. One line if the first start has no admin
    password, or the default permission is not one of MLflow's."""
    from mlflow.server.auth.permissions import ALL_PERMISSIONS  # mlflow: only when serving auth

    if default_permission not in ALL_PERMISSIONS:
        raise BlueprintError(
            f"AUTH_DEFAULT={default_permission} (--auth-default) is not an MLflow permission: "
            f"use one of {', '.join(ALL_PERMISSIONS)}"
        )
    password = admin_password(password_file)
    users = store / USERS_DB
    if password is None and not (users.is_file() and users.stat().st_size):
        raise BlueprintError(
            f"no admin account yet in {users}: export {ADMIN_PASSWORD_ENV}=<password> "
            "or pass ADMIN_PASSWORD_FILE=<file> (--admin-password-file) for the first start"
        )
    if password is not None and len(password) < MIN_PASSWORD:
        raise BlueprintError(
            f"the admin password has {len(password)} characters; MLflow wants at least "
            f"{MIN_PASSWORD}: set a longer one in {ADMIN_PASSWORD_ENV} or the password file"
        )
    if not users.is_file():
        private_file(users, "")  # password hashes: this user's to read (SQLite fills the file)
    config = configparser.ConfigParser()
    config["mlflow"] = {
        "default_permission": default_permission,
        "database_uri": f"sqlite:///{store / USERS_DB}",
        "admin_username": "admin",
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    ini = store / "basic_auth.ini"
    with ini.open("w") as file:
        config.write(file)
    key_file = store / "basic_auth.key"
    if not key_file.is_file():
        private_file(key_file, secrets.token_hex(32))
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": key_file.read_text().strip(),
    }
    return env | ({ADMIN_PASSWORD_ENV: password} if password else {})
