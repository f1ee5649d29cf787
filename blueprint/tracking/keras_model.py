"""The trained model in MLflow's Keras flavour, with signature and input example."""

import contextlib
import io
import os
import re
from types import SimpleNamespace

import keras
import mlflow
import numpy as np
from mlflow.models import Model, infer_signature
from mlflow.models.model import ModelInfo

from blueprint.plumbing.packages import TENSORFLOW_WHEELS, installed_version


def _save_model(path: str, validate_serving_input: bool = True, **kwargs) -> None:
    # mlflow 3.17's keras flavour writes the input example before it creates the model
    # directory (FileNotFoundError); creating it first is the whole fix. `Model.log` reads
    # `validate_serving_input` itself and hands its keywords on, which the flavour refuses.
    os.makedirs(path, exist_ok=True)
    mlflow.keras.save_model(path=path, **kwargs)


_KERAS_FLAVOUR = SimpleNamespace(__name__="mlflow.keras", save_model=_save_model)


def pip_requirements() -> list[str]:
    """Pinned from what is installed, so MLflow skips its slow requirement inference.

    TensorFlow is whichever wheel is installed: tensorflow-cpu by default, tensorflow on GPU.
    """
    pins = []
    for candidates in (("keras",), TENSORFLOW_WHEELS, ("numpy",)):
        installed = [pkg for pkg in candidates if installed_version(pkg)]
        if installed:
            pins.append(f"{installed[0]}=={installed_version(installed[0])}")
    return pins


MODEL_TAG = "tracking.model"  # why a run has no logged model though tracking.log_model=true


def worth_logging(sweep_models: str, beats_best: bool) -> bool:
    """Whether a run logs its model: a single run always; a sweep trial with
    `tracking.sweep_models=improving` only where it beats its study's best so far, so the winner
    always has one. Logging a small model is the largest cost a short trial has left (0.11-0.13
    s of ~1 s); a skipping trial says so in a tag, and its checkpoints/best.keras still serves
    predict and evaluate."""
    if sweep_models == "every" or beats_best:
        return True
    mlflow.set_tag(
        MODEL_TAG,
        "skipped: the trial did not beat its study's best so far (tracking.sweep_models="
        "improving; `every` logs each trial's); its checkpoints/best.keras holds the model",
    )
    return False


def log_keras_model(
    model: keras.Model, input_example: np.ndarray, run_name: str, step: int, check_serving: bool
) -> ModelInfo:
    """Logs `model` at `step`, whose metrics MLflow links to it (its page and the run's Models
    tab show them), named after its run, so each model says whose;
    `mlflow.keras.load_model(info.model_uri)` loads it.

    `check_serving`: MLflow reloads the saved model and predicts the example, warning if that
    fails (0.13 s on a small model: a sweep skips it for each trial, whose model is built by the
    same code as a single run's)."""
    # One eager call gives the output's shape and type: `predict` would trace a function for it.
    output = keras.ops.convert_to_numpy(model(input_example, training=False))
    signature = infer_signature(input_example, output)
    # MLflow's serving-input check predicts with Keras' progress bar on stdout: keep it quiet.
    with contextlib.redirect_stdout(io.StringIO()):
        return Model.log(
            artifact_path=None,
            name=model_name(run_name),
            step=step,
            flavor=_KERAS_FLAVOUR,
            flavor_name="mlflow.keras",
            model=model,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements(),
            validate_serving_input=check_serving,
        )


def model_name(run_name: str) -> str:
    """The run's name, in the characters MLflow allows in a logged model's name."""
    return re.sub(r"[/:.%\"']", "_", run_name)
