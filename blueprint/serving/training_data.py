"""The data a trained model was trained on, loaded again: the training run's overrides composed
with conf/train.yaml (so a `data=folder` run reuses its saved split and the digits their seeded
split), or other data that `data...` overrides name, checked against what the model takes."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig

from blueprint.data.facts import TASK_TARGETS, load_data
from blueprint.data.splits import ImageData
from blueprint.errors import ConfigError
from blueprint.serving.reference import TrainedModel
from blueprint.tracking.params import override_key
from blueprint.validation import validate

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def training_data(trained: TrainedModel, data_overrides: list[str], reference: str) -> ImageData:
    """The model's own data, or the data `data_overrides` describe; its classes and image shape
    must be the model's (one line otherwise)."""
    if trained.overrides is None and not data_overrides:
        raise ConfigError(
            f"model={reference} has no training run to take its data from; name the data, "
            "e.g. data=folder data.path=~/photos"
        )
    cfg = training_config(trained.overrides or [], data_overrides)
    data = load_data(cfg.data, list(cfg.allowed_targets))
    wanted = TASK_TARGETS[trained.task]
    if data.targets != wanted:
        raise ConfigError(
            f"the data holds {data.targets} but the model predicts {wanted}; use data of the "
            "kind it was trained on"
        )
    if data.class_names != trained.class_names:
        raise ConfigError(
            f"the data's classes {data.class_names} are not the model's {trained.class_names}; "
            "use data with the classes it was trained on"
        )
    expected = tuple(trained.model.inputs[0].shape[1:])
    if tuple(data.image_shape) != expected:
        raise ConfigError(
            f"the data's images are {list(data.image_shape)} but the model takes {list(expected)}; "
            f"set data.image_size=[{expected[0]},{expected[1]}] (and the color mode to match)"
        )
    return data


def training_config(run_overrides: list[str], data_overrides: list[str]) -> DictConfig:
    """conf/train.yaml composed as the training run was, with `data_overrides` on top (a new
    `data=<option>` replaces the run's data overrides altogether), checked."""
    if any(override_key(o) == "data" for o in data_overrides):
        run_overrides = [o for o in run_overrides if _group(o) != "data"]
    kept = [o for o in run_overrides if _group(o) != "hydra"]
    try:
        with initialize_config_dir(str(CONF_DIR)):
            cfg = compose("train", overrides=[*kept, *data_overrides, "paths.output_dir=null"])
    except HydraException as err:
        raise ConfigError(f"{' '.join(data_overrides)}: {str(err).splitlines()[0]}") from None
    validate(cfg)
    return cfg


def split_data_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the command's own overrides, the `data` ones meant for the training config)."""
    is_data = [_group(a) == "data" for a in argv]
    own = [a for a, data in zip(argv, is_data, strict=True) if not data]
    return own, [a for a, data in zip(argv, is_data, strict=True) if data]


def _group(override: str) -> str:
    return override_key(override).split(".", 1)[0]
