"""The `schedule` group and `optimizer.clipnorm`: the rate each epoch trains at, logged as
`epoch/lr`, continued by a resumed fit and by a warm sweep trial."""

import contextlib
import math
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from blueprint.data.facts import load_data
from blueprint.errors import ConfigError
from blueprint.tracking.epoch_logger import LR_KEY
from blueprint.train import train
from blueprint.training.backup import resume_callbacks
from blueprint.training.callbacks import build_callbacks
from blueprint.training.compile import build_optimizer
from blueprint.training.fit import build_training_state, fit
from blueprint.training.warm_models import WarmModels, compiled_key
from blueprint.validation import validate
from tests.helpers import TINY, write_mnist_like_npz
from tests.test_warm_models import trial_config, trial_model


class Rates(keras.callbacks.Callback):
    """The learning rate each epoch trains at (read once the schedule has set it)."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: dict[int, float] = {}

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.rates.setdefault(self._epoch, float(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch


class StopAfter(keras.callbacks.Callback):
    """Kills the fit once `epochs` epochs are backed up, as a killed process would."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


def scheduled_rates(cfg, data, output_dir: Path | None, stop_after: int | None = None) -> dict:
    model = trial_model(cfg)
    build_training_state(model, data)
    rates = Rates()
    callbacks = [*build_callbacks(cfg, list(cfg.allowed_targets)), rates]
    callbacks += resume_callbacks(output_dir, 1.0)  # every epoch: a resume starts at stop_after
    callbacks += [StopAfter(stop_after)] if stop_after else []
    with contextlib.suppress(KeyboardInterrupt):
        fit(model, data, cfg.trainer, callbacks, cfg.trainer.batch_size)
    return rates.rates


def test_cosine_warms_up_then_decays_and_step_multiplies(compose_cfg) -> None:
    cfg = compose_cfg("schedule=cosine", "trainer.epochs=5", "optimizer.lr=0.01")
    [cosine, *_] = build_callbacks(cfg, list(cfg.allowed_targets))
    rates = [cosine.schedule(epoch, 0.0) for epoch in range(5)]
    assert rates[:2] == pytest.approx([0.005, 0.01])  # warmup_epochs=1
    assert rates[2:] == pytest.approx(
        [0.01 * 0.5 * (1 + math.cos(math.pi * p / 4)) for p in (1, 2, 3)]
    )
    cfg = compose_cfg("schedule=step", "schedule.every_epochs=2", "optimizer.lr=0.01")
    [step, *_] = build_callbacks(cfg, list(cfg.allowed_targets))
    assert [step.schedule(e, 0.0) for e in range(5)] == pytest.approx(
        [0.01, 0.01, 5e-3, 5e-3, 2.5e-3]
    )
    none = compose_cfg("schedule=none")
    assert not any(
        isinstance(c, keras.callbacks.LearningRateScheduler | keras.callbacks.ReduceLROnPlateau)
        for c in build_callbacks(none, list(none.allowed_targets))
    )


def test_bad_schedule_and_clipnorm_values_are_config_errors(compose_cfg) -> None:
    for overrides, fragment in [
        (("schedule=cosine", "trainer.epochs=3", "schedule.warmup_epochs=3"), "warmup_epochs=3"),
        (("schedule=step", "schedule.factor=2"), "schedule.factor=2"),
        (("optimizer.clipnorm=-1",), "optimizer.clipnorm=-1"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            validate(compose_cfg(*overrides))


def test_clipnorm_reaches_the_optimizer(compose_cfg) -> None:
    for option in ("adam", "sgd", "rmsprop", "adamw"):
        cfg = compose_cfg(f"optimizer={option}", "optimizer.clipnorm=1.5")
        validate(cfg)
        assert build_optimizer(cfg.optimizer, list(cfg.allowed_targets)).clipnorm == 1.5
    assert build_optimizer(compose_cfg().optimizer, ["keras.*"]).clipnorm is None


def test_a_resumed_fit_continues_the_schedule(compose_cfg, tmp_path: Path) -> None:
    cfg = trial_config(
        compose_cfg, "schedule=cosine", "trainer.epochs=5", "optimizer.lr=0.01", "trainer.verbose=0"
    )
    data = load_data(cfg.data, list(cfg.allowed_targets))
    whole = scheduled_rates(cfg, data, None)
    assert len(set(whole.values())) == 4  # it schedules something (epochs 0 and 3: lr / 2)
    first = scheduled_rates(cfg, data, tmp_path, stop_after=3)
    rest = scheduled_rates(cfg, data, tmp_path)  # restores the backup of epochs 0-2
    assert sorted(first) == [0, 1, 2] and sorted(rest) == [3, 4]
    assert {**first, **rest} == pytest.approx(whole)


def test_a_resumed_fit_continues_a_plateau_schedule(compose_cfg, tmp_path: Path) -> None:
    """The lowered rate is optimizer state, which the backup holds; the callback's best value
    and patience count come back from its state file."""
    # patience 0 on a loss that falls while "max" is asked: the rate halves every epoch from the
    # second on; a callback that forgot its best value would wait one epoch more after a resume
    plateau = ("schedule.monitor=loss", "schedule.mode=max", "schedule.patience=0")
    cfg = trial_config(
        compose_cfg, "schedule=reduce_on_plateau", *plateau, "trainer.epochs=5", "trainer.verbose=0"
    )
    data = load_data(cfg.data, list(cfg.allowed_targets))
    whole = scheduled_rates(cfg, data, None)
    assert list(whole.values()) == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4, 1.25e-4])
    (tmp_path / "run" / "reduce_on_plateau.json").unlink()  # the uninterrupted fit's counters
    first = scheduled_rates(cfg, data, tmp_path / "run", stop_after=3)
    rest = scheduled_rates(cfg, data, tmp_path / "run")
    assert {**first, **rest} == pytest.approx(whole)


def test_a_warm_trial_follows_its_own_schedule(compose_cfg) -> None:
    plain = trial_config(compose_cfg, "optimizer.lr=0.01")
    first = trial_config(
        compose_cfg, "schedule=step", "schedule.every_epochs=1", "optimizer.lr=0.01"
    )
    second = trial_config(compose_cfg, "schedule=cosine", "optimizer.lr=0.02")
    assert compiled_key(first) == compiled_key(second) == compiled_key(plain)  # not in the graph
    for change in ("trainer.precision=mixed_bfloat16", "trainer.steps_per_execution=4"):
        assert compiled_key(trial_config(compose_cfg, change)) != compiled_key(plain), change
    data = load_data(first.data, list(first.allowed_targets))
    warm = WarmModels()
    model = warm.adopt(trial_model(first), compiled_key(first))
    build_training_state(model, data)
    rates = Rates()
    fit(
        model, data, first.trainer, [*build_callbacks(first, ["keras.*", "blueprint.*"]), rates], 32
    )
    assert list(rates.rates.values()) == pytest.approx([0.01, 0.005])
    reused = warm.adopt(trial_model(second), compiled_key(second))
    assert reused is model
    rates = Rates()
    fit(
        reused,
        data,
        second.trainer,
        [*build_callbacks(second, ["keras.*", "blueprint.*"]), rates],
        32,
    )
    assert list(rates.rates.values()) == pytest.approx([0.01, 0.02])  # warm-up, then lr


def test_every_epoch_logs_the_rate_it_trained_at(compose_cfg) -> None:
    cfg = compose_cfg(*TINY, "trainer.epochs=3", "schedule=cosine", "optimizer.lr=0.01")
    train(cfg)
    client = MlflowClient(cfg.tracking.uri)
    [run] = client.search_runs(["1"])
    logged = [
        m.value
        for m in sorted(client.get_metric_history(run.info.run_id, LR_KEY), key=lambda m: m.step)
    ]
    expected = [0.005, 0.01, 0.01 * 0.5 * (1 + math.cos(math.pi / 2))]
    assert logged == pytest.approx(expected, rel=1e-5)
    assert "epoch/learning_rate" not in run.data.metrics
    assert np.isfinite(run.data.metrics["epoch/loss"])


def test_the_mnist_recipe_trains_on_a_stand_in(compose_cfg, tmp_path: Path) -> None:
    """experiment=mnist's pieces together (real MNIST cannot be downloaded: training.md)."""
    stand_in = write_mnist_like_npz(tmp_path / "mnist.npz")
    cfg = compose_cfg(
        "experiment=mnist",
        f"data.path={stand_in}",
        "trainer.epochs=2",
        "trainer.verbose=0",
        "diagnostics=off",
        "tracking.log_model=false",
    )
    assert cfg.schedule._target_.endswith("cosine") and cfg.augment.layers
    train(cfg)
    client = MlflowClient(cfg.tracking.uri)
    [run] = client.search_runs([client.get_experiment_by_name("mnist").experiment_id])
    rates = [m.value for m in client.get_metric_history(run.info.run_id, LR_KEY)]
    assert rates == pytest.approx([1e-3, 2e-3])  # warm-up epoch, then optimizer.lr
    assert run.data.params["augment.name"] == "augment" and "test_accuracy" in run.data.metrics
