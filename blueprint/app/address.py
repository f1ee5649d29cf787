"""Where the app's links to the MLflow UI point: `python -m blueprint.app --mlflow-ui URL` (`make
app` passes `make ui`'s PORT) sets it for the Streamlit process, the pages read it. Kept apart
from the pages' heavy imports so that the app starts fast."""

import os

from blueprint.ui import HOST, PORT

UI_ENV = "BLUEPRINT_MLFLOW_UI"
DEFAULT_UI = f"http://{HOST}:{PORT}"  # `make ui`'s address


def mlflow_ui() -> str:
    """The MLflow UI's address, without a trailing slash."""
    return os.environ.get(UI_ENV, DEFAULT_UI).rstrip("/")
