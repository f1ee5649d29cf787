"""What every page of the app shares: the overrides the app was started with and the stores
they name. `python -m blueprint.app tracking.uri=...` points it at other stores."""

import sys

import streamlit as st
from omegaconf import DictConfig

from blueprint.app.job import composed
from blueprint.errors import BlueprintError
from blueprint.tracking.store import check_server_access

UI = "http://127.0.0.1:5000"  # where `make ui` serves the MLflow UI


def base_overrides() -> list[str]:
    """The overrides after `--` on the app's command line: every run and read uses them."""
    return sys.argv[1:]


def base_config() -> DictConfig:
    """The config every page starts from, its tracking server asked first: a refused login
    (MLFLOW_TRACKING_USERNAME/PASSWORD) is one line on the page, not a page's traceback."""
    try:
        cfg = composed(base_overrides())
        check_server_access(str(cfg.tracking.uri))
    except BlueprintError as err:
        st.error(str(err))
        st.stop()
    return cfg
