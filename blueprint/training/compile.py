"""Optimizer, loss and metrics from config, compiled onto a model."""

from typing import Any

import keras
from omegaconf import DictConfig, OmegaConf

from blueprint.components import build


def build_optimizer(node: DictConfig, allowed_targets: list[str]) -> keras.optimizers.Optimizer:
    """Instantiates the optimizer, passing the shared `lr` key as Keras' `learning_rate`."""
    kwargs = OmegaConf.to_container(node, resolve=True)
    lr = kwargs.pop("lr")
    return build(OmegaConf.create(kwargs), allowed_targets, learning_rate=lr)


def build_metrics(entries: list[Any], allowed_targets: list[str]) -> list[Any]:
    """Metric names pass through to Keras; `_target_` entries are instantiated."""
    return [
        build(m, allowed_targets) if isinstance(m, DictConfig) and "_target_" in m else m
        for m in entries
    ]


def compile_model(model: keras.Model, cfg: DictConfig) -> None:
    allowed = list(cfg.allowed_targets)
    model.compile(
        optimizer=build_optimizer(cfg.optimizer, allowed),
        loss=build(cfg.loss, allowed),
        metrics=build_metrics(list(cfg.metrics), allowed),
    )
