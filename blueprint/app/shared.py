"""What every page of the app shares: the overrides the app was started with and the stores
they name, and the app's training job. `python -m blueprint.app tracking.uri=...` points it at
other stores."""

import sys

import streamlit as st
from omegaconf import DictConfig

from blueprint.app.job import Jobs, composed
from blueprint.errors import BlueprintError
from blueprint.tracking.store_opening import check_server_access


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


@st.cache_resource
def jobs(overrides: tuple[str, ...]) -> Jobs:
    """The server process's one registry (for the app's `overrides`): shared by every session, so
    a reload or a second tab finds the job a first one started."""
    return Jobs()


def app_jobs() -> Jobs:
    return jobs(tuple(base_overrides()))
