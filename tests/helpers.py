"""Helpers shared by tests and benchmarks: temporary stores, composed configs, CLI runs, ports.

One home for each, so a test and a bench build a temporary store the same way. Tests import from
here, never from conftest; benchmarks run as `python -m bench.<name>` from the checkout.
"""

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import blueprint.resolvers  # noqa: F401  (registers the resolvers conf/ uses)
from blueprint.plumbing.ctrl_c import PRESSED

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
DOCS_PAGES = ROOT / "blueprint" / "docs" / "pages"  # the docs site's (blueprint/docs/mkdocs.yml)
APP = ROOT / "blueprint" / "app" / "main.py"  # the trainer app's Streamlit script


@contextlib.contextmanager
def after_a_lost_ctrl_c() -> Iterator[None]:
    """As after a Ctrl-C that Python dropped in a finalizer: the press remembered, nothing raised
    (blueprint.plumbing.ctrl_c); forgotten again on the way out."""
    PRESSED.set()
    try:
        yield
    finally:
        PRESSED.clear()


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


# Folders that are not training groups: Hydra itself and sweeps (test_sweeps covers
# hparams_search), and the entry configs of predict and evaluate (test_serving).
NOT_TRAINING_GROUPS = {"hydra", "hparams_search", "commands"}


def group_options() -> list[tuple[str, str]]:
    """Every (group, option) pair on disk under conf/, sweep and Hydra groups aside."""
    return sorted(
        (group.name, option.stem)
        for group in CONF_DIR.iterdir()
        if group.is_dir() and group.name not in NOT_TRAINING_GROUPS
        for option in group.glob("*.yaml")
    )


# Set by mlflow.set_tracking_uri / set_registry_uri in this process (an earlier test's store);
# a child would take them over its own tracking.uri.
MLFLOW_STORE_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def clean_env() -> dict[str, str]:
    """This process's environment without the MLflow store variables an earlier test set."""
    return {k: v for k, v in os.environ.items() if k not in MLFLOW_STORE_VARIABLES}


# `python -m blueprint.train` in a process whose CPU is two logical devices, as if it had two
# GPUs: `trainer.distribution=mirrored` then trains two replicas. The split must precede TF's start.
ON_TWO_CPUS = [
    sys.executable,
    "-c",
    "import runpy, sys, tensorflow as tf; "
    "cpu, split = tf.config.list_physical_devices('CPU')[0], tf.config.LogicalDeviceConfiguration; "
    "tf.config.set_logical_device_configuration(cpu, [split(), split()]); "
    "sys.argv[0] = 'blueprint.train'; "
    "runpy.run_module('blueprint.train', run_name='__main__', alter_sys=True)",
]


def train_cmd(tmp: Path, *overrides: str, python: list[str] | None = None) -> list[str]:
    """`python -m blueprint.train <overrides>` against the stores in `tmp`; `python`: another way
    to start it (ON_TWO_CPUS)."""
    return [
        *(python or [sys.executable, "-m", "blueprint.train"]),
        *store_overrides(tmp),
        *overrides,
    ]


def ui_cmd(store: Path, port: int) -> list[str]:
    """`python -m blueprint.ui` (what `make ui` runs) over the mlflow.db in folder `store`."""
    return [sys.executable, "-m", "blueprint.ui", "--store", str(store), "--port", str(port)]


def run_train(
    tmp: Path,
    *overrides: str,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    python: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """`train_cmd` in a subprocess, run to its end; `env`: variables set for it on top of this
    process's (`clean_env`)."""
    return subprocess.run(
        train_cmd(tmp, *overrides, python=python),
        cwd=ROOT,
        env={**clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# A model that trains in about a second, with no artifacts beyond what the checks read.
TINY = [
    "model=mlp",
    "model.hidden_units=[16]",
    "trainer.epochs=2",
    "trainer.verbose=0",
    "tracking.log_model=false",
    "diagnostics=off",
]


def sweep_cmd(tmp_path: Path, *overrides: str, study_store: str | None = None) -> list[str]:
    """A --multirun of the TINY model against the stores in `tmp_path`: the study in
    `tmp_path/optuna.db`, or where the `study_store` option puts it."""
    return [
        sys.executable,
        "-m",
        "blueprint.train",
        "--multirun",
        *store_overrides(tmp_path),
        f"study_store={study_store}"
        if study_store
        else f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db",
        *TINY,
        *overrides,
    ]


def run_sweep(tmp_path: Path, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`sweep_cmd` run to its end, its output captured."""
    return subprocess.run(
        sweep_cmd(tmp_path, *overrides),
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# TensorFlow's and absl's start-up chatter, which is not what a user reads as the error.
STARTUP_NOISE = ("I0000", "WARNING: All log", "To enable", "E0000", "W0000")


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The non-blank lines a user reads from a command, minus TensorFlow's start-up chatter."""
    text = result.stdout + result.stderr
    return [
        line for line in text.splitlines() if line.strip() and not line.startswith(STARTUP_NOISE)
    ]


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2 and one line, no traceback, holding every fragment."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def on_host(name: str, cmd: list[str]) -> list[str]:
    """`cmd` run under its own host name (a UTS namespace: as root, or in a user namespace), as if
    on another machine; skips the test where the kernel allows neither."""
    for unshare in (["unshare", "--uts"], ["unshare", "--user", "--map-root-user", "--uts"]):
        probe = subprocess.run([*unshare, "hostname", name], capture_output=True)
        if probe.returncode == 0:
            return [*unshare, "sh", "-c", f'hostname {name} && exec "$@"', "sh", *cmd]
    pytest.skip("needs `unshare --uts` (util-linux, as root or with user namespaces)")


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


def write_image_csv(folder: Path, csv_path: Path, with_split: bool = False) -> Path:
    """A `path,label[,split]` CSV of every image under `folder`'s class sub-folders, paths
    relative to the CSV (with_split: every 5th file validation, every 5th+1 test)."""
    images = sorted(p for p in folder.rglob("*") if p.is_file())
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["path,label" + (",split" if with_split else "")]
    for i, image in enumerate(images):
        split = ("val", "test", "train", "train", "train")[i % 5]
        relative = os.path.relpath(image, csv_path.parent)
        lines.append(f"{relative},{image.parent.name}" + (f",{split}" if with_split else ""))
    csv_path.write_text("\n".join(lines) + "\n")
    return csv_path


def write_mnist_like_npz(path: Path, train: int = 300, test: int = 60, seed: int = 0) -> Path:
    """MNIST's layout (uint8 x_train (n, 28, 28), integer y_train, x_test, y_test) with ten
    learnable classes: class k lights up the k-th of ten horizontal bands."""
    rng = np.random.default_rng(seed)

    def digits(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(count) % 10
        images = rng.integers(0, 60, (count, 28, 28)).astype("uint8")
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 250
        return images, labels.astype("uint8")

    (x_train, y_train), (x_test, y_test) = digits(train), digits(test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_shapes_files(root: Path, count: int = 40, size: int = 16, seed: int = 0) -> Path:
    """Generated shapes (blueprint.data.shapes) as files: images/<i>.png, masks/<i>.png (class
    ids) and targets.csv (path,target: the share of the image each shape covers)."""
    from PIL import Image

    from blueprint.data.shapes import draw_shapes

    images, masks, _ = draw_shapes(count, (size, size), ["circle", "square", "triangle"], seed)
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    lines = ["path,target"]
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray(image[..., 0].astype("uint8")).save(root / "images" / f"{i:03d}.png")
        Image.fromarray(mask.astype("uint8")).save(root / "masks" / f"{i:03d}.png")
        lines.append(f"images/{i:03d}.png,{np.mean(mask > 0):.6f}")
    (root / "targets.csv").write_text("\n".join(lines) + "\n")
    return root


# What each task needs besides its own option: data that holds its targets and, for
# segmentation, a per-pixel model.
TASK_OVERRIDES = {
    "binary": ["data.classes=[3,8]"],
    "regression": ["data=shapes"],
    "segmentation": ["data=shapes", "model=unet"],
}


def option_overrides(group: str, option: str, tmp: Path) -> list[str]:
    """`group=option` with the other choices it needs to compose into a run that builds: data
    to load, inputs a zoo backbone accepts, and the task, data and model that go together."""
    if group == "model" and option == "unet":
        return ["task=segmentation", "data=shapes", "model=unet"]
    if group == "data" and option == "masks":
        return ["task=segmentation", "model=unet", *data_overrides("masks", tmp)]
    task = option if group == "task" else None
    overrides = [f"{group}={option}", *TASK_OVERRIDES.get(task, [])]
    if group == "data":
        overrides += data_overrides(option, tmp)
    if group == "experiment" and option == "mnist":  # a stand-in for Keras' cached MNIST
        overrides += data_overrides(option, tmp)
    if group == "model":
        overrides += model_overrides(option)
    return overrides


def data_overrides(option: str, tmp: Path) -> list[str]:
    """Overrides that give a `data` option something to load from `tmp`; none for digits."""
    tmp.mkdir(parents=True, exist_ok=True)
    if option == "masks":
        root = write_shapes_files(tmp / "shapes")
        return [
            "data=masks",
            f"data.path={root / 'images'}",
            f"data.masks_path={root / 'masks'}",
            "data.image_size=[16,16]",
            "data.color_mode=grayscale",
            "data.class_names=[background,circle,square,triangle]",
        ]
    if option in ("folder", "csv"):
        folder = write_image_folder(tmp / "images", {"cats": 10, "dogs": 10}, size=(16, 16))
        path = folder if option == "folder" else write_image_csv(folder, tmp / "images.csv")
        return [f"data.path={path}", "data.image_size=[16,16]"]
    if option in ("npz", "mnist"):
        return [f"data.path={write_mnist_like_npz(tmp / 'mnist.npz')}"]
    return []


def model_overrides(option: str) -> list[str]:
    """Overrides that give a `model` option inputs it accepts: zoo backbones need larger images
    than the 8x8 digits, so the digits are resized to the backbone's minimum."""
    from blueprint.models.zoo import APPLICATIONS

    if option not in APPLICATIONS:
        return []
    size = APPLICATIONS[option].min_size
    return [f"data.image_size=[{size},{size}]"]


def write_photo_folder(
    root: Path,
    per_class: int = 12,
    seed: int = 0,
    heights: tuple[int, int] = (60, 400),
    widths: tuple[int, int] = (60, 600),
    jpeg_only: bool = False,
    quality: int = 75,
) -> Path:
    """Real photos of mixed sizes and modes: random crops of scikit-learn's two sample JPEGs
    (china/ and flower/, 427x640), `heights` and `widths` drawn in [low, high), saved as RGB JPEG
    (of `quality`), greyscale PNG or RGBA PNG in turn, or all as JPEG with `jpeg_only`."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    kinds = (("RGB", ".jpg"), ("L", ".png"), ("RGBA", ".png"))[: 1 if jpeg_only else 3]
    for name, photo in zip(("china", "flower"), load_sample_images().images, strict=True):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            height, width = rng.integers(*heights), rng.integers(*widths)
            top, left = rng.integers(0, 427 - height + 1), rng.integers(0, 640 - width + 1)
            crop = Image.fromarray(photo[top : top + height, left : left + width])
            mode, suffix = kinds[i % len(kinds)]
            crop.convert(mode).save(root / name / f"{name}_{i:04d}{suffix}", quality=quality)
    return root


def run_command(module: str, *overrides: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m blueprint.<module> <overrides>` in a subprocess (predict, evaluate)."""
    cmd = [sys.executable, "-m", f"blueprint.{module}", *overrides]
    return subprocess.run(
        cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=300
    )
