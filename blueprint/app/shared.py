"""What every page of the app shares: the overrides the app was started with and the stores
they name. `python -m blueprint.app tracking.uri=...` points it at other stores."""

import sys

from omegaconf import DictConfig

from blueprint.app.job import composed

UI = "http://127.0.0.1:5000"  # where `make ui` serves the MLflow UI


def base_overrides() -> list[str]:
    """The overrides after `--` on the app's command line: every run and read uses them."""
    return sys.argv[1:]


def base_config() -> DictConfig:
    return composed(base_overrides())
