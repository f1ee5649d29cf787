"""Builds objects from `_target_` configs, limited to the modules the config allows."""

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from blueprint.errors import BlueprintError, ConfigError, first_line, root_cause


def build(
    node: DictConfig, allowed_targets: list[str], key: str | None = None, **kwargs: Any
) -> Any:
    """`hydra.utils.instantiate` with Hydra's execution whitelist taken from `allowed_targets`.

    Keras resolves public names to `keras.src.*`, which `keras.*` covers. Builders receive plain
    lists and dicts (`_convert_="all"`), never OmegaConf containers. A target that cannot be
    found, is not allowed, or refuses its arguments is a config error naming the key (`key`, or
    the node's own place in the config).
    """
    try:
        return instantiate(
            node, _execution_whitelist_=tuple(allowed_targets), _convert_="all", **kwargs
        )
    except BlueprintError:
        raise
    except (InstantiationException, ImportError, TypeError, ValueError) as err:
        where = key or node._get_full_key(None) or "config"
        target = node.get("_target_", "?")
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = " ".join(line for line in lines if not line.startswith("full_key:"))
        root = root_cause(err)  # a module of the user's that fails to import: its own error
        if root is not err and str(root) not in reason:
            reason = f"{reason.rstrip('.')}: {type(root).__name__}: {first_line(root)}"
        if "not in the Hydra execution whitelist" in reason:
            hint = f"add its module to allowed_targets (now {allowed_targets})"
        elif "Error locating target" in reason:
            hint = f"fix the import its module fails with, or {where} in its config"
        else:
            hint = f"fix {where} in its config file or on the command line"
        raise ConfigError(f"{where}: cannot build {target}: {reason.rstrip('.')}; {hint}") from err
