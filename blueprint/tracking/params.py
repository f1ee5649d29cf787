"""The composed config as flat MLflow params."""

from typing import Any

from omegaconf import DictConfig, OmegaConf

MAX_PARAM_LENGTH = 6000  # MLflow rejects longer param values


def flatten_config(cfg: DictConfig) -> dict[str, str]:
    """Every leaf under its dotted key; a list of scalars stays one param, e.g. model.filters."""
    flat: dict[str, str] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), child)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for i, child in enumerate(value):
                visit(f"{prefix}.{i}", child)
        else:
            flat[prefix] = str(value)[:MAX_PARAM_LENGTH]

    visit("", OmegaConf.to_container(cfg, resolve=True))
    return flat
