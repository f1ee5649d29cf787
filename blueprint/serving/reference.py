"""A trained model named the way users name it: an MLflow run id, a registered model
(`models:/<name>/<version>`, `models:/<name>@<alias>`), a `.keras` file or a run directory.

Every form resolves to the Keras model, the class names of its training data (never those of the
images it is later given) and, where there is one, the training run, so that what is done with
the model can be linked to it. `.keras` files load in Keras safe mode: a model file cannot run
code of its own unless the user opts out (`safe_mode=false`).
"""

import json
import logging
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import yaml
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

import blueprint.training.metrics  # noqa: F401  (registers MeanDice: segmentation models load with it)
from blueprint.errors import ConfigError
from blueprint.models.heads import task_of
from blueprint.plumbing.collector import resume_collector
from blueprint.serving.read_only_store import existing_store
from blueprint.tracking.outcome import CLASS_NAMES_FILE
from blueprint.tracking.params import OUTPUT_DIR_TAG

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "best.keras"  # in a run directory (conf/callbacks/default.yaml)
MODEL_FILE = Path("data") / "model.keras"  # inside a model logged in MLflow's Keras flavour
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


@dataclass(frozen=True)
class TrainedModel:
    model: keras.Model
    class_names: list[str]
    run_id: str | None  # the training run, when the model came from one
    source: str  # what was loaded: a file path or an MLflow model URI
    overrides: list[str] | None  # the training run's command-line overrides, where known

    @property
    def task(self) -> str:
        """classification, regression or segmentation: what the model's output gives."""
        return task_of(self.model)


def load_trained(
    reference: str, tracking_uri: str, safe_mode: bool = True, key: str = "model"
) -> TrainedModel:
    """The model `reference` names; ConfigError (one line, `<key>=<reference>: ...`) when it
    names nothing. `key`: the config key that holds the reference. The MLflow store is opened
    only for run ids and registered models."""
    reference = str(reference).strip()
    match, is_run_id = REGISTERED.match(reference), RUN_ID.match(reference) is not None
    client = existing_store(tracking_uri) if match or is_run_id else None
    try:
        if match:
            trained = _registered(reference, match, client, safe_mode)
        elif is_run_id:
            trained = _from_run(reference, client, safe_mode)
        elif reference.startswith("models:/"):
            raise ConfigError(
                "not a registered model URI: use models:/<name>/<version> or models:/<name>@<alias>"
            )
        else:
            trained = _from_path(Path(reference).expanduser(), safe_mode)
    except ConfigError as err:  # the helpers say what is wrong; the key and value are said here
        raise ConfigError(f"{key}={reference}: {err}") from None
    resume_collector()  # a command's start-up ends with its model loaded (plumbing/collector.py)
    return trained


def _registered(
    reference: str, match: re.Match, client: MlflowClient, safe_mode: bool
) -> TrainedModel:
    name, version, alias = match["name"], match["version"], match["alias"]
    try:
        found = (
            client.get_model_version(name, version)
            if version
            else client.get_model_version_by_alias(name, alias)
        )
    except MlflowException:
        listed = [m.name for m in client.search_registered_models(max_results=20)]
        raise ConfigError(
            f"no such registered model version in {client.tracking_uri} "
            f"(registered: {', '.join(listed) or 'none'}); register one with "
            "tracking.register_model=<name>"
        ) from None
    model = _load_logged(found.source, client, safe_mode)
    return _of_run(model, client.get_run(found.run_id), reference)


def _from_run(run_id: str, client: MlflowClient, safe_mode: bool) -> TrainedModel:
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ConfigError(
            f"no run with that id in {client.tracking_uri}; copy a run id from "
            "`make runs` or `make ui`, or set tracking_uri to the store that holds it"
        ) from None
    logged = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'", max_results=1
    )
    if logged:
        uri = f"models:/{logged[0].model_id}"
        return _of_run(_load_logged(uri, client, safe_mode), run, uri)
    output_dir = run.data.tags.get(OUTPUT_DIR_TAG)
    checkpoint = Path(output_dir) / CHECKPOINT if output_dir else None
    if checkpoint is None or not checkpoint.is_file():
        raise ConfigError(
            "the run logged no model (tracking.log_model=false, or a sweep trial that did not "
            "beat its study's best: tracking.sweep_models=improving) and its "
            f"checkpoint {checkpoint} is gone; give a .keras file instead"
        )
    return _of_run(_load_file(checkpoint, safe_mode), run, str(checkpoint))


def _from_path(path: Path, safe_mode: bool) -> TrainedModel:
    file = path / CHECKPOINT if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(
            "no such file or run directory; give an MLflow run id, "
            "models:/<name>/<version>, a .keras file or a run directory holding checkpoints/"
        )
    model = _load_file(file, safe_mode)
    beside = (file.parent, file.parent.parent)  # a run directory, or its checkpoints/ folder
    run_dir = next((d for d in beside if (d / CLASS_NAMES_FILE).is_file()), None)
    if run_dir is None:
        log.warning("no %s beside %s: classes are named by index", CLASS_NAMES_FILE, file)
        return TrainedModel(model, _index_names(model), None, str(file), None)
    names = _checked(json.loads((run_dir / CLASS_NAMES_FILE).read_text()), model)
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    overrides = _overrides(overrides_file.read_text()) if overrides_file.is_file() else None
    return TrainedModel(model, names, None, str(file), overrides)


def _load_logged(uri: str, client: MlflowClient, safe_mode: bool) -> keras.Model:
    """The `.keras` file inside a model logged in MLflow's Keras flavour, loaded by us so that
    safe mode applies."""
    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=tmp, tracking_uri=client.tracking_uri
            )
        except MlflowException as err:
            raise ConfigError(f"its files cannot be read ({err.message})") from None
        return _load_file(Path(local) / MODEL_FILE, safe_mode)


def _load_file(file: Path, safe_mode: bool) -> keras.Model:
    if file.suffix != ".keras" or not zipfile.is_zipfile(file):
        raise ConfigError(f"{file} is not a Keras model (.keras) file")
    try:
        return keras.saving.load_model(file, safe_mode=safe_mode)
    except ValueError as err:
        if "safe_mode" in str(err):
            raise ConfigError(
                f"{file} holds code (a Lambda layer) that safe mode will not "
                "run; pass safe_mode=false only if you trust the file"
            ) from None
        raise ConfigError(f"{file} is not a Keras model ({err})") from None
    except Exception as err:  # a zip that is not a model, a truncated file
        raise ConfigError(f"{file} is not a Keras model ({type(err).__name__})") from None


def _of_run(model: keras.Model, run: Run, source: str) -> TrainedModel:
    """The model with its training run's class names and overrides, read from the run's
    artifacts (`class_names.json`, `hydra/overrides.yaml`)."""
    import mlflow.artifacts

    root = run.info.artifact_uri
    try:
        listed = mlflow.artifacts.load_dict(f"{root}/{CLASS_NAMES_FILE}")
    except Exception:  # a run logged before class names were recorded
        log.warning(
            "run %s has no %s: classes are named by index", run.info.run_id, CLASS_NAMES_FILE
        )
        names = _index_names(model)
    else:
        names = _checked(listed, model)
    try:
        overrides = _overrides(mlflow.artifacts.load_text(f"{root}/hydra/overrides.yaml"))
    except Exception:  # logged by something other than blueprint.train
        overrides = None
    return TrainedModel(model, names, run.info.run_id, source, overrides)


def _overrides(text: str) -> list[str]:
    return [str(o) for o in yaml.safe_load(text) or []]


def _index_names(model: keras.Model) -> list[str]:
    return [str(i) for i in range(_num_outputs(model))]


def _num_outputs(model: keras.Model) -> int:
    """The classes the model tells apart (per image or per pixel); none for values."""
    if task_of(model) == "regression":
        return 0
    units = model.outputs[0].shape[-1]
    return 2 if units == 1 else int(units)  # a single sigmoid unit: two classes


def _checked(names: list, model: keras.Model) -> list[str]:
    if len(names) != _num_outputs(model):
        raise ConfigError(
            f"{CLASS_NAMES_FILE} names {len(names)} classes but the model predicts "
            f"{_num_outputs(model)}: it belongs to another model"
        )
    return [str(n) for n in names]
