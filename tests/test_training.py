"""In-process training: reproducibility, failure handling and the objective a sweep receives."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from blueprint.errors import TrainingError
from blueprint.tracking.epoch_logger import epoch_metric_key
from blueprint.train import train
from tests.helpers import ROOT, after_a_lost_ctrl_c

SMALL_CNN = ["model.filters=[8,16]", "model.dense_units=[32,16]", "trainer.epochs=3"]


def val_history(run_id: str) -> list[tuple[float, float]]:
    client = MlflowClient()
    loss, accuracy = (
        [m.value for m in client.get_metric_history(run_id, epoch_metric_key(name))]
        for name in ("val_loss", "val_accuracy")
    )
    return list(zip(loss, accuracy, strict=True))


def runs_of(cfg) -> list:
    mlflow.set_tracking_uri(cfg.tracking.uri)
    return mlflow.search_runs(
        experiment_names=[cfg.tracking.experiment_name],
        output_format="list",
        order_by=["start_time"],
    )


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_same_seed_gives_identical_validation_metrics(compose_cfg) -> None:
    overrides = [*SMALL_CNN, "trainer.deterministic=true", "callbacks=none"]
    first = train(compose_cfg(*overrides))
    second = train(compose_cfg(*overrides))
    train(compose_cfg(*overrides, "trainer.seed=7"))
    runs = runs_of(compose_cfg())
    assert len(runs) == 3
    histories = [val_history(run.info.run_id) for run in runs]
    assert len(histories[0]) == 3
    assert histories[0] == histories[1] and first == second
    assert histories[2] != histories[0]  # the seed matters, so the equality above means something


def test_objective_is_the_best_epoch_not_the_last(compose_cfg) -> None:
    cfg = compose_cfg(*SMALL_CNN, "objective.metric=val_loss", "objective.direction=minimize")
    value = train(cfg)
    (run,) = runs_of(cfg)
    losses = [v for v, _ in val_history(run.info.run_id)]
    assert value == pytest.approx(min(losses))
    assert run.data.metrics["best_val_loss"] == pytest.approx(min(losses))


def test_a_binary_task_reports_auc_and_optimises_it(compose_cfg) -> None:
    cfg = compose_cfg("experiment=binary", *SMALL_CNN, "diagnostics=off")
    value = train(cfg)
    (run,) = runs_of(cfg)
    history = MlflowClient().get_metric_history(run.info.run_id, epoch_metric_key("val_auc"))
    aucs = [m.value for m in history]
    assert len(aucs) == 3 and value == pytest.approx(max(aucs))
    assert run.data.params["task"] == "binary" and "test_auc" in run.data.metrics


def test_non_finite_loss_fails_the_run(compose_cfg) -> None:
    cfg = compose_cfg("model=mlp", "optimizer=sgd", "optimizer.lr=1e30", "trainer.epochs=3")
    with pytest.raises(TrainingError, match=r"lower optimizer\.lr"):
        train(cfg)
    (run,) = runs_of(cfg)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("TrainingError: training loss became")
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert "error.txt" in artifacts


def test_an_exception_in_training_fails_the_run(compose_cfg, monkeypatch) -> None:
    import keras

    def broken_fit(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(keras.Model, "fit", broken_fit)
    cfg = compose_cfg("model=mlp", "trainer.epochs=1")
    with pytest.raises(RuntimeError, match="disk full"):
        train(cfg)
    (run,) = runs_of(cfg)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "RuntimeError: disk full"


def test_print_config_does_not_import_tensorflow() -> None:
    cmd = [sys.executable, "-X", "importtime", "-m", "blueprint.train", "--cfg", "job"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "objective:" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
    assert "hydra" in imported
    assert not imported & {"tensorflow", "keras", "mlflow", "optuna", "matplotlib"}


def test_runs_started_in_the_same_second_get_their_own_directory() -> None:
    cmd = [
        sys.executable,
        "-m",
        "blueprint.train",
        "--cfg",
        "all",
        "--resolve",
        "-p",
        "hydra.run.dir",
    ]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    dirs = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    assert all(d.startswith(f"{ROOT}/experiments/default/") for d in dirs), dirs
    assert len(set(dirs)) == 3, dirs


@pytest.mark.slow
def test_default_recipe_reaches_98_percent_validation_accuracy(compose_cfg) -> None:
    best = train(compose_cfg())
    print(f"default recipe: best val_accuracy = {best:.4f}")
    assert best >= 0.98


@pytest.fixture
def ctrl_c_handling_restored() -> Iterator[None]:
    """pytest's SIGINT handler and unraisable hook back after a test installs blueprint's
    (`catch_ctrl_c`), and no press remembered."""
    from blueprint.plumbing.ctrl_c import PRESSED

    handler, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        sys.unraisablehook = hook
        PRESSED.clear()


def fit_a_tiny_model(callbacks: list) -> None:
    """100 epochs of 8 one-step batches of a one-layer model: long enough to be stopped in."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse", steps_per_execution=1)
    images, targets = np.zeros((64, 4)), np.zeros((64, 2))
    model.fit(images, targets, batch_size=8, epochs=100, verbose=0, callbacks=callbacks)


@pytest.mark.usefixtures("ctrl_c_handling_restored")
def test_a_ctrl_c_python_loses_in_a_finalizer_still_stops_training_quietly() -> None:
    """Python drops a KeyboardInterrupt raised in a finalizer (TensorFlow runs them at every
    step): the remembered press stops training at the next batch, and nothing is reported."""
    import keras

    from blueprint.plumbing.ctrl_c import PRESSED, catch_ctrl_c
    from blueprint.training.callbacks import RaiseCtrlCAtBatchEnd

    class StopsInItsFinalizer:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler runs here and its KeyboardInterrupt is dropped

    seen: list[int] = []
    batches = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: seen.append(1))
    reported: list = []  # what Python reports as "Exception ignored"
    sys.unraisablehook = reported.append
    catch_ctrl_c()
    StopsInItsFinalizer()  # dropped at once
    assert PRESSED.is_set() and reported == []
    with pytest.raises(KeyboardInterrupt):
        fit_a_tiny_model([batches, RaiseCtrlCAtBatchEnd()])
    assert len(seen) == 1  # within the first step


@pytest.mark.usefixtures("ctrl_c_handling_restored")
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_in_training_waits_for_the_batch_end_unless_pressed_twice(presses: int) -> None:
    """Raised inside TensorFlow's C++, a KeyboardInterrupt could crash the process (a segfault,
    seen once in CI): while a model trains, a first press is raised at the batch's end, where
    only Keras' Python runs; a second one at once."""
    import keras

    from blueprint.plumbing.ctrl_c import PRESSED, catch_ctrl_c, ctrl_c_at_batch_ends
    from blueprint.training.callbacks import RaiseCtrlCAtBatchEnd

    went_on: list[int] = []  # batches whose own work went on after the presses

    def press_in_batch_two(batch: int, logs: dict) -> None:
        if batch == 2:
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)  # its handler runs before the next line
            went_on.append(batch)

    pressing = keras.callbacks.LambdaCallback(on_train_batch_begin=press_in_batch_two)
    ended: list[int] = []
    batches = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: ended.append(b))
    catch_ctrl_c()
    with pytest.raises(KeyboardInterrupt), ctrl_c_at_batch_ends():
        fit_a_tiny_model([pressing, batches, RaiseCtrlCAtBatchEnd()])
    assert PRESSED.is_set()
    if presses == 1:
        assert went_on == [2] and ended == [0, 1, 2]  # the batch ended, no later one began
    else:
        assert went_on == [] and ended == [0, 1]


@pytest.mark.usefixtures("ctrl_c_handling_restored")
def test_a_ctrl_c_after_the_last_batch_is_raised_as_training_ends() -> None:
    from blueprint.plumbing.ctrl_c import catch_ctrl_c, ctrl_c_at_batch_ends

    catch_ctrl_c()
    with pytest.raises(KeyboardInterrupt), ctrl_c_at_batch_ends():
        os.kill(os.getpid(), signal.SIGINT)  # as the last epoch's end work runs
        finished = True
    assert finished  # the work went on to its end, then the press was raised


def test_an_error_a_lost_ctrl_c_left_behind_still_says_how_to_resume(
    compose_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C lost mid-step can break Keras' state, and the stop then surfaces as another
    error: it carries the run's resume command as a Ctrl-C does (CI once printed a bare
    "stopped (Ctrl-C)"). Without a press the error is left as it is."""
    import blueprint.train as entry

    def broken_step(*_) -> float:
        raise TypeError("Failed to convert elements of (None,) to Tensor")

    monkeypatch.setattr(entry, "train_once", broken_step)
    monkeypatch.setattr(entry, "resume_hint", lambda folder: f"resume={folder}")
    cfg = compose_cfg()
    with pytest.raises(TypeError) as fault:
        train(cfg)
    assert not hasattr(fault.value, "__notes__")
    with after_a_lost_ctrl_c(), pytest.raises(TypeError) as stop:
        train(cfg)
    assert stop.value.__notes__ == [f"resume={cfg.paths.output_dir}"]
