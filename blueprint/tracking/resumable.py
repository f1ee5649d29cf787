"""Which run `resume=` names, and its composed config: an interrupted run continues in its own
folder and its own MLflow run, with the config it started with.

`resume=` takes the run's folder, its MLflow run id, or `last` (the experiment's latest run). A
run that FINISHED is refused: it is never overwritten. A command-line override whose value differs
from the run's logged config is refused too; only how it is shown (`trainer.verbose`) and where
the store is (`tracking.uri`) may differ.
"""

from pathlib import Path

from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf, open_dict

from blueprint.errors import ConfigError
from blueprint.tracking.run import open_experiment

# Keys a resumed run may be given other values for: the reference, and what does not change it.
RESUME_KEYS = ("resume", "trainer.verbose", "tracking.uri")
OUTPUT_DIR_TAG = "paths.output_dir"  # the run's folder, a location tag (tracking/params.py)


def resumed_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The original run's composed config, pointing at its folder, `resume` set to its run id."""
    run_id, run_dir = find_run(str(cfg.resume), cfg.tracking)
    original = _saved_config(run_id, cfg.resume)
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
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
        original.resume = run_id
    return original


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


def find_run(reference: str, tracking: DictConfig) -> tuple[str, Path]:
    """(run id, run folder) of the unfinished run `reference` names."""
    experiment_id = open_experiment(tracking)  # also marks runs whose process died KILLED
    client = MlflowClient(tracking.uri)
    if reference == "last":
        runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])
        if not runs:
            raise ConfigError(f"resume=last: experiment {tracking.experiment_name!r} has no runs")
        run = runs[0]
    elif Path(reference).expanduser().is_dir():
        folder = str(Path(reference).expanduser().resolve())
        runs = client.search_runs([experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{folder}'")
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
    if run.info.status == "FINISHED":
        raise ConfigError(
            f"resume={reference}: run {run.info.run_id} FINISHED; a finished run is never "
            "overwritten: start a new run instead"
        )
    folder = run.data.tags.get(OUTPUT_DIR_TAG)
    if not folder or not Path(folder).is_dir():
        raise ConfigError(f"resume={reference}: the run's folder {folder} is gone")
    return run.info.run_id, Path(folder)
