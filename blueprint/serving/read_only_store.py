"""The MLflow store a trained model is looked up in, opened without writing to it."""

import mlflow
from mlflow import MlflowClient

from blueprint.credentials import tracking_uri
from blueprint.errors import ConfigError
from blueprint.tracking.store_opening import check_server_access, store_file


def existing_store(uri: str) -> MlflowClient:
    """A client on `uri`, which MLflow's module-level calls use too (`models:/` downloads
    resolve through the registry URI); a SQLite store not there yet is an error, not a new file."""
    file = store_file(uri)
    if file is not None and not file.is_file():
        raise ConfigError(
            f"tracking_uri={uri}: no MLflow store there; set tracking_uri to the store the "
            "model was trained in"
        )
    uri = tracking_uri(uri)  # a user:password@ in it: to MLflow's variables
    check_server_access(uri)  # a refused login: one line naming MLflow's variables
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri)
