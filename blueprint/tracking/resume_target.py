"""Which run `resume=` names, and its composed config: an interrupted run continues in its own
folder and its own MLflow run, with the config it started with.

`resume=` takes the run's folder, its MLflow run id, or `last` (the experiment's latest run). A
run that FINISHED is refused: it is never overwritten, unless `force=true`, which trains its config
again from the start, in its folder, as a new MLflow run. A command-line override whose value
differs from the run's logged config is refused too; only how it is shown (`trainer.verbose`),
where the store is (`tracking.uri`) and `force` may differ.
"""

from pathlib import Path

from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf, open_dict

from blueprint.errors import ConfigError
from blueprint.tracking.mlflow_run import open_experiment, runs_trained_in
from blueprint.tracking.params import OUTPUT_DIR_TAG, override_key

# Keys a resumed run may be given other values for: the reference, and what does not change it.
RESUME_KEYS = ("resume", "force", "trainer.verbose", "tracking.uri")


def resumed_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The original run's composed config, pointing at its folder, `resume` set to its run id;
    for a FINISHED run with `force`, `resume` unset: it is trained again as a new run."""
    run_id, run_dir, finished = find_run(str(cfg.resume), cfg.tracking, bool(cfg.get("force")))
    original = _saved_config(run_id, cfg.resume)
    for override in overrides:
        key = override_key(override)
        if key.startswith("hydra.") or key in RESUME_KEYS:
            continue
        if OmegaConf.select(original, key) != OmegaConf.select(cfg, key):
            raise ConfigError(
                f"{override}: resume={cfg.resume} continues the run with its own config; "
                "drop this override, or start a new run to change it"
            )
    with open_dict(original):
        original.paths.output_dir = str(run_dir)
        original.tracking.uri = cfg.tracking.uri
        original.trainer.verbose = cfg.trainer.verbose
        original.force = bool(cfg.get("force"))
        original.resume = None if finished else run_id
        if not finished:
            append_csv_logs(original)
    return original


def append_csv_logs(cfg: DictConfig) -> None:
    """Keras' CSV logger rewrites its file when training starts; a resumed run appends to it, so
    the rows of the epochs before the cut stay."""
    for entry in (cfg.get("callbacks") or {}).values():
        if str(entry.get("_target_", "")).endswith("CSVLogger"):
            with open_dict(entry):
                entry.append = True


def _saved_config(run_id: str, reference: str) -> DictConfig:
    """The config the run logged as it started (`hydra/config.yaml`)."""
    import mlflow.artifacts

    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/hydra/config.yaml")
    except Exception:
        raise ConfigError(
            f"resume={reference}: run {run_id} logged no hydra/config.yaml, so its config is "
            "unknown; start a new run"
        ) from None
    return OmegaConf.create(text)


def find_run(reference: str, tracking: DictConfig, force: bool) -> tuple[str, Path, bool]:
    """(run id, run folder, whether it FINISHED) of the run `reference` names: an unfinished
    run, or with `force` any."""
    experiment_id = open_experiment(tracking)  # also marks runs whose process died KILLED
    client = MlflowClient(tracking.uri)
    if reference == "last":
        runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])
        if not runs:
            raise ConfigError(f"resume=last: experiment {tracking.experiment_name!r} has no runs")
        run = runs[0]
    elif Path(reference).expanduser().is_dir():
        folder = str(Path(reference).expanduser().resolve())
        runs = runs_trained_in(client, experiment_id, folder)
        if not runs:
            raise ConfigError(
                f"resume={reference}: no run of experiment {tracking.experiment_name!r} was "
                "trained in that folder (experiment_name=<its experiment>?)"
            )
        run = runs[0]
    else:
        try:
            run = client.get_run(reference)
        except Exception:
            raise ConfigError(
                f"resume={reference}: neither a run folder nor a run id in {tracking.uri}"
            ) from None
    finished = run.info.status == "FINISHED"
    if finished and not force:
        raise ConfigError(
            f"resume={reference}: run {run.info.run_id} FINISHED; a finished run is never "
            "overwritten: start a new run, or force=true trains it again in its folder"
        )
    folder = run.data.tags.get(OUTPUT_DIR_TAG)
    if not folder or not Path(folder).is_dir():
        raise ConfigError(f"resume={reference}: the run's folder {folder} is gone")
    return run.info.run_id, Path(folder), finished
