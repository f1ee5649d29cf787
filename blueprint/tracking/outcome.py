"""What a finished run adds to its MLflow record: objective, size, files and the model."""

import re
from pathlib import Path

import keras
import mlflow
import numpy as np

from blueprint.tracking.keras_model import log_keras_model

RUN_FILES = ("epochs.csv", "train.log")  # written by the CSV logger and Hydra, when present


def log_objective(metric: str, epoch: int, value: float) -> None:
    """At step = the best epoch, so the summary lines up with that epoch's curves."""
    mlflow.log_metrics({f"best_{metric}": value, "best_epoch": epoch}, step=epoch)


def weights_epoch(history: keras.callbacks.History, callbacks: list) -> int:
    """The epoch whose weights the model holds after fit: the best one where EarlyStopping
    restored it (Keras does so at the end of training), otherwise the last one."""
    for callback in callbacks:
        if (
            isinstance(callback, keras.callbacks.EarlyStopping)
            and callback.restore_best_weights
            and callback.best_weights is not None
        ):
            return int(callback.best_epoch)
    return int(history.epoch[-1])


def log_run_files(output_dir: Path) -> None:
    """The composed config and overrides (Hydra's .hydra/ folder), the epoch CSV and the log."""
    hydra_dir = output_dir / ".hydra"
    if hydra_dir.is_dir():
        mlflow.log_artifacts(str(hydra_dir), "hydra")
    for name in RUN_FILES:
        if (output_dir / name).is_file():
            mlflow.log_artifact(str(output_dir / name))


def model_name(run_name: str) -> str:
    """The run's name, in the characters MLflow allows in a logged model's name."""
    return re.sub(r"[/:.%\"']", "_", run_name)


def log_model_summary(model: keras.Model, example: np.ndarray, log_model: bool, step: int) -> None:
    """The parameter count, and the model logged at `step` (the epoch of its weights), so its
    page in MLflow shows that epoch's metrics; named after the run, so each model says whose."""
    mlflow.log_param("model.param_count", model.count_params())
    if log_model:
        run = mlflow.active_run()
        run_name = mlflow.MlflowClient().get_run(run.info.run_id).info.run_name
        log_keras_model(model, example, name=model_name(run_name), step=step)
