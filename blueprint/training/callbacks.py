"""Keras callbacks: the configured ones plus the guards every run needs."""

import math

import keras
from omegaconf import DictConfig

from blueprint.components import build
from blueprint.errors import TrainingError
from blueprint.plumbing.ctrl_c import PRESSED


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises at the end of an epoch whose loss is NaN or infinite, so the run is marked failed.

    Keras' TerminateOnNaN only stops training, which would leave a broken run looking finished.
    Checking once per epoch is enough: a non-finite loss never recovers.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingError(
                f"training loss became {loss} in epoch {epoch}; lower optimizer.lr "
                "or check the data for NaN values"
            )


class RaiseCtrlCAtBatchEnd(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the next batch's end after a Ctrl-C that training deferred or
    Python lost in a finalizer (`blueprint.plumbing.ctrl_c`): a Stop ends training within a
    step (of `trainer.steps_per_execution` batches), never later."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._raise_if_pressed()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._raise_if_pressed()

    @staticmethod
    def _raise_if_pressed() -> None:
        if PRESSED.is_set():
            raise KeyboardInterrupt


def build_callbacks(cfg: DictConfig, allowed_targets: list[str]) -> list[keras.callbacks.Callback]:
    """The `schedule` group's callback (none for schedule=none), the `callbacks` group's
    entries in config order, then the guards: a non-finite loss, a Ctrl-C."""
    schedule = build(cfg.schedule, allowed_targets, key="schedule") if cfg.get("schedule") else None
    configured = [build(node, allowed_targets) for node in (cfg.callbacks or {}).values()]
    guards = [FailOnNonFiniteLoss(), RaiseCtrlCAtBatchEnd()]
    return [*([schedule] if schedule is not None else []), *configured, *guards]
