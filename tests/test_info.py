"""`python -m blueprint.info` / `make info`, and `make install GPU=1`: what a new machine needs."""

import re
import subprocess
from importlib.metadata import version

from tests.helpers import ROOT, assert_one_line_error, clean_env, run_command


def test_info_shows_versions_devices_and_the_stores_with_passwords_masked(tmp_path) -> None:
    result = run_command(
        "info",
        "tracking.uri=postgresql+psycopg://ann:s3cret@db.example:5432/runs",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"tensorflow: tensorflow-cpu=={version('tensorflow-cpu')}" in out
    assert f"keras: {version('keras')}" in out
    assert re.search(r"/physical_device:CPU:0: \d+ cores; mixed_bfloat16 ", out), out
    assert "no GPU" in out
    assert "runs (tracking.uri): postgresql+psycopg://ann:***@db.example:5432/runs" in out
    assert f"sweeps (hydra.sweeper.storage): sqlite:///{tmp_path}/optuna.db" in out
    assert "s3cret" not in result.stdout + result.stderr


def test_info_with_a_wrong_key_is_one_line() -> None:
    assert_one_line_error(run_command("info", "trainer.epoch=3"), "trainer.epoch")


def test_make_install_gpu_puts_the_gpu_wheel_of_the_same_version_in_place() -> None:
    pinned = re.search(r'"tensorflow-cpu==([\d.]+)"', (ROOT / "pyproject.toml").read_text())[1]
    plan = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "install", "GPU=1"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
    ).stdout
    assert "pip uninstall -q -y tensorflow-cpu" in plan
    assert f'pip install -q "tensorflow[and-cuda]=={pinned}"' in plan
    cpu_plan = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "install"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
    ).stdout
    swaps = [line for line in cpu_plan.splitlines() if "and-cuda" in line]
    assert swaps and all(line.startswith("if test -f .venv/.gpu;") for line in swaps), cpu_plan
