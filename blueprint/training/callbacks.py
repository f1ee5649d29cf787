"""Keras callbacks: the configured ones plus the guard every run needs."""

import math

import keras
from omegaconf import DictConfig

from blueprint.components import build
from blueprint.errors import TrainingError


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


def build_callbacks(cfg: DictConfig, allowed_targets: list[str]) -> list[keras.callbacks.Callback]:
    """The `schedule` group's callback (none for schedule=none), the `callbacks` group's
    entries in config order, then the non-finite-loss guard."""
    schedule = build(cfg.schedule, allowed_targets, key="schedule") if cfg.get("schedule") else None
    configured = [build(node, allowed_targets) for node in (cfg.callbacks or {}).values()]
    return [*([schedule] if schedule is not None else []), *configured, FailOnNonFiniteLoss()]
