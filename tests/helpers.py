"""Helpers shared by tests and benchmarks: temporary stores, composed configs, CLI runs, ports.

One home for each, so a test and a bench build a temporary store the same way. Tests import from
here, never from conftest; benchmarks run as `python -m bench.<name>` from the checkout.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import blueprint.resolvers  # noqa: F401  (registers the resolvers conf/ uses)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"


def store_overrides(tmp: Path) -> list[str]:
    """Overrides that send a run's outputs and MLflow records into `tmp`."""
    return [
        f"hydra.run.dir={tmp}/run",
        f"hydra.sweep.dir={tmp}/multirun",
        f"tracking.uri=sqlite:///{tmp}/mlflow.db",
        f"tracking.artifact_location={tmp}/mlruns",
        f"paths.inventory_dir={tmp}/inventories",
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
        cfg.paths.inventory_dir = str(tmp / "inventories")
    return cfg


# Groups whose options configure Hydra itself or a sweep; test_sweeps covers hparams_search.
NOT_TRAINING_GROUPS = {"hydra", "hparams_search"}


def group_options() -> list[tuple[str, str]]:
    """Every (group, option) pair on disk under conf/, sweep and Hydra groups aside."""
    return sorted(
        (group.name, option.stem)
        for group in CONF_DIR.iterdir()
        if group.is_dir() and group.name not in NOT_TRAINING_GROUPS
        for option in group.glob("*.yaml")
    )


def clean_env() -> dict[str, str]:
    """This process's environment without MLFLOW_TRACKING_URI, which would beat tracking.uri."""
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def run_train(tmp: Path, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m blueprint.train <overrides>` in a subprocess against the stores in `tmp`."""
    cmd = [sys.executable, "-m", "blueprint.train", *store_overrides(tmp), *overrides]
    return subprocess.run(
        cmd, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )


# TensorFlow's and absl's start-up chatter, which is not what a user reads as the error.
STARTUP_NOISE = ("I0000", "WARNING: All log", "To enable", "E0000", "W0000")


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The non-blank lines a user reads from a command, minus TensorFlow's start-up chatter."""
    text = result.stdout + result.stderr
    return [
        line for line in text.splitlines() if line.strip() and not line.startswith(STARTUP_NOISE)
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_image_folder(
    root: Path,
    per_class: dict[str, int],
    size: tuple[int, int] = (16, 16),
    mode: str = "RGB",
    suffix: str = ".png",
    seed: int = 0,
) -> Path:
    """A folder of one sub-folder per class whose images a small CNN tells apart: class k is
    stripes at angle k (horizontal, vertical, diagonal, ...) under noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[: size[0], : size[1]]
    for k, (label, count) in enumerate(per_class.items()):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        angle = np.pi * k / max(len(per_class), 2)
        stripes = (np.sin((rows * np.cos(angle) + columns * np.sin(angle)) * 1.6) > 0) * 180.0
        for i in range(count):
            pixels = np.clip(stripes + rng.normal(0, 40, size), 0, 255).astype("uint8")
            image = Image.fromarray(pixels).convert(mode)
            image.save(folder / f"{label}_{i:04d}{suffix}")
    return root
