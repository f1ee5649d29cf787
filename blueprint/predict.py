"""Predict classes, values or masks of new images with a trained model: `python -m
blueprint.predict model=<run id | models:/name/version | models:/name@alias | file.keras | run dir>
input=<image | folder | CSV> output=<predictions.csv>` (conf/predict.yaml documents every key)."""

import logging
import shutil
import time
from pathlib import Path

from omegaconf import DictConfig

from blueprint.errors import ConfigError
from blueprint.schema import PredictRun
from blueprint.serving.command import run_command

log = logging.getLogger(__name__)


def predict(cfg: DictConfig) -> Path:
    """Writes the predictions CSV and returns its path; logs it to a run linked to the training
    run when the model came from one. `cfg`: conf/commands/predict.yaml, composed and checked."""
    output = Path(cfg.output).expanduser().resolve()
    if output.exists() and not cfg.force:
        raise ConfigError(f"output={output} exists; choose another file or pass force=true")
    if not output.parent.is_dir():
        raise ConfigError(f"output={output}: the folder {output.parent} does not exist")
    from blueprint.serving.inputs import image_paths

    paths = image_paths(Path(cfg.input).expanduser())

    import mlflow

    from blueprint.serving.linked_run import linked_run
    from blueprint.serving.predictions import masks_folder, predict_files, write_csv
    from blueprint.serving.read_only_store import existing_store
    from blueprint.serving.reference import load_trained

    trained = load_trained(cfg.model, cfg.tracking_uri, cfg.safe_mode)
    masks = masks_folder(output) if trained.task == "segmentation" else None
    if masks is not None and masks.exists():
        if not cfg.force:
            raise ConfigError(f"{masks} exists; choose another output file or pass force=true")
        shutil.rmtree(masks)
    partial = output.with_name(output.name + ".partial")  # never half a CSV under the real name
    start = time.perf_counter()
    outputs = predict_files(trained.model, paths, cfg.batch_size)
    counts = write_csv(outputs, trained.task, trained.class_names, partial, masks)
    seconds = time.perf_counter() - start
    partial.replace(output)
    log.info(
        "%d images predicted, %d unreadable, %.1f images/s: %s",
        counts["predicted"],
        counts["failed"],
        len(paths) / seconds,
        output,
    )
    if trained.run_id is not None and cfg.log_to_mlflow:
        with linked_run(existing_store(cfg.tracking_uri), trained.run_id, "predict", cfg.model):
            mlflow.log_params({"input": str(Path(cfg.input).expanduser().resolve())})
            mlflow.log_metrics({**counts, "images_per_second": len(paths) / seconds})
            mlflow.log_artifact(str(output))
            if masks is not None:
                mlflow.log_artifacts(str(masks), masks.name)
    return output


if __name__ == "__main__":
    run_command("predict", PredictRun, predict)
