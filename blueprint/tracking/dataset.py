"""What a run records about its data: MLflow's dataset input, the inventory and class counts."""

import logging
import warnings
from pathlib import Path

import mlflow
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException

from blueprint.data.splits import SPLITS, ImageData

log = logging.getLogger(__name__)


def log_dataset(data: ImageData) -> None:
    """The dataset input (name, source, digest: the UI's Dataset column), the inventory files
    under `data/`, and images per class and split (`data/class_counts.json`, for classes)."""
    record = data.record
    dataset = MetaDataset(_source(record.source), name=record.name, digest=record.digest)
    try:
        mlflow.log_input(dataset, context="training")
    except MlflowException:  # a parallel run inserted the same dataset just now: it exists now
        mlflow.log_input(dataset, context="training")
    for file in record.files:
        mlflow.log_artifact(str(file), "data")
    counts = data.class_counts()
    if counts:
        per_class = {
            name: {split: counts[split][i] for split in SPLITS}
            for i, name in enumerate(data.class_names)
        }
        mlflow.log_dict(per_class, "data/class_counts.json")
    log.info(
        "data: %s, %s images (train/val/test), %s, digest %s",
        record.name,
        "/".join(str(len(split)) for split in data.splits().values()),
        f"{data.num_classes} classes" if data.class_names else data.targets,
        record.digest,
    )


def _source(source: str) -> DatasetSource:
    """A local path as MLflow's local source; anything else (a loader's name) as code."""
    if Path(source).is_absolute():
        with warnings.catch_warnings():  # MLflow warns that two registered classes both match
            warnings.simplefilter("ignore")
            return resolve_dataset_source(source)
    return CodeDatasetSource({"loader": source})
