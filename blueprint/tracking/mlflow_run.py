"""The MLflow run lifecycle: open the store, start a named run, end it FINISHED or FAILED."""

import contextlib
import logging
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Param, Run, RunTag
from omegaconf import DictConfig

from blueprint.credentials import masked, tracking_uri
from blueprint.errors import BlueprintError, ConfigError, TrialPruned, first_line
from blueprint.plumbing.ctrl_c import is_stop
from blueprint.tracking.owner import mark_orphaned_runs, owner_tags
from blueprint.tracking.params import OUTPUT_DIR_TAG, split_config
from blueprint.tracking.provenance import provenance_tags
from blueprint.tracking.store_opening import (
    check_artifact_folder,
    fail_fast_http,
    guarded_open,
    is_local_store,
    open_error_hint,
    server_lost,
)
from blueprint.training.backup_files import resume_hint

log = logging.getLogger(__name__)
REPLACED_BY_TAG = "blueprint.replaced_by"  # on a run whose folder a force=true run took over


def open_experiment(tracking: DictConfig) -> str:
    """Points MLflow at the store and returns the experiment id, creating the experiment if new.

    New experiments in a local store keep artifacts under `tracking.artifact_location`, an absolute
    path, so the store works whatever directory Hydra runs the job in. Runs of this experiment
    whose process has died are marked KILLED on the way.
    """
    name = tracking.experiment_name
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"tracking.experiment_name={name!r} is invalid: it must be a non-empty name; "
            "e.g. experiment_name=digits"
        )
    location = None  # for a new experiment; checked before the store is touched
    if tracking.artifact_location and is_local_store(tracking.uri):
        location = Path(tracking.artifact_location).resolve().as_uri()
        check_artifact_folder(location, "set tracking.artifact_location to a writable folder")
    mlflow.set_tracking_uri(tracking_uri(tracking.uri))  # tracking.uri=http://user:pw@ too
    try:
        with fail_fast_http(), guarded_open(tracking.uri):
            experiment = mlflow.get_experiment_by_name(name)
            if experiment is None:
                experiment_id = mlflow.create_experiment(name, artifact_location=location)
            else:
                experiment_id = experiment.experiment_id
                check_artifact_folder(
                    experiment.artifact_location,
                    f"experiment {name!r} keeps its artifacts there: make it writable, or start "
                    "a new experiment (experiment_name=<new name>)",
                )
        mark_orphaned_runs(mlflow.MlflowClient(), [experiment_id])
    except BlueprintError:
        raise
    except Exception as err:  # any failure to open the store (SQL, HTTP, filesystem) ends here
        raise BlueprintError(open_error_hint(tracking.uri, err)) from err
    return experiment_id


def readable_run_name(cfg: DictConfig, run_id: str) -> str:
    """Names a run "<model>-<HHMMSS>-lr<lr>-<MMDD>-<run id prefix>": never repeated, and what
    tells one model's runs apart (the time it started, then its lr) within the ~20 characters
    MLflow's runs table shows."""
    model = cfg.model.get("name", "model")
    lr = cfg.optimizer.get("lr")
    lr_part = f"-lr{lr:g}" if isinstance(lr, int | float) else ""
    return f"{model}-{time.strftime('%H%M%S')}{lr_part}-{time.strftime('%m%d')}-{run_id[:6]}"


def end_failed(err: BaseException) -> bool:
    """Ends the active run FAILED (KILLED for Ctrl-C), whatever happens while recording why;
    returns whether the store took the status (False: it stopped answering or refused).

    Recording the error can fail too (an unwritable artifact store, a second Ctrl-C); the status
    must be set regardless, or MLflow's exit hook would end the run FINISHED.

    A server that stops answering here gets one try each, not minutes of retries.
    """
    status = "KILLED" if is_stop(err) else "FAILED"
    with fail_fast_http():
        try:
            mlflow.set_tag("error", f"{type(err).__name__}: {err}"[:5000])
            mlflow.log_text("".join(traceback.format_exception(err)), "error.txt")
        except BaseException as logging_err:  # the run's status comes first
            log.warning("could not record the error in MLflow: %s", first_line(logging_err))
        finally:
            try:
                mlflow.end_run(status=status)  # leaves the active run whether or not this fails
            except Exception:
                return False
    return True


def runs_trained_in(client: mlflow.MlflowClient, experiment_id: str, folder: str) -> list[Run]:
    """The experiment's runs whose folder (their `paths.output_dir` tag) is `folder`."""
    return client.search_runs([experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{folder}'")


def mark_replaced(experiment_id: str, folder: str, run_id: str) -> None:
    """Tags the earlier runs trained in `folder` with the run that now owns it (force=true):
    their MLflow records and artifacts stay; their files in the folder are replaced."""
    client = mlflow.MlflowClient()
    for earlier in runs_trained_in(client, experiment_id, folder):
        if earlier.info.run_id != run_id:
            client.set_tag(earlier.info.run_id, REPLACED_BY_TAG, run_id)


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    name: str  # as the store holds it: what the run's logged model is named after


@contextmanager
def tracked_run(
    cfg: DictConfig,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
) -> Iterator[TrackedRun]:
    """Starts a run with params, provenance and owner tags, or, with `cfg.resume` (a run id),
    reopens that run under this process; ends it FAILED on exceptions. `tags` and `params`: more
    of each, written with the run's own (a new run's params only: a resumed one has them).
    `name`: a new run's name where `tracking.run_name` gives none (else `readable_run_name`).

    A new run's name and params go in one write, as each write is a round trip to the store
    (a transaction in SQLite, a request to a tracking server)."""
    experiment_id = open_experiment(cfg.tracking)
    resuming = bool(cfg.get("resume"))
    if resuming:
        run = mlflow.start_run(run_id=cfg.resume)
    else:
        config_params, location_tags = split_config(cfg)
        run = mlflow.start_run(
            experiment_id=experiment_id,
            parent_run_id=parent_run_id,
            nested=parent_run_id is not None,  # a repeat's parent, its trial's run, is active
            tags={
                **provenance_tags(Path(cfg.paths.root_dir)),
                **owner_tags(),
                **location_tags,
                **(tags or {}),
            },
        )
    run_id = run.info.run_id
    try:
        if resuming:  # the process that owns it now
            mlflow.set_tags({**owner_tags(), "resumed": "true", **(tags or {})})
            name = run.info.run_name
        else:
            name = cfg.tracking.run_name or name or readable_run_name(cfg, run_id)
            mlflow.MlflowClient().log_batch(
                run_id,
                params=[Param(k, str(v)) for k, v in {**config_params, **(params or {})}.items()],
                tags=[RunTag("mlflow.runName", name)],
            )
            if cfg.get("force"):
                mark_replaced(experiment_id, location_tags[OUTPUT_DIR_TAG], run_id)
        yield TrackedRun(run_id, name)
    except TrialPruned:
        mlflow.end_run()  # stopped early on purpose: its epochs are valid; tagged PRUNED
        raise
    except BaseException as err:
        if server_lost(cfg.tracking.uri, err):
            with fail_fast_http(), contextlib.suppress(Exception):  # one try: it may be back
                mlflow.end_run(status="FAILED")  # else the next process marks it KILLED
            raise BlueprintError(lost_store_hint(cfg, "it stopped answering")) from err
        if not end_failed(err) and isinstance(err, Exception):  # the store is gone: one line
            raise BlueprintError(lost_store_hint(cfg, first_line(err))) from err
        raise
    else:
        try:
            mlflow.end_run()
        except Exception as err:  # the run's result is not recorded: FINISHED would be untrue
            raise BlueprintError(lost_store_hint(cfg, first_line(err))) from err


def lost_store_hint(cfg: DictConfig, why: str) -> str:
    """One line for a store that stopped answering or taking writes mid-run (a tracking server
    gone, a database file replaced or unwritable): what is kept, and how to go on once it is back.
    The run stays RUNNING there until the next command that opens the store marks it KILLED."""
    uri, folder = masked(cfg.tracking.uri), cfg.paths.output_dir
    if cfg.get("sweep") is not None:
        after = "the sweep counts this trial failed; re-run the sweep command once it is back"
    elif hint := resume_hint(Path(folder)):
        after = f"{hint} once the store is back"
    else:  # fit had ended, and with it the backup
        after = (
            f"training ended but its results (objective, test metrics, model) are not "
            f"recorded, its files stay in {folder}; train again once the store is back"
        )
    store = "tracking server" if uri.startswith(("http://", "https://")) else "store"
    return f"lost the MLflow {store} {uri} mid-run ({why}); {after}"
