"""Score a trained model on a test split: `python -m blueprint.evaluate model=<run id |
models:/name/version | models:/name@alias | file.keras | run dir> [data=<option> data.<key>=...]`.

The data is the training run's own (its overrides composed again with conf/train.yaml, so a
`data=folder` run reuses its saved split), or what `data...` overrides on this command line say.
Results go to a new run under the training run (see `blueprint.serving.linked_run`), never into
the finished training run itself; a model without a run prints them only.
"""

import logging
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig

from blueprint.errors import ConfigError
from blueprint.schema import EvaluateRun
from blueprint.serving.command import run_command
from blueprint.validation import validate

log = logging.getLogger(__name__)
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def training_config(run_overrides: list[str], data_overrides: list[str]) -> DictConfig:
    """conf/train.yaml composed as the training run was, with `data_overrides` on top (a new
    `data=<option>` replaces the run's data overrides altogether), checked."""
    if any(_key(o) == "data" for o in data_overrides):
        run_overrides = [o for o in run_overrides if _group(o) != "data"]
    kept = [o for o in run_overrides if _group(o) != "hydra"]
    try:
        with initialize_config_dir(str(CONF_DIR)):
            cfg = compose("train", overrides=[*kept, *data_overrides, "paths.output_dir=null"])
    except HydraException as err:
        raise ConfigError(f"{' '.join(data_overrides)}: {str(err).splitlines()[0]}") from None
    validate(cfg)
    return cfg


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _group(override: str) -> str:
    return _key(override).split(".", 1)[0]


def evaluate(cfg: DictConfig, data_overrides: list[str]) -> dict[str, float]:
    """Test metrics of the model `cfg.model` names; logged to a linked run where it has a run."""
    from blueprint.serving.reference import load_trained

    trained = load_trained(cfg.model, cfg.tracking_uri, cfg.safe_mode)
    if trained.overrides is None and not data_overrides:
        raise ConfigError(
            f"model={cfg.model} has no training run to take its data from; name the data, "
            "e.g. data=folder data.path=~/photos"
        )
    train_cfg = training_config(trained.overrides or [], data_overrides)

    import mlflow
    import numpy as np

    from blueprint.data.facts import load_data
    from blueprint.data.pipeline import images_at, to_dataset
    from blueprint.diagnostics.evaluation import class_probabilities, log_evaluation
    from blueprint.diagnostics.evaluation import evaluate as evaluate_split
    from blueprint.serving.linked_run import linked_run
    from blueprint.serving.store import existing_store

    data = load_data(train_cfg.data, list(train_cfg.allowed_targets))
    if data.class_names != trained.class_names:
        raise ConfigError(
            f"the data's classes {data.class_names} are not the model's {trained.class_names}; "
            "evaluate on data with the classes it was trained on"
        )
    expected = tuple(trained.model.inputs[0].shape[1:])
    if tuple(data.image_shape) != expected:
        raise ConfigError(
            f"the data's images are {list(data.image_shape)} but the model takes {list(expected)}; "
            f"set data.image_size=[{expected[0]},{expected[1]}] (and the color mode to match)"
        )
    test = to_dataset(data.test, cfg.batch_size)
    outputs = trained.model.predict(test, verbose=0)
    probabilities = class_probabilities(outputs)
    labels = data.test.labels
    metrics = {"test_accuracy": float(np.mean(probabilities.argmax(axis=1) == labels))}
    if getattr(trained.model, "compiled", False):  # a model saved with its loss
        scores = trained.model.evaluate(test, verbose=0, return_dict=True)
        metrics["test_loss"] = float(scores["loss"])
    result = evaluate_split(
        probabilities,
        labels,
        lambda indices: images_at(data.test, indices),
        data.class_names,
        epoch=0,
        worst=cfg.worst_images,
        split="test",
    )
    rows = result.per_class.values()
    for stat in ("precision", "recall", "f1"):
        metrics[f"test_macro_{stat}"] = float(np.mean([row[stat] for row in rows]))
    log.info(
        "%s on %d test images of %s: %s",
        cfg.model,
        len(labels),
        data.record.name,
        ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
    )
    if trained.run_id is not None and cfg.log_to_mlflow:
        client = existing_store(cfg.tracking_uri)
        with linked_run(client, trained.run_id, "evaluate", cfg.model) as run:
            mlflow.log_params({"data": data.record.name, "data.digest": data.record.digest})
            mlflow.log_metrics({k: v for k, v in metrics.items() if "macro" not in k})
            with tempfile.TemporaryDirectory() as tmp:
                log_evaluation(client, run.info.run_id, result, cfg.dpi, Path(tmp), "evaluation")
                mlflow.log_artifacts(tmp, "evaluation")
        log.info("logged to run %s, under the training run %s", run.info.run_id, trained.run_id)
    return metrics


def split_data_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(this command's own overrides, the `data` ones meant for the training config)."""
    is_data = [_group(a) == "data" for a in argv]
    own = [a for a, data in zip(argv, is_data, strict=True) if not data]
    return own, [a for a, data in zip(argv, is_data, strict=True) if data]


if __name__ == "__main__":
    own, data_overrides = split_data_overrides(sys.argv[1:])
    run_command("evaluate", EvaluateRun, lambda cfg: evaluate(cfg, data_overrides), own)
