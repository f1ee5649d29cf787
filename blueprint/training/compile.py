"""Optimizer, loss and metrics from config, compiled onto a model."""

from typing import Any

import keras
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from blueprint.components import build
from blueprint.errors import ConfigError

# Names `Model.compile` matches to the model's output and loss itself; keras.metrics.get does not.
# trainer.steps_per_execution=auto: on one device (bench/steps_per_execution.py: 0.78x epoch time
# of 1); under a tf.distribute strategy 1, as Keras' multi-step loop fails there.
AUTO_STEPS_PER_EXECUTION = 8
COMPILE_ALIASES = ("accuracy", "acc", "crossentropy", "ce")


def build_optimizer(node: DictConfig, allowed_targets: list[str]) -> keras.optimizers.Optimizer:
    """Instantiates the optimizer, passing the shared `lr` key as Keras' `learning_rate`."""
    kwargs = OmegaConf.to_container(node, resolve=True)
    lr = kwargs.pop("lr")
    return build(OmegaConf.create(kwargs), allowed_targets, key="optimizer", learning_rate=lr)


def build_metrics(entries: list[Any], allowed_targets: list[str]) -> list[Any]:
    """Metric names pass through to Keras once it knows them; `_target_` entries are built."""
    metrics = []
    for entry in entries:
        if isinstance(entry, DictConfig):
            metrics.append(build(entry, allowed_targets))
            continue
        if entry not in COMPILE_ALIASES:
            try:
                keras.metrics.get(entry)
            except ValueError:
                raise ConfigError(
                    f"metrics: {entry!r} is not a Keras metric; use a name from keras.metrics "
                    "(e.g. metrics=[accuracy,auc]) or a _target_ entry"
                ) from None
        metrics.append(entry)
    return metrics


def compile_model(model: keras.Model, cfg: DictConfig, allowed_targets: list[str]) -> None:
    """Compiles with the run's optimizer, loss and metrics, and the trainer's step execution.
    A mixed_float16 model's optimizer is wrapped in Keras' LossScaleOptimizer by `compile`."""
    trainer = cfg.trainer
    steps = trainer.steps_per_execution
    if steps == "auto":
        steps = 1 if tf.distribute.has_strategy() else AUTO_STEPS_PER_EXECUTION
    model.compile(
        steps_per_execution=steps,
        jit_compile=trainer.jit_compile,
        optimizer=build_optimizer(cfg.optimizer, allowed_targets),
        loss=build(cfg.loss, allowed_targets),
        metrics=build_metrics(list(cfg.metrics), allowed_targets),
    )
