"""Passwords in store URLs, kept out of every record: a URL may carry one
(`postgresql+psycopg://user:pw@db-host/optuna`, `http://user:pw@mlflow-host:5000`), and whatever
blueprint logs, tags, prints or writes gets the URL masked (`user:***@`). The processes that need
the password take it from the environment, which the processes they start inherit: a sweep's
trials from BLUEPRINT_STUDY_STORE, MLflow clients from MLflow's own MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD.
"""

import os
import re
from urllib.parse import unquote, urlsplit

from blueprint.errors import SweepError

MASK = "***"
STUDY_STORE_ENV = "BLUEPRINT_STUDY_STORE"  # conf/study_store/postgres.yaml reads it too
TRACKING_USER_ENV = "MLFLOW_TRACKING_USERNAME"
TRACKING_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
# scheme://user:password@ ; a password in a URL has its reserved characters percent-encoded
_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^:/@\s'\"]*:)[^@\s'\"/]*@")


def masked(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***."""
    return _PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", text)


def store_reference(url: str) -> str:
    """What a trial is told of its study store: the URL with its password masked. The password
    reaches the trial through BLUEPRINT_STUDY_STORE, set here for the processes this one starts
    (it may have come from hydra.sweeper.storage rather than the variable)."""
    reference = masked(url)
    if reference != url:
        os.environ[STUDY_STORE_ENV] = url
    return reference


def study_store(reference: str) -> str:
    """The study store a trial was told of, its password taken from BLUEPRINT_STUDY_STORE."""
    if masked(reference) != reference or f":{MASK}@" not in reference:
        return reference  # no password to fill in (or a literal one: used as given)
    url = os.environ.get(STUDY_STORE_ENV, "")
    if masked(url) != reference:
        raise SweepError(
            f"this trial's study store {reference} needs its password, and {STUDY_STORE_ENV} "
            f"does not hold that store here: export {STUDY_STORE_ENV}=<its URL, password "
            "included> on every machine that runs trials"
        )
    return url


def tracking_uri(uri: str) -> str:
    """The MLflow tracking URI without credentials: a `user:password@` in it moves to MLflow's
    own MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (for this process and those it
    starts), so neither MLflow's printed run links nor blueprint's records carry it. Registered
    as the `${mlflow_uri:...}` resolver of conf/tracking/mlflow.yaml and conf/commands/."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.password is None:
        return uri
    os.environ[TRACKING_USER_ENV] = unquote(parts.username or "")
    os.environ[TRACKING_PASSWORD_ENV] = unquote(parts.password)
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
