"""The real command, end to end: one run trained, tracked in MLflow and written to its directory."""

import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from blueprint.plumbing.home_paths import home_expanded
from blueprint.tracking.epoch_logger import epoch_metric_key
from blueprint.tracking.params import is_location
from tests.helpers import TINY, run_train


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Trains 2 epochs of the default CNN through the CLI; returns (tmp dir, MLflow run)."""
    tmp = tmp_path_factory.mktemp("e2e")
    result = run_train(tmp, "trainer.epochs=2", "optimizer.lr=2e-3", "experiment_name=e2e")
    assert result.returncode == 0, result.stdout + result.stderr
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["e2e"], output_format="list")
    assert len(runs) == 1
    return tmp, runs[0]


def test_run_directory_holds_config_log_checkpoint_and_csv(finished_run) -> None:
    tmp, _ = finished_run
    run_dir = tmp / "run"
    for name in (".hydra/config.yaml", ".hydra/overrides.yaml", "train.log", "epochs.csv"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.keras").stat().st_size > 100_000
    assert len((run_dir / "epochs.csv").read_text().strip().splitlines()) == 1 + 2


def test_every_config_leaf_is_a_param_or_a_location_tag(finished_run) -> None:
    """Hyperparameters are params; where the run lives (paths, store URIs) are tags, so comparing
    runs lists only what was chosen."""
    tmp, run = finished_run
    composed = yaml.safe_load((tmp / "run" / ".hydra" / "config.yaml").read_text())
    assert composed["optimizer"]["lr"] == 2e-3
    params, tags = run.data.params, run.data.tags
    assert params["optimizer.lr"] == "0.002"
    assert params["model.filters"] == "[64, 128, 256]"
    assert params["trainer.epochs"] == "2"
    assert params["callbacks.early_stopping.patience"] == "10"
    assert int(params["model.param_count"]) > 100_000
    assert tags["tracking.uri"] == f"sqlite:///{tmp}/mlflow.db"
    assert tags["paths.output_dir"] == str(tmp / "run")
    assert tags["callbacks.model_checkpoint.filepath"].endswith("checkpoints/best.keras")
    assert tags["callbacks.csv_logger.filename"].endswith("epochs.csv")
    assert not [key for key, value in params.items() if is_location(value)]
    assert not [key for key in params if key.startswith("sweep")]
    leaves = set(_leaf_keys(composed)) - {"sweep", "resume", "force"}  # plumbing that is off
    assert leaves <= set(params) | set(tags), sorted(leaves - set(params) - set(tags))
    assert not set(params) & set(tags)


def _leaf_keys(node: dict, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in node.items():
        if isinstance(value, dict):
            keys += _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_metrics_are_logged_once_per_epoch(finished_run) -> None:
    _, run = finished_run
    client = MlflowClient()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, epoch_metric_key(key))]
        assert steps == [0, 1], (key, steps)
    history = client.get_metric_history(run.info.run_id, epoch_metric_key("val_accuracy"))
    values = [m.value for m in history]
    assert run.data.metrics["best_val_accuracy"] == pytest.approx(max(values))
    assert run.data.metrics["best_epoch"] == int(np.argmax(values))
    assert 0 < run.data.metrics["test_accuracy"] <= 1


def test_config_overrides_and_logs_are_artifacts(finished_run) -> None:
    _, run = finished_run
    client = MlflowClient()
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    hydra_files = {a.path for a in client.list_artifacts(run.info.run_id, "hydra")}
    assert {"epochs.csv", "train.log", "hydra"} <= top
    assert {"hydra/config.yaml", "hydra/overrides.yaml"} <= hydra_files
    overrides = client.download_artifacts(run.info.run_id, "hydra/overrides.yaml")
    assert "trainer.epochs=2" in Path(overrides).read_text()


def test_run_is_named_and_tagged_with_provenance(finished_run) -> None:
    _, run = finished_run
    assert re.fullmatch(r"cnn-\d{6}-lr0\.002-\d{4}-[0-9a-f]{6}", run.info.run_name)
    assert run.info.run_name.endswith(run.info.run_id[:6])
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert "-m blueprint.train" in tags["command"]
    assert "trainer.epochs=2" in tags["hydra.overrides"]
    assert re.fullmatch(r"[0-9a-f]{40}", tags["git.commit"])
    assert tags["git.dirty"] in {"True", "False"}


def test_logged_model_carries_the_best_epochs_metrics_and_the_run_name(finished_run) -> None:
    """The model holds the best epoch's weights (EarlyStopping restores them), so its metrics on
    the run's Models tab are that epoch's, not epoch 0's."""
    _, run = finished_run
    (model,) = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    best = int(run.data.metrics["best_epoch"])
    assert best > 0  # the second of two epochs wins, so logging at step 0 would show here
    history = MlflowClient().get_metric_history(run.info.run_id, epoch_metric_key("val_accuracy"))
    linked = {m.key: m for m in model.metrics}
    assert linked[epoch_metric_key("val_accuracy")].step == best
    assert linked[epoch_metric_key("val_accuracy")].value == history[best].value
    assert linked["test_accuracy"].value == run.data.metrics["test_accuracy"]
    assert model.name == run.info.run_name.replace(".", "_")


def test_logged_model_loads_and_predicts_raw_pixels(finished_run) -> None:
    _, run = finished_run
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert len(models) == 1 and models[0].source_run_id == run.info.run_id
    model = mlflow.keras.load_model(models[0].model_uri)
    from sklearn.datasets import load_digits

    images = (load_digits().images[:20, :, :, None] * 255 / 16).astype("float32")  # 0..255
    probs = model.predict(images, verbose=0)
    assert probs.shape == (20, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    info = mlflow.models.get_model_info(models[0].model_uri)
    assert info.signature is not None and info.saved_input_example_info is not None


def test_the_entry_point_imports_scikit_learn_only_for_a_source_it_splits() -> None:
    # 0.8 s a run for a user's own data source that splits its own data (issue 30's fixed cost)
    code = "import sys, blueprint.train; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# The command with its start-up, training and exit watched: load_data and fit wrapped, and a
# last atexit handler (registered first, so run last) that reports the heap Python's shutdown
# would walk.
COLLECTOR_WATCHED = [
    sys.executable,
    "-c",
    "import atexit, gc, runpy, sys; import blueprint.data.facts as facts, "
    "blueprint.training.fit as fitting; "
    "atexit.register(lambda: print('at exit: unfrozen', len(gc.get_objects()), 'frozen', "
    "gc.get_freeze_count())); "
    "load, fit = facts.load_data, fitting.fit; "
    "facts.load_data = lambda *a: print('loading: on', gc.isenabled()) or load(*a); "
    "fitting.fit = lambda *a: (fit(*a), print('trained: on', gc.isenabled()))[0]; "
    "sys.argv[0] = 'blueprint.train'; "
    "runpy.run_module('blueprint.train', run_name='__main__', alter_sys=True)",
]


def test_the_collector_sleeps_through_start_up_and_exit_but_not_training(tmp_path: Path) -> None:
    # Its passes over TensorFlow's and MLflow's objects cost 2-4 s a run (blueprint/plumbing/
    # collector.py); training, which can run for days, collects its garbage as usual.
    result = run_train(tmp_path, *TINY, python=COLLECTOR_WATCHED)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loading: on False" in result.stdout
    assert "trained: on True" in result.stdout
    unfrozen, frozen = map(int, re.search(r"unfrozen (\d+) frozen (\d+)", result.stdout).groups())
    assert frozen > 100_000 and unfrozen < frozen / 100, result.stdout


def test_a_home_path_typed_after_a_dotted_key_reaches_the_config(tmp_path: Path) -> None:
    # `data.path=~/photos`: bash leaves the ~ (data.path is no shell variable name), and Hydra's
    # override grammar refuses it; the command expands it as bash would for `input=~/photos`.
    env = {**os.environ, "HOME": str(tmp_path)}
    args = ["data=folder", "data.path=~/photos", "--cfg", "job"]
    shown = subprocess.run(
        [sys.executable, "-m", "blueprint.train", *args], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout)["data"]["path"] == str(tmp_path / "photos")


def test_home_expansion_leaves_deletions_quotes_and_flags_alone() -> None:
    home = str(Path.home())
    assert home_expanded(["data.path=~", "+x=~/a,~/b", "~trainer.seed", "k='~/q'", "-m"]) == [
        f"data.path={home}",
        f"+x={home}/a,{home}/b",
        "~trainer.seed",
        "k='~/q'",
        "-m",
    ]
    assert home_expanded(["data.path=a~/b", "name=~user"]) == ["data.path=a~/b", "name=~user"]
