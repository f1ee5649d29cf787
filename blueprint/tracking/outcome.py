"""What a run adds to its MLflow record besides its epochs: config, objective, files, registry."""

import json
from pathlib import Path

import keras
import mlflow
from mlflow.models.model import ModelInfo

from blueprint.credentials import masked

CLASS_NAMES_FILE = "class_names.json"  # the model's output order; predict and evaluate read it
RUN_FILES = (CLASS_NAMES_FILE, "epochs.csv", "train.log")  # in the run directory, when present


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


def write_class_names(output_dir: Path, class_names: list[str]) -> None:
    """The class of each model output, beside the checkpoints, before training: a model used
    later (predict, evaluate) names its classes as its training data did."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / CLASS_NAMES_FILE).write_text(json.dumps(class_names) + "\n")


def log_run_config(output_dir: Path) -> None:
    """The composed config and overrides (Hydra's .hydra/ folder), as the run starts: what
    `resume=` and `evaluate` read back, even from a run that never reached its end. A URL's
    password typed into an override is masked in the logged copy."""
    hydra_dir = output_dir / ".hydra"
    for file in sorted(hydra_dir.glob("*.yaml")):
        mlflow.log_text(masked(file.read_text()), f"hydra/{file.name}")


def log_run_files(output_dir: Path) -> None:
    """Class names, the epoch CSV and the log, as the run ends."""
    for name in RUN_FILES:
        if (output_dir / name).is_file():
            mlflow.log_text(masked((output_dir / name).read_text()), name)


def register_model(info: ModelInfo, name: str, objective: str, value: float) -> str:
    """A new version of registered model `name` (created on first use), tagged with the run's
    objective value; returns the version. Promote one with an alias (docs: serving.md,
    "Registry")."""
    version = mlflow.register_model(info.model_uri, name, tags={objective: f"{value:.6g}"})
    mlflow.set_tag("registered_model", f"models:/{name}/{version.version}")
    return version.version
