"""How runs are kept honest in MLflow: the status after a failure or a kill, opening a store safely
(whose file, one process setting it up) and advice that fits the cause."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from blueprint.errors import BlueprintError, ConfigError
from blueprint.tracking.epoch_logger import epoch_metric_key
from blueprint.tracking.mlflow_run import open_experiment, tracked_run
from blueprint.tracking.owner import ORPHAN_TAG, owner_tags
from blueprint.tracking.store_opening import locked_client
from tests.helpers import ROOT, TINY, after_a_lost_ctrl_c, clean_env, error_lines, run_train


def tracking_cfg(tmp: Path, **overrides: str):
    node = {
        "uri": f"sqlite:///{tmp}/mlflow.db",
        "artifact_location": str(tmp / "mlruns"),
        "experiment_name": "tracking",
    }
    return OmegaConf.create(node | overrides)


def only_run(tmp: Path) -> mlflow.entities.Run:
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    return run


@pytest.mark.parametrize(
    ("error", "status"), [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")]
)
@pytest.mark.parametrize("recording_fails_with", [None, PermissionError, KeyboardInterrupt])
def test_a_failed_run_ends_failed_whatever_fails_while_recording_it(
    compose_cfg, tmp_path, monkeypatch, error, status, recording_fails_with
) -> None:
    """MLflow's exit hook ends a still-active run FINISHED: the handler must end it itself, even
    when writing error.txt fails (an unwritable artifact store, a second Ctrl-C)."""
    if recording_fails_with is not None:

        def refuse(*_args, **_kwargs):
            raise recording_fails_with("artifact store refused")

        monkeypatch.setattr(mlflow, "log_text", refuse)
    with pytest.raises(type(error)), tracked_run(compose_cfg(*TINY)):
        raise error
    assert mlflow.active_run() is None
    run = only_run(tmp_path)
    assert run.info.status == status
    assert type(error).__name__ in run.data.tags["error"]


def test_an_error_after_a_dropped_ctrl_c_ends_the_run_killed(compose_cfg, tmp_path) -> None:
    """A Ctrl-C Python dropped mid-step can break the next step: the run was stopped, not failed."""
    with after_a_lost_ctrl_c(), pytest.raises(TypeError), tracked_run(compose_cfg(*TINY)):
        raise TypeError("Failed to convert elements of (None,) to Tensor")
    assert only_run(tmp_path).info.status == "KILLED"


def test_an_unusable_artifact_folder_stops_the_run_before_it_starts(tmp_path) -> None:
    """It used to fail after training, on the first artifact, and the run read FINISHED."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the artifact folder should be")
    location = f"tracking.artifact_location={blocker}/mlruns"
    result = run_train(tmp_path, *TINY, "trainer.epochs=1", location)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and f"{blocker}/mlruns" in lines[0], lines
    assert "tracking.artifact_location" in lines[0]
    assert not (tmp_path / "mlflow.db").exists()  # refused before the store was touched


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_a_killed_run_reads_killed_once_the_next_run_starts(tmp_path) -> None:
    cmd = [sys.executable, "-m", "blueprint.train", *TINY, "trainer.epochs=100000"]
    cmd += [f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"hydra.run.dir={tmp_path}/killed"]
    cmd += [f"tracking.artifact_location={tmp_path}/mlruns"]
    victim = subprocess.Popen(cmd, cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL)
    try:
        run_id = _wait_for_an_epoch(tmp_path, timeout=120)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert client.get_run(run_id).info.status == "RUNNING"  # what MLflow alone leaves behind
    alive = client.create_run(client.get_run(run_id).info.experiment_id, tags=owner_tags())
    result = run_train(tmp_path, *TINY, "trainer.epochs=1")
    assert result.returncode == 0, result.stderr
    killed = client.get_run(run_id)
    assert killed.info.status == "KILLED"
    assert str(victim.pid) in killed.data.tags[ORPHAN_TAG]
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"  # this process still runs


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_ctrl_c_ends_a_run_killed_even_when_started_with_sigint_ignored(tmp_path) -> None:
    """A non-interactive shell starts its background jobs (`make app &`) with SIGINT ignored,
    which a child keeps: the run trained on through Ctrl-C and through the app's Stop. The
    command ends with one line saying how to go on, no traceback, and the shell's status 130."""
    cmd = [sys.executable, "-m", "blueprint.train", *TINY, "trainer.epochs=100000"]
    cmd += [f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"hydra.run.dir={tmp_path}/run"]
    cmd += [f"tracking.artifact_location={tmp_path}/mlruns", "trainer.verbose=0"]
    cmd += ["~callbacks.early_stopping"]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # what the child inherits
    printed = tmp_path / "printed.txt"
    try:
        with open(printed, "w") as output:
            run = subprocess.Popen(cmd, cwd=ROOT, env=clean_env(), stdout=output, stderr=output)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        run_id = _wait_for_an_epoch(tmp_path, timeout=120)
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGINT
    assert MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(run_id).info.status == "KILLED"
    text = printed.read_text()
    assert "Traceback" not in text, text
    stopped = [line for line in text.splitlines() if "stopped (Ctrl-C)" in line]
    assert len(stopped) == 1, text
    assert f"`python -m blueprint.train resume={tmp_path / 'run'}` goes on" in stopped[0]


def _wait_for_an_epoch(tmp: Path, timeout: float) -> str:
    """The id of the first run in `tmp`'s store once it has logged an epoch (read as the app
    reads it, by a client made under the store's setup lock)."""
    uri = f"sqlite:///{tmp}/mlflow.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        if not (tmp / "mlflow.db").exists():
            continue
        client = locked_client(uri)
        runs = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            f"metrics.`{epoch_metric_key('loss')}` > 0",
        )
        if runs:
            return runs[0].info.run_id
    raise AssertionError("the run logged no epoch in time")


STARTER = """
import os, sys, time
from pathlib import Path
from omegaconf import OmegaConf
from blueprint.tracking.mlflow_run import open_experiment
(Path(sys.argv[1]) / f"ready-{os.getpid()}").touch()
go = Path(sys.argv[1]) / "go"
while not go.exists():
    time.sleep(0.005)
print(open_experiment(OmegaConf.create({"uri": sys.argv[2], "artifact_location": sys.argv[1],
                                        "experiment_name": "together"})))
"""


@pytest.mark.slow  # starts several Python processes at once: CI runs it
def test_processes_starting_together_on_a_fresh_store_all_start(tmp_path) -> None:
    """Each would create MLflow's tables on the fresh file; without the setup lock all but one
    die with a UNIQUE or "table already exists" error."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(tmp_path), uri],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)  # until every starter has imported MLflow and waits for the signal
    (tmp_path / "go").touch()
    outputs = [starter.communicate(timeout=120) for starter in starters]
    assert [starter.returncode for starter in starters] == [0] * 4, outputs
    assert len({out.split()[-1] for out, _ in outputs}) == 1  # one experiment, created once


def test_a_sqlite_file_of_another_program_is_refused_untouched(tmp_path) -> None:
    store = tmp_path / "mlflow.db"
    with sqlite3.connect(store) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
        connection.execute("INSERT INTO notes VALUES ('mine')")
    before = store.read_bytes()
    result = run_train(tmp_path, *TINY, "trainer.epochs=1")
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "not an MLflow store" in lines[0] and "tracking.uri" in lines[0]
    listing = subprocess.run(  # `make runs` on it
        [sys.executable, "-m", "blueprint.runs", "--uri", f"sqlite:///{store}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 2 and "not an MLflow store" in listing.stderr, listing.stderr
    assert store.read_bytes() == before


def test_advice_fits_the_cause(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"tracking\.experiment_name='' .* experiment_name="):
        open_experiment(tracking_cfg(tmp_path, experiment_name=""))
    assert not (tmp_path / "mlflow.db").exists()

    open_experiment(tracking_cfg(tmp_path))  # a store, then a schema MLflow cannot migrate
    with sqlite3.connect(tmp_path / "mlflow.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from_the_future'")
    migrate = subprocess.run(  # a fresh process: MLflow checks the schema once per process
        [sys.executable, "-c", _OPEN, f"sqlite:///{tmp_path}/mlflow.db"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert str(tmp_path / "mlflow.db") in migrate.stdout and "mlflow db upgrade" in migrate.stdout
    assert "server" not in migrate.stdout

    with pytest.raises(BlueprintError, match="start the MLflow server") as dead:
        open_experiment(tracking_cfg(tmp_path, uri="http://127.0.0.1:9"))
    assert "127.0.0.1:9" in str(dead.value)


_OPEN = """
import sys
from omegaconf import OmegaConf
from blueprint.errors import BlueprintError
from blueprint.tracking.mlflow_run import open_experiment
try:
    open_experiment(OmegaConf.create({"uri": sys.argv[1], "artifact_location": None,
                                      "experiment_name": "tracking"}))
except BlueprintError as err:
    print(err)
"""


def test_a_store_that_fails_mid_run_never_stops_training(tmp_path, caplog) -> None:
    """As MLflow's own Keras callback: a write the store refuses warns once, tags the run where
    it can and training goes on; the run, which finished, ends FINISHED."""
    import keras

    from blueprint.tracking.epoch_logger import FAILED_TAG, MlflowEpochLogger
    from tests.breaking_store import BreakStore

    store = tmp_path / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((8, 2), "float32")
    with mlflow.start_run() as run:
        breaker = BreakStore(str(store), at_epoch=1, restore=True)  # epoch 1's write fails
        history = model.fit(
            x, x[:, :1], epochs=4, verbose=0, callbacks=[MlflowEpochLogger(), breaker]
        )
    assert history.epoch == [0, 1, 2, 3]
    warnings = [r.getMessage() for r in caplog.records if "training goes on" in r.getMessage()]
    assert len(warnings) == 1 and f"MLflow store sqlite:///{store}" in warnings[0], warnings
    assert "epoch 1" in warnings[0]
    done = MlflowClient().get_run(run.info.run_id)
    assert done.info.status == "FINISHED"
    assert done.data.tags[FAILED_TAG].startswith("epoch 1 on:")
    steps = [m.step for m in MlflowClient().get_metric_history(run.info.run_id, "epoch/loss")]
    assert steps == [0]  # off after the failure: no store is asked again mid-run


@pytest.mark.slow  # a CLI run of about 25 s: CI runs it (make test-all)
def test_a_store_dead_to_the_end_trains_every_epoch_then_says_so(tmp_path) -> None:
    """The result cannot be recorded: one error line, exit 2, no traceback; every epoch trained;
    the run reads KILLED, not RUNNING, once the store is back and opened again."""
    store, folder = tmp_path / "mlflow.db", tmp_path / "run"
    breaker = "+callbacks.breaker._target_=tests.breaking_store.BreakStore"
    result = run_train(
        tmp_path,
        *TINY,
        "trainer.epochs=4",
        "trainer.verbose=2",  # Keras' line per epoch, counted below
        f"hydra.run.dir={folder}",
        "allowed_targets=[blueprint.*,keras.*,tests.*]",
        breaker,
        f"+callbacks.breaker.path={store}",
        "+callbacks.breaker.at_epoch=1",
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert sum("training goes on" in line for line in lines) == 1, lines
    (error,) = [line for line in lines if "[ERROR]" in line]
    assert f"lost the MLflow store sqlite:///{store} mid-run" in error, lines
    assert "training ended but its results" in error and "train again" in error
    assert sum("val_loss:" in line for line in lines) == 4  # Keras' line per epoch trained
    store.write_bytes(store.with_name("mlflow.db.good").read_bytes())  # the store is back
    open_experiment(tracking_cfg(tmp_path, experiment_name="default"))  # the next command
    run = only_run(tmp_path)
    assert run.info.status == "KILLED" and ORPHAN_TAG in run.data.tags
