"""OmegaConf resolvers used by conf/: registered on import, before Hydra composes anything."""

from pathlib import Path

from omegaconf import OmegaConf

from blueprint.credentials import tracking_uri

PROJECT_ROOT = Path(__file__).resolve().parents[1]

_KERAS_MODES = {"maximize": "max", "minimize": "min"}


def project_root() -> str:
    """The repository checkout: conf/, experiments/ and the default MLflow store live here."""
    return str(PROJECT_ROOT)


def keras_mode(direction: str) -> str:
    """Maps an Optuna direction (maximize/minimize) to a Keras callback mode (max/min)."""
    try:
        return _KERAS_MODES[direction]
    except KeyError:
        raise ValueError(
            f"objective.direction must be maximize or minimize, got {direction!r}"
        ) from None


def register() -> None:
    OmegaConf.register_resolver("project_root", project_root, replace=True)
    OmegaConf.register_resolver("keras_mode", keras_mode, replace=True)
    OmegaConf.register_resolver("mlflow_uri", tracking_uri, replace=True)  # credentials to env


register()
