"""Data-parallel training (`trainer.distribution`): mirrored over two logical CPU devices, and two
worker processes of one cluster on loopback, each against a single-process run with the same
global batch. Bad settings stop in one line before anything is written."""

import json
import subprocess
from pathlib import Path

import mlflow
import pytest

from tests.helpers import (
    ON_TWO_CPUS,
    ROOT,
    assert_one_line_error,
    clean_env,
    free_port,
    run_train,
    train_cmd,
)

# The stock CNN for two epochs; per-replica batch 16 on two replicas is the reference's 32. No
# dropout: replicas draw their own masks, which is right but would make the runs differ.
RECIPE = ("trainer.epochs=2", "trainer.verbose=0", "model.dropout=0")
TOLERANCE = 0.02  # val_accuracy: the same steps, their gradients summed in another order


def finished_runs(store: Path) -> list[mlflow.entities.Run]:
    client = mlflow.MlflowClient(f"sqlite:///{store}/mlflow.db")
    return client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "attributes.status = 'FINISHED'"
    )


@pytest.fixture(scope="module")
def single_process(tmp_path_factory: pytest.TempPathFactory) -> float:
    """The reference: one process, batch 32, diagnostics off (they do not change the weights)."""
    tmp = tmp_path_factory.mktemp("single")
    result = run_train(
        tmp, *RECIPE, "trainer.batch_size=32", "diagnostics=off", "tracking.log_model=false"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = finished_runs(tmp)
    assert "trainer.replicas" not in run.data.params  # logged only when training is distributed
    return run.data.metrics["best_val_accuracy"]


@pytest.mark.slow
def test_mirrored_trains_two_replicas_like_one_process(tmp_path: Path, single_process: float):
    result = run_train(
        tmp_path,
        *RECIPE,
        "trainer.distribution=mirrored",
        "trainer.batch_size=16",
        "diagnostics=off",
        "tracking.log_model=false",
        python=ON_TWO_CPUS,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = finished_runs(tmp_path)
    assert run.data.params["trainer.replicas"] == "2"
    assert run.data.params["trainer.global_batch_size"] == "32"
    assert abs(run.data.metrics["best_val_accuracy"] - single_process) < TOLERANCE


@pytest.mark.slow
def test_multi_worker_cluster_trains_in_step_and_only_the_chief_logs(
    tmp_path: Path, single_process: float
):
    """Two workers on loopback, the chief with the default diagnostics and model logging: one
    run, with its pictures and a model that loads, in the chief's store; the other worker writes
    no MLflow store at all."""
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(
            subprocess.Popen(
                train_cmd(
                    tmp_path / f"worker{index}",
                    *RECIPE,
                    "trainer.distribution=multi_worker",
                    "trainer.batch_size=16",
                ),
                cwd=ROOT,
                env={**clean_env(), "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
    (run,) = finished_runs(tmp_path / "worker0")
    assert run.data.params["trainer.replicas"] == "2"
    assert run.data.params["trainer.global_batch_size"] == "32"
    assert abs(run.data.metrics["best_val_accuracy"] - single_process) < TOLERANCE
    assert "test_accuracy" in run.data.metrics  # evaluated by both workers together
    pictures = mlflow.MlflowClient(f"sqlite:///{tmp_path}/worker0/mlflow.db").list_artifacts(
        run.info.run_id, "diagnostics"
    )
    assert pictures, "the chief's diagnostics logged nothing"
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/worker0/mlflow.db")
    (logged,) = mlflow.search_logged_models([run.info.experiment_id], output_format="list")
    assert mlflow.keras.load_model(logged.model_uri).count_params() > 0
    assert not (tmp_path / "worker1" / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("overrides", "env", "fragments"),
    [
        ([], {}, ["TF_CONFIG, which is not set", "docs: scaling-out.md, Data-parallel training"]),
        ([], {"TF_CONFIG": "{not json"}, ["TF_CONFIG is not valid JSON"]),
        (["resume=nowhere"], {"TF_CONFIG": "{}"}, ["resume= continues a single-process run"]),
    ],
    ids=["no-cluster", "bad-json", "resume"],
)
def test_multi_worker_without_a_cluster_stops_in_one_line(
    tmp_path: Path, overrides: list[str], env: dict[str, str], fragments: list[str]
):
    result = run_train(tmp_path, "trainer.distribution=multi_worker", *overrides, env=env)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "mlflow.db").exists()
