"""Builds objects from `_target_` configs, limited to the modules the config allows."""

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def build(node: DictConfig, allowed_targets: list[str], **kwargs: Any) -> Any:
    """`hydra.utils.instantiate` with Hydra's execution whitelist taken from `allowed_targets`.

    Keras resolves public names to `keras.src.*`, which `keras.*` covers. Builders receive plain
    lists and dicts (`_convert_="all"`), never OmegaConf containers.
    """
    return instantiate(
        node, _execution_whitelist_=tuple(allowed_targets), _convert_="all", **kwargs
    )
