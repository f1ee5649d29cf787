"""What a finished run adds to its MLflow record: objective, size, files and the model."""

from pathlib import Path

import keras
import mlflow
import numpy as np

from blueprint.tracking.keras_model import log_keras_model

RUN_FILES = ("epochs.csv", "train.log")  # written by the CSV logger and Hydra, when present


def log_objective(metric: str, epoch: int, value: float) -> None:
    mlflow.log_metrics({f"best_{metric}": value, "best_epoch": epoch})


def log_run_files(output_dir: Path) -> None:
    """The composed config and overrides (Hydra's .hydra/ folder), the epoch CSV and the log."""
    hydra_dir = output_dir / ".hydra"
    if hydra_dir.is_dir():
        mlflow.log_artifacts(str(hydra_dir), "hydra")
    for name in RUN_FILES:
        if (output_dir / name).is_file():
            mlflow.log_artifact(str(output_dir / name))


def log_model_summary(model: keras.Model, example: np.ndarray, log_model: bool) -> None:
    mlflow.log_param("model.param_count", model.count_params())
    if log_model:
        log_keras_model(model, example)
