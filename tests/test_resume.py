"""Resume: a run SIGKILLed mid-training continues in the same folder and MLflow run, with every
epoch logged once, and ends where an uninterrupted run with the same seed ends."""

import contextlib
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from blueprint.data.facts import load_data
from blueprint.runs import run_lines
from blueprint.serving.reference import load_trained
from blueprint.tracking.mlflow_run import REPLACED_BY_TAG
from blueprint.tracking.params import OUTPUT_DIR_TAG
from blueprint.tracking.resume_target import append_csv_logs
from blueprint.training.backup import resume_callbacks, usable_backup
from blueprint.training.backup_files import BACKUP_DIR, epochs_done
from blueprint.training.callbacks import build_callbacks
from blueprint.training.fit import build_training_state, fit
from tests.helpers import (
    ROOT,
    assert_one_line_error,
    clean_env,
    run_train,
    train_cmd,
)
from tests.test_schedules import StopAfter
from tests.test_warm_models import trial_config, trial_model

# Deterministic, no early stopping (its restored weights would hide a difference), small batches
# so that an epoch lasts long enough to be interrupted, and a backup every epoch: paced by its
# share of the training time, a run whose first save took long backs up no later epoch.
RECIPE = (
    "trainer.epochs=5",
    "trainer.deterministic=true",
    "trainer.batch_size=8",
    "trainer.backup_share=1",
    "callbacks=none",
    "diagnostics=off",
    "trainer.verbose=0",
)


def final_weights(tmp: Path) -> tuple[str, list[np.ndarray]]:
    uri = f"sqlite:///{tmp}/mlflow.db"
    [run] = MlflowClient(uri).search_runs(["1"])
    return run.info.run_id, load_trained(run.info.run_id, uri).model.get_weights()


def kill_after_epochs(tmp: Path, epochs: int) -> None:
    """Starts training and SIGKILLs it once its backup holds `epochs` epochs."""
    cmd = train_cmd(tmp, *RECIPE)
    process = subprocess.Popen(cmd, cwd=ROOT, env=clean_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while epochs_done(tmp / "run") < epochs:
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "no backup appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_a_killed_run_resumes_into_the_same_run_and_ends_as_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir()
    cut.mkdir()
    assert run_train(whole, *RECIPE).returncode == 0
    kill_after_epochs(cut, 3)
    assert (cut / "run" / BACKUP_DIR).is_dir()
    [_, listed] = run_lines(f"sqlite:///{cut}/mlflow.db", None, 20)  # `make runs`
    assert "KILLED" in listed and "python -m blueprint.train resume=" in listed

    # the resume gets its own log folder, as a new timestamped one would be without the override
    result = run_train(cut, "resume=last", "trainer.verbose=0", f"hydra.run.dir={cut}/resume")
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{cut}/mlflow.db")
    runs = client.search_runs(["1"])
    assert len(runs) == 1  # the same run, continued
    run = runs[0]
    assert run.info.status == "FINISHED"
    for key in ("epoch/loss", "epoch/val_accuracy"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert sorted(steps) == [0, 1, 2, 3, 4], (key, steps)  # each epoch once, no gap
    assert not (cut / "run" / BACKUP_DIR).exists()  # removed once training ended

    _, expected = final_weights(whole)
    _, resumed = final_weights(cut)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(expected, resumed, strict=True))
    print(f"largest weight difference, resumed vs uninterrupted: {difference:.3g}")
    assert difference < 1e-5


@pytest.mark.slow
def test_a_finished_run_is_resumed_only_with_force_and_then_as_a_new_run(tmp_path: Path) -> None:
    assert run_train(tmp_path, "model=mlp", "trainer.epochs=1", "diagnostics=off").returncode == 0
    again = f"hydra.run.dir={tmp_path}/again"  # this command's own log folder
    assert_one_line_error(
        run_train(tmp_path, "resume=last", again), "FINISHED", "never overwritten", "force=true"
    )
    result = run_train(tmp_path, "resume=last", "force=true", again)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    new, old = client.search_runs(["1"], order_by=["attributes.start_time DESC"])
    assert new.info.status == old.info.status == "FINISHED"
    assert new.data.tags[OUTPUT_DIR_TAG] == old.data.tags[OUTPUT_DIR_TAG] == str(tmp_path / "run")
    assert old.data.tags[REPLACED_BY_TAG] == new.info.run_id
    assert new.data.params == old.data.params  # the finished run's config, trained again


@pytest.mark.slow
def test_a_used_run_folder_is_kept_unless_forced(tmp_path: Path) -> None:
    recipe = ("model=mlp", "trainer.epochs=1", "diagnostics=off")
    assert run_train(tmp_path, *recipe).returncode == 0
    folder = tmp_path / "run"
    kept = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    refused = run_train(tmp_path, *recipe, "optimizer.lr=0.01")
    assert_one_line_error(
        refused, f"hydra.run.dir={folder} was used before", "earlier run", "force=true"
    )
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == kept
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    [first] = client.search_runs(["1"])

    assert run_train(tmp_path, *recipe, "optimizer.lr=0.01", "force=true").returncode == 0
    assert "lr: 0.01" in (folder / ".hydra" / "config.yaml").read_text()
    second = next(r for r in client.search_runs(["1"]) if r.info.run_id != first.info.run_id)
    assert client.get_run(first.info.run_id).data.tags[REPLACED_BY_TAG] == second.info.run_id


@pytest.mark.slow
def test_a_resume_that_changes_the_config_is_refused(tmp_path: Path) -> None:
    assert run_train(tmp_path, "model=mlp", "trainer.epochs=1", "diagnostics=off").returncode == 0
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    [run] = client.search_runs(["1"])
    client.set_terminated(run.info.run_id, "FAILED")  # as if it had crashed: resumable
    result = run_train(tmp_path, "resume=last", "optimizer.lr=0.5", f"hydra.run.dir={tmp_path}/r")
    assert_one_line_error(result, "optimizer.lr=0.5", "its own config")


def test_a_resumed_run_appends_to_its_csv_log(compose_cfg) -> None:
    cfg = compose_cfg()
    append_csv_logs(cfg)
    callbacks = build_callbacks(cfg, list(cfg.allowed_targets))
    [csv_logger] = [c for c in callbacks if isinstance(c, keras.callbacks.CSVLogger)]
    assert csv_logger.append  # Keras' default rewrites the file, losing the epochs before the cut


def test_a_run_cut_after_skipped_backups_resumes_from_the_last_one_and_ends_the_same(
    compose_cfg, tmp_path: Path
) -> None:
    """trainer.backup_share: with a share no save fits in, only the first epoch is backed up; a
    run cut after three epochs resumes from that one and still ends where an uninterrupted run
    ends. With 1, every epoch is backed up."""
    cfg = trial_config(compose_cfg, "trainer.epochs=5", "trainer.deterministic=true")
    data = load_data(cfg.data, list(cfg.allowed_targets))

    def trained(output_dir: Path | None, share: float, stop_after: int | None = None) -> list:
        model = trial_model(cfg)
        build_training_state(model, data)
        callbacks = [
            *resume_callbacks(output_dir, share),
            *([StopAfter(stop_after)] if stop_after else []),
        ]
        with contextlib.suppress(KeyboardInterrupt):
            done = usable_backup(output_dir) if output_dir else 0
            fit(model, data, cfg.trainer, callbacks, cfg.trainer.batch_size, done)
        return model.get_weights()

    whole = trained(None, 1.0)
    trained(tmp_path / "every", 1.0, stop_after=3)
    assert epochs_done(tmp_path / "every") == 3
    trained(tmp_path / "paced", 1e-9, stop_after=3)
    assert epochs_done(tmp_path / "paced") == 1  # epochs 1 and 2 were not saved
    resumed = trained(tmp_path / "paced", 1e-9)
    assert not (tmp_path / "paced" / BACKUP_DIR).exists()  # training ended: the backup went
    for a, b in zip(whole, resumed, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
