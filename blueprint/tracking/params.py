"""The composed config as flat MLflow params (hyperparameters) and tags (where this run lives).

Params are what "Compare runs, show diff only" lists, so they hold what a user chose. Values that
name a place on disk or a store (absolute paths, URIs) differ for every run or machine without
changing the model, and the `sweep` node is the sweeper's plumbing: both become tags under the
same dotted keys, kept with the run but out of the comparison.
"""

import os
from typing import Any

from omegaconf import DictConfig, OmegaConf

from blueprint.credentials import masked

MAX_PARAM_LENGTH = 6000  # MLflow rejects longer param values
# Filled by the sweeper for each trial, naming the run to resume, or letting a run replace an
# earlier one: never a hyperparameter.
PLUMBING_GROUPS = ("sweep", "resume", "force")
OUTPUT_DIR_TAG = "paths.output_dir"  # the run's folder, one of the location tags


def override_key(override: str) -> str:
    """The dotted key a command-line override sets: `+a.b=1`, `~a.b` and `a.b=1` give `a.b`."""
    return override.lstrip("+~").split("=", 1)[0]


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
            flat[prefix] = masked(str(value))[:MAX_PARAM_LENGTH]  # no password in a record

    visit("", OmegaConf.to_container(cfg, resolve=True))
    return flat


def is_location(value: str) -> bool:
    """An absolute or home path or a URI (`sqlite:///...`, `http://...`, `file:...`)."""
    return os.path.isabs(value) or value.startswith(("~", "file:")) or "://" in value


def split_config(cfg: DictConfig) -> tuple[dict[str, str], dict[str, str]]:
    """(params, tags): hyperparameters as params; locations and sweep plumbing as tags."""
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    for key, value in flatten_config(cfg).items():
        plumbing = key.split(".", 1)[0] in PLUMBING_GROUPS
        if plumbing and value in ("None", "False"):  # e.g. a single run: no sweep node
            continue
        (tags if plumbing or is_location(value) else params)[key] = value
    return params, tags
