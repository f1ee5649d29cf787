"""GPUs for parallel trials (`hydra.sweeper.gpus_per_trial`), checked with stand-in device lists:
these machines have no GPU, and `CUDA_VISIBLE_DEVICES` is all a trial's TensorFlow is told."""

import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from omegaconf import OmegaConf

from blueprint.errors import SweepError
from blueprint.sweeps.contract import DEVICES_TAG, TRIAL_TAG
from blueprint.sweeps.devices import assign_devices, take_slot, visible_gpus
from blueprint.sweeps.sweeper import slot_devices
from tests.helpers import ROOT, assert_one_line_error, clean_env, sweep_cmd


@pytest.mark.parametrize(
    ("slots", "per_trial", "gpus", "table"),
    [
        (2, 1, ["0", "1", "2"], ["0", "1"]),
        (2, 2, ["0", "1", "2", "3"], ["0,1", "2,3"]),
        (4, 0.5, ["0", "1"], ["0", "0", "1", "1"]),
        (3, 0.5, ["4", "6"], ["4", "4", "6"]),
        (3, 0.34, ["5"], ["5", "5"]),  # floor(1 / 0.34) = 2 a GPU: 3 slots need 2 GPUs
    ],
)
def test_each_slot_gets_its_gpus_or_its_share(slots, per_trial, gpus, table) -> None:
    if len(table) < slots:
        with pytest.raises(SweepError, match=r"gpus_per_trial=0.34 for 3 slots needs 2 GPUs"):
            assign_devices(slots, per_trial, gpus)
        return
    assert assign_devices(slots, per_trial, gpus) == table


def test_too_few_gpus_or_a_fractional_count_above_one_is_one_line() -> None:
    with pytest.raises(SweepError, match=r"needs 4 GPUs; this machine shows 3 \(0, 1, 2\)"):
        assign_devices(2, 2, ["0", "1", "2"])
    with pytest.raises(SweepError, match=r"gpus_per_trial=1.5: above 1, a whole number"):
        assign_devices(2, 1.5, ["0", "1", "2", "3"])


def test_the_visible_gpus_follow_cuda_visible_devices(monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_cluster_launchers_keep_their_own_gpu_settings() -> None:
    ray = OmegaConf.create({"_target_": "hydra_plugins.hydra_ray_launcher.RayLauncher"})
    with pytest.raises(SweepError, match=r"ray.remote.num_gpus"):
        slot_devices(ray, 2, 1)
    basic = OmegaConf.create({"_target_": "hydra._internal.core_plugins.BasicLauncher"})
    assert slot_devices(basic, 1, 0) is None


def test_each_process_holds_its_own_slot_until_it_exits(tmp_path: Path) -> None:
    hold = (
        "import sys, time; from pathlib import Path; from blueprint.sweeps.devices import "
        "take_slot; print(take_slot(Path(sys.argv[1]), 2), flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "0"
        assert take_slot(tmp_path, 2) == 1  # slot 0 is the other process's
        assert take_slot(tmp_path, 2) == 1  # this process keeps its own
    finally:
        holder.kill()
        holder.wait()
    start = time.monotonic()
    taken = subprocess.run(
        [sys.executable, "-c", hold.replace("time.sleep(30)", "pass"), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert taken.stdout.strip() == "0" and time.monotonic() - start < 20  # freed as it died


@pytest.mark.slow
def test_parallel_trials_train_on_their_slots_gpus(tmp_path: Path) -> None:
    env = clean_env() | {"CUDA_VISIBLE_DEVICES": "7,9"}  # stand-ins: the CPU wheel ignores them
    cmd = sweep_cmd(
        tmp_path,
        "hparams_search=random",
        "hydra.sweeper.n_trials=3",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.gpus_per_trial=1",
        "trainer.epochs=1",
    )
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    trials = [run for run in runs if TRIAL_TAG in run.data.tags]
    assert len(trials) == 3
    tags = {run.data.tags.get(DEVICES_TAG) for run in trials}
    assert tags <= {"slot 0: GPU 7", "slot 1: GPU 9"} and tags, tags


def test_more_slots_than_gpus_stop_the_sweep_before_anything_is_written(tmp_path: Path) -> None:
    env = clean_env() | {"CUDA_VISIBLE_DEVICES": "0"}
    cmd = sweep_cmd(
        tmp_path,
        "hparams_search=random",
        "hydra.sweeper.n_trials=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.gpus_per_trial=1",
    )
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert_one_line_error(
        result, "gpus_per_trial=1.0 for 2 slots needs 2 GPUs; this machine shows 1"
    )
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()
