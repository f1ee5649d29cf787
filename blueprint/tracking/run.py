"""The MLflow run lifecycle: open the store, start a named run, end it FINISHED or FAILED."""

import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from omegaconf import DictConfig

from blueprint.errors import BlueprintError, TrialPruned, first_line
from blueprint.tracking.params import flatten_config
from blueprint.tracking.provenance import provenance_tags


@contextmanager
def _fail_fast_http() -> Iterator[None]:
    """A dead server should fail the first request in seconds, not after minutes of retries.

    Scoped to opening the store: later requests keep MLflow's retries for transient blips.
    """
    keys = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def open_experiment(tracking: DictConfig) -> str:
    """Points MLflow at the store and returns the experiment id, creating the experiment if new.

    New experiments in a local store keep artifacts under `tracking.artifact_location`, an absolute
    path, so the store works whatever directory Hydra runs the job in.
    """
    mlflow.set_tracking_uri(tracking.uri)
    try:
        with _fail_fast_http():
            experiment = mlflow.get_experiment_by_name(tracking.experiment_name)
            if experiment is not None:
                return experiment.experiment_id
            location = None
            if tracking.artifact_location and is_local_store(tracking.uri):
                location = Path(tracking.artifact_location).resolve().as_uri()
            return mlflow.create_experiment(tracking.experiment_name, artifact_location=location)
    except Exception as err:  # any failure to open the store (SQL, HTTP, filesystem) ends here
        raise BlueprintError(
            f"cannot open the MLflow store {tracking.uri}: {first_line(err)}; "
            "start the server or set tracking.uri (or MLFLOW_TRACKING_URI) to a working store"
        ) from err


def readable_run_name(cfg: DictConfig, run_id: str) -> str:
    """Names a run "<model>-lr<lr>-<MMDD-HHMMSS>-<run id prefix>": sortable, never repeated."""
    model = cfg.model.get("name", "model")
    lr = cfg.optimizer.get("lr")
    lr_part = f"-lr{lr:g}" if isinstance(lr, int | float) else ""
    return f"{model}{lr_part}-{time.strftime('%m%d-%H%M%S')}-{run_id[:6]}"


@contextmanager
def tracked_run(cfg: DictConfig, parent_run_id: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """Starts a run with params and provenance tags; ends it FAILED (error logged) on exceptions."""
    experiment_id = open_experiment(cfg.tracking)
    run = mlflow.start_run(
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        tags=provenance_tags(Path(cfg.paths.root_dir)),
    )
    try:
        name = cfg.tracking.run_name or readable_run_name(cfg, run.info.run_id)
        mlflow.set_tag("mlflow.runName", name)
        mlflow.log_params(flatten_config(cfg))
        yield run
    except TrialPruned:
        mlflow.end_run()  # stopped early on purpose: its epochs are valid; tagged PRUNED
        raise
    except BaseException as err:
        mlflow.set_tag("error", f"{type(err).__name__}: {err}"[:5000])
        mlflow.log_text("".join(traceback.format_exception(err)), "error.txt")
        mlflow.end_run(status="KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        raise
    else:
        mlflow.end_run()
