"""The `model` group's network, with the `augment` group's layers in front when one is chosen."""

import keras
from omegaconf import DictConfig

from blueprint.components import build


def build_model(cfg: DictConfig, allowed_targets: list[str]) -> keras.Model:
    """Builds `cfg.model`, passing `augment=<layer>` only when `cfg.augment` is not empty, so a
    builder of your own needs an `augment` argument only once you use augmentation with it."""
    augment = cfg.get("augment")
    extra = {"augment": build(augment, allowed_targets, key="augment")} if augment else {}
    return build(cfg.model, allowed_targets, key="model", **extra)
