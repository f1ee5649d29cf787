"""The trained model in MLflow's Keras flavour, with signature and input example."""

import os
from importlib.metadata import version
from types import SimpleNamespace

import keras
import mlflow
import numpy as np
from mlflow.models import Model, infer_signature
from mlflow.models.model import ModelInfo


def _save_model(path: str, **kwargs) -> None:
    # mlflow 3.17's keras flavour writes the input example before it creates the model
    # directory (FileNotFoundError); creating it first is the whole fix.
    os.makedirs(path, exist_ok=True)
    mlflow.keras.save_model(path=path, **kwargs)


_KERAS_FLAVOUR = SimpleNamespace(__name__="mlflow.keras", save_model=_save_model)


def pip_requirements() -> list[str]:
    """Pinned from what is installed, so MLflow skips its slow requirement inference."""
    return [f"{pkg}=={version(pkg)}" for pkg in ("keras", "tensorflow-cpu", "numpy")]


def log_keras_model(model: keras.Model, input_example: np.ndarray) -> ModelInfo:
    """Logs `model` under the name "model"; `mlflow.keras.load_model(info.model_uri)` loads it."""
    signature = infer_signature(input_example, model.predict(input_example, verbose=0))
    was_interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()  # MLflow's serving check prints a progress bar
    try:
        return Model.log(
            artifact_path=None,
            name="model",
            flavor=_KERAS_FLAVOUR,
            flavor_name="mlflow.keras",
            model=model,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements(),
        )
    finally:
        if was_interactive:
            keras.config.enable_interactive_logging()
