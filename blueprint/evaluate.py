"""Score a trained model on a test split: `python -m blueprint.evaluate model=<run id |
models:/name/version | models:/name@alias | file.keras | run dir> [data=<option> data.<key>=...]`.

The data is the training run's own, or what `data...` overrides on this command line say
(`blueprint.serving.training_data`).
Results go to a new run under the training run (see `blueprint.serving.linked_run`), never into
the finished training run itself; a model without a run prints them only.
"""

import logging
import sys
import tempfile
from pathlib import Path

from omegaconf import DictConfig

from blueprint.schema import EvaluateRun
from blueprint.serving.command import run_command
from blueprint.serving.training_data import split_data_overrides

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig, data_overrides: list[str]) -> dict[str, float]:
    """Test metrics of the model `cfg.model` names; logged to a linked run where it has a run."""
    from blueprint.serving.reference import load_trained
    from blueprint.serving.training_data import training_data

    trained = load_trained(cfg.model, cfg.tracking_uri, cfg.safe_mode)
    data = training_data(trained, data_overrides, cfg.model)

    import mlflow
    import numpy as np

    from blueprint.data.pipeline import images_at, to_dataset
    from blueprint.diagnostics.split_evaluation import evaluate_split, predict_split
    from blueprint.models.heads import class_probabilities
    from blueprint.serving.linked_run import linked_run
    from blueprint.serving.read_only_store import existing_store

    outputs, targets = predict_split(trained.model, data.test, cfg.batch_size)
    scores = {}
    if data.targets == "classes":
        predicted = class_probabilities(outputs).argmax(axis=1)
        scores["test_accuracy"] = float(np.mean(predicted == targets))
    if getattr(trained.model, "compiled", False):  # a model saved with its loss
        test = to_dataset(data.test, cfg.batch_size)
        scores["test_loss"] = float(
            trained.model.evaluate(test, verbose=0, return_dict=True)["loss"]
        )
    result = evaluate_split(
        data.targets,
        outputs,
        targets,
        lambda indices: images_at(data.test, indices),
        data.class_names,
        epoch=0,
        worst=cfg.worst_images,
        split="test",
    )
    metrics = {**scores, **result.metrics()}
    log.info(
        "%s on %d test images of %s: %s",
        cfg.model,
        len(data.test),
        data.record.name,
        ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
    )
    if trained.run_id is not None and cfg.log_to_mlflow:
        client = existing_store(cfg.tracking_uri)
        with linked_run(client, trained.run_id, "evaluate", cfg.model) as run:
            mlflow.log_params({"data": data.record.name, "data.digest": data.record.digest})
            mlflow.log_metrics(scores)  # the result logs its own metrics
            with tempfile.TemporaryDirectory() as tmp:
                result.log(client, run.info.run_id, Path(tmp), "evaluation")
                mlflow.log_artifacts(tmp, "evaluation")
        log.info("logged to run %s, under the training run %s", run.info.run_id, trained.run_id)
    return metrics


if __name__ == "__main__":
    own, data_overrides = split_data_overrides(sys.argv[1:])
    run_command("evaluate", EvaluateRun, lambda cfg: evaluate(cfg, data_overrides), own)
