"""Scaling out on real engines started here on 127.0.0.1: a PostgreSQL study store shared by two
sweep processes, Hydra's submitit and Ray launchers, and an MLflow tracking server."""

import subprocess
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from blueprint.sweeps.study_store import open_storage
from blueprint.training.backup_files import epochs_done
from tests.helpers import (
    ROOT,
    TINY,
    clean_env,
    error_lines,
    run_sweep,
    sweep_cmd,
    train_cmd,
)
from tests.servers import mlflow_server, postgres_server, ray_head

# A 2x2 grid, two trials at a time: every launcher runs it the same way.
GRID = ["optimizer.lr=1e-3,1e-2", "trainer.batch_size=32,64", "hydra.sweeper.n_jobs=2"]


def distinct_points(trials: list[optuna.trial.FrozenTrial]) -> int:
    return len({tuple(sorted(t.params.items())) for t in trials})


@pytest.mark.slow  # a PostgreSQL server and two sweeps: about 40 s
def test_two_sweeps_share_a_postgresql_study(tmp_path: Path) -> None:
    """Optuna's distributed pattern: the same command twice at once against one server store
    ends with exactly n_trials ended trials, none of them run twice."""
    with postgres_server() as url:
        overrides = ["hparams_search=random", "hydra.sweeper.n_trials=4", "trainer.epochs=1"]
        procs = [
            subprocess.Popen(
                sweep_cmd(tmp_path, *overrides, study_store="postgres"),
                cwd=ROOT,
                env={**clean_env(), "BLUEPRINT_STUDY_STORE": url},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [proc.communicate(timeout=600)[0] for proc in procs]
        for proc, out in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, out
        # a changed space starts a new random study, and the sweep says so
        assert any("a RandomSampler study searches its own space" in out for out in outputs)
        storage = open_storage(url, create=False)
        (name,) = optuna.get_all_study_names(storage)
        trials = optuna.load_study(study_name=name, storage=storage).trials
    ended = [t for t in trials if t.state.is_finished()]
    assert len(ended) == len(trials) == 4
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == len(ended) and distinct_points(complete) == len(complete)
    assert not (tmp_path / "optuna.db").exists(), "the study lives in PostgreSQL only"


def assert_grid_ran_once(tmp_path: Path) -> None:
    """Four COMPLETE trials, one per grid point, each with its FINISHED child run."""
    storage = open_storage(f"sqlite:///{tmp_path}/optuna.db", create=False)
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert distinct_points(trials) == 4
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) == 5 and [r.info.status for r in children] == ["FINISHED"] * 4
    assert {r.info.run_id for r in children} == {t.user_attrs["mlflow_run_id"] for t in trials}


@pytest.mark.slow  # four trials in submitit's local processes: about 45 s
def test_submitit_local_runs_a_sweep(tmp_path: Path) -> None:
    """Two slots, each launching its trials on its own (blueprint.sweeps.slots)."""
    submitit = ["hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2"]
    result = run_sweep(tmp_path, *GRID, *submitit, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_grid_ran_once(tmp_path)
    logs = list(tmp_path.glob("multirun/.submitit/*/*_log.out"))
    assert len(logs) == 4, "each trial ran as a submitit job"


@pytest.mark.slow  # a Ray head and four trials on it: about 60 s
def test_ray_launcher_runs_a_sweep_on_a_ray_cluster(tmp_path: Path) -> None:
    with ray_head() as address:
        ray = ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}"]
        result = run_sweep(tmp_path, *GRID, *ray, "hydra.sweeper.n_jobs=2", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ray is already running" in result.stdout + result.stderr, "joined the test's cluster"
    assert_grid_ran_once(tmp_path)


@pytest.mark.slow  # PostgreSQL, a tracking server on it and two parallel trials: about 40 s
def test_parallel_trials_log_runs_and_artifacts_to_a_tracking_server(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    with postgres_server("mlflow") as backend, mlflow_server(tmp_path / "server", backend) as url:
        cmd = sweep_cmd(tmp_path, "optimizer.lr=1e-3,1e-2", "hydra/launcher=joblib")
        result = subprocess.run(
            [*cmd, f"tracking.uri={url}"], cwd=ROOT, env=clean_env(), capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        client = mlflow.MlflowClient(url)
        runs = client.search_runs([client.get_experiment_by_name("default").experiment_id])
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(runs) == 3 and [r.info.status for r in children] == ["FINISHED"] * 2
        for run in children:
            logged = {a.path for a in client.list_artifacts(run.info.run_id)}
            assert "hydra" in logged, logged
    assert not (tmp_path / "mlflow.db").exists(), "every run went to the server"
    served = list((tmp_path / "server" / "mlruns").rglob("config.yaml"))
    assert len(served) == 2, "the server holds both trials' artifacts"


@pytest.mark.slow  # a server stopped under a training run that goes on: about 70 s
def test_a_server_lost_mid_run_never_stops_training_and_says_what_is_kept(tmp_path: Path) -> None:
    """As MLflow's own Keras callback: training goes on without the curves; the results that
    cannot be recorded at its end are one line, naming the server and the folder."""
    (tmp_path / "server").mkdir()
    cmd = train_cmd(tmp_path, *TINY, "~callbacks.early_stopping")
    env = {**clean_env(), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}  # fail at once, not in minutes
    epochs = 200  # a few seconds' more training once the server is gone
    with mlflow_server(tmp_path / "server") as url:
        run = subprocess.Popen(
            [*cmd, f"trainer.epochs={epochs}", f"tracking.uri={url}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while epochs_done(tmp_path / "run") < 2:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no epoch backed up in 120 s"
            time.sleep(0.2)
    out, err = run.communicate(timeout=300)
    result = subprocess.CompletedProcess(run.args, run.returncode, out, err)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    *_, last = error_lines(result)
    folder = tmp_path / "run"
    assert f"lost the MLflow tracking server {url}" in last and str(folder) in last, last
    warnings = [line for line in error_lines(result) if "[WARNING]" in line]
    assert len(warnings) == 1 and "training goes on" in warnings[0], warnings
    rows = (folder / "epochs.csv").read_text().splitlines()
    assert len(rows) == 1 + epochs, "every epoch trained (CSVLogger's header and a row each)"
