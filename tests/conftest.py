"""Shared fixtures: composed configs and CLI runs that write only into a temporary store."""

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import blueprint.resolvers  # noqa: F401  (registers the resolvers conf/ uses)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"


def store_overrides(tmp_path: Path) -> list[str]:
    """Overrides that send a run's outputs and MLflow records into `tmp_path`."""
    return [
        f"hydra.run.dir={tmp_path}/run",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        f"tracking.artifact_location={tmp_path}/mlruns",
    ]


def compose_into(tmp: Path, *overrides: str) -> DictConfig:
    """Composes conf/train.yaml with overrides, as the CLI would, writing into `tmp`."""
    (tmp / "run").mkdir(exist_ok=True)  # Hydra makes the run directory in real runs
    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose("train", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp / "run")
        cfg.tracking.uri = f"sqlite:///{tmp}/mlflow.db"
        cfg.tracking.artifact_location = str(tmp / "mlruns")
    return cfg


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`compose_into(tmp_path, *overrides)` as a fixture."""
    return functools.partial(compose_into, tmp_path)


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Runs `python -m blueprint.train <overrides>` in a subprocess against a temporary store."""

    def _run(*overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        cmd = [sys.executable, "-m", "blueprint.train", *store_overrides(tmp_path), *overrides]
        return subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )

    return _run
