"""The `model` group's network, with the `augment` group's layers in front when one is chosen."""

import keras
from omegaconf import DictConfig, OmegaConf

from blueprint.components import build
from blueprint.models.precision import dtype_policy

# Keys of the `model` group that are not the builder's: the run loads them after building.
RUN_KEYS = ("initial_weights",)


def build_model(cfg: DictConfig, allowed_targets: list[str]) -> keras.Model:
    """Builds `cfg.model`, passing `augment=<layer>` only when `cfg.augment` is not empty (and
    the task is not segmentation, see `mask_augment`), so a builder of your own needs an
    `augment` argument only once you use augmentation with it. Its layers take
    `trainer.precision` as their dtype policy, which is put back afterwards."""
    augment = cfg.get("augment") if cfg.task != "segmentation" else None
    extra = {"augment": build(augment, allowed_targets, key="augment")} if augment else {}
    values = OmegaConf.to_container(cfg.model, resolve=True)
    node = OmegaConf.create({k: v for k, v in values.items() if k not in RUN_KEYS})
    with dtype_policy(cfg.trainer.precision):
        return build(node, allowed_targets, key="model", **extra)


def mask_augment(cfg: DictConfig, allowed_targets: list[str]) -> keras.Layer | None:
    """Segmentation's augmentation: applied in the input pipeline, where the masks are, so each
    mask moves with its image (inside the model it would see the image alone)."""
    augment = cfg.get("augment")
    if not augment or cfg.task != "segmentation":
        return None
    return build(augment, allowed_targets, key="augment")
