"""The command line of predict, evaluate and export: `key=value` overrides of
conf/commands/<name>.yaml in Hydra's grammar, composed with Hydra's compose API and checked by the
command's schema.

Not `@hydra.main`: these commands take `model=` as a value, which in conf/ is a config group, and
write nothing but what they are asked for (no run folder, no log file).
"""

import logging
import os
import sys
from collections.abc import Callable

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel

from blueprint.errors import ConfigError, compose_failure, exit_on_error
from blueprint.plumbing.collector import collector_paused_for_command
from blueprint.plumbing.home_paths import home_expanded
from blueprint.resolvers import PROJECT_ROOT
from blueprint.validation import check

COMMANDS_DIR = PROJECT_ROOT / "conf" / "commands"
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # as Hydra logs training


def compose_command(name: str, overrides: list[str], schema: type[BaseModel]) -> DictConfig:
    """conf/commands/<name>.yaml with `overrides`, every key resolved and checked."""
    try:
        with initialize_config_dir(str(COMMANDS_DIR)):
            cfg = compose(name, overrides=overrides)
    except HydraException as err:
        keys = ", ".join(OmegaConf.load(COMMANDS_DIR / f"{name}.yaml"))
        raise ConfigError(f"{compose_failure(err)}; the keys are: {keys}") from None
    values = {}
    for key in cfg:
        if OmegaConf.is_missing(cfg, key):
            raise ConfigError(f"{key} has no value (???); set it, e.g. {key}=<value>")
        values[key] = OmegaConf.select(cfg, str(key))
    check(schema, values, prefix="")
    return cfg


def run_command(
    name: str,
    schema: type[BaseModel],
    work: Callable[[DictConfig], object],
    argv: list[str] | None = None,
) -> None:
    """`python -m blueprint.<name> key=value ...` (`argv`, by default the command line): one
    line and exit status 2 on bad input."""
    import blueprint.resolvers  # noqa: F401  (registers ${project_root:})

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ chatter
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    )
    overrides = home_expanded(sys.argv[1:] if argv is None else argv)
    with collector_paused_for_command():  # until the model is loaded (`load_trained`)
        exit_on_error(lambda: work(compose_command(name, overrides, schema)))
