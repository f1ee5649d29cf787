"""Train one model from the composed config: `python -m blueprint.train [overrides]`.

Compose (Hydra) -> validate -> data -> model -> fit (tracked in MLflow) -> return the objective.
TensorFlow is imported only once a run really trains, so `--cfg job` and `--help` stay instant.
"""

import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import blueprint.resolvers  # noqa: F401  (registers ${project_root:} and ${keras_mode:})
from blueprint.components import build
from blueprint.data.facts import check_task, load_data
from blueprint.errors import BlueprintError, exit_on_error
from blueprint.plumbing.collector import collector_paused_for_command
from blueprint.plumbing.ctrl_c import catch_ctrl_c, is_stop
from blueprint.plumbing.home_paths import home_expanded
from blueprint.sweeps.trial import SweepTrial
from blueprint.training.backup_files import resume_hint
from blueprint.training.distribution import Distribution, check_distribution
from blueprint.validation import validate

log = logging.getLogger(__name__)
HYDRA_CALLBACKS = [  # what conf/hydra/default.yaml names
    "blueprint.run_folder_guard.KeepEarlierRuns",
    "blueprint.plumbing.collector.ResumeCollectorInSweeps",
]


def train(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """Trains, evaluates and tracks one run; returns the best epoch's objective value (a sweep
    trial with `hydra.sweeper.repeats` > 1: one run per seed, their values reduced).
    `overrides`: the command line's, which `resume=` checks."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # resume reads one
    validate(cfg)
    in_sweep = cfg.get("sweep") is not None
    check_distribution(cfg.trainer.distribution, in_sweep, resuming=bool(cfg.resume))
    if cfg.resume and not in_sweep:
        from blueprint.tracking.resume_target import resumed_config

        cfg = resumed_config(cfg, overrides or [])
        validate(cfg)
    trial = SweepTrial(cfg)  # the job's side of its sweep trial: a no-op in single runs
    trial.prepare()  # its GPUs and CPU share, before TensorFlow starts
    if trial.repeats > 1:  # one run per seed, nested under the trial's run
        from blueprint.sweeps.repeats import train_repeats

        return train_repeats(cfg, trial, train_once)
    try:
        return train_once(cfg, trial)
    except (KeyboardInterrupt, Exception) as stop:  # its run ended KILLED; `exit_on_error` says
        if is_stop(stop) and not trial.active and (hint := resume_hint(Path(cfg.paths.output_dir))):
            stop.add_note(hint)
        raise


def train_once(cfg: DictConfig, trial: SweepTrial) -> float:
    """Trains with `cfg.trainer.seed`: a single run, a sweep trial, or one repeat of a trial."""
    allowed = list(cfg.allowed_targets)
    data = load_data(cfg.data, allowed)  # fills in data.num_classes etc. for the model and loss
    check_task(cfg.task, data, cfg.trainer.class_weight)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    from blueprint.data.pipeline import to_dataset
    from blueprint.models.build import mask_augment
    from blueprint.tracking.dataset import log_dataset
    from blueprint.tracking.mlflow_run import tracked_run
    from blueprint.tracking.outcome import log_run_config, log_run_files, write_class_names
    from blueprint.training.backup import usable_backup
    from blueprint.training.callbacks import build_callbacks
    from blueprint.training.fit import best_epoch, fit
    from blueprint.training.reproducibility import seed_everything

    distribution = Distribution(cfg.trainer.distribution)
    batch = distribution.global_batch(cfg.trainer.batch_size)
    seed_everything(cfg.trainer.seed, cfg.trainer.deterministic)
    output_dir = Path(cfg.paths.output_dir)
    epochs_done = usable_backup(output_dir)  # a resumed run's epochs, restored as fit starts
    model = compiled_model(cfg, data, distribution, trial, bool(epochs_done))
    augment_with_masks = mask_augment(cfg, allowed)
    if not distribution.is_chief:  # another worker of a cluster: trains in step, the chief logs
        training_only = build_callbacks(cfg, allowed)
        history = fit(model, data, cfg.trainer, training_only, batch, 0, augment_with_masks)
        model.evaluate(to_dataset(data.test, batch), verbose=0)  # the chief's test, in step
        return best_epoch(history, cfg.objective)[1]
    earlier, callbacks = run_callbacks(cfg, data, trial, output_dir)
    write_class_names(output_dir, data.class_names)
    params = run_params(model, distribution, batch)
    with tracked_run(cfg, params=params, **trial.run_links()) as run:
        trial.attach(run.run_id)
        if not cfg.resume:
            log_run_config(output_dir)
            log_dataset(data)
        history = fit(model, data, cfg.trainer, callbacks, batch, epochs_done, augment_with_masks)
        value = log_outcome(cfg, model, data, history, callbacks, earlier, batch, run.name, trial)
        log_run_files(output_dir)
    return value


def compiled_model(
    cfg: DictConfig, data: Any, distribution: Distribution, trial: SweepTrial, resumed: bool
) -> Any:
    """The model, built in the distribution's scope (from `model.initial_weights` unless a
    resumed run restores its own), compiled, and in a sweep an earlier trial's traced one where
    this process kept one (`SweepTrial.warm`); its training state built, its objective checked."""
    from blueprint.models.build import build_model
    from blueprint.models.heads import adapt_targets
    from blueprint.training.compile import compile_model
    from blueprint.training.fit import build_training_state, check_objective_is_produced
    from blueprint.training.initial_weights import load_initial_weights

    allowed = list(cfg.allowed_targets)
    with distribution.scope():
        model = build_model(cfg, allowed)
        if cfg.model.get("initial_weights") and not resumed:
            load_initial_weights(model, cfg.model.initial_weights, cfg.tracking.uri)
        if data.targets == "values":  # in the training targets' units, whatever the start
            adapt_targets(model, data.train.labels)
        compile_model(model, cfg, allowed)
    if not distribution.strategy:  # a strategy's model is not kept: its variables are mirrored
        model = trial.warm(model, cfg)
    build_training_state(model, data)
    check_objective_is_produced(model, cfg.objective.metric)
    return model


def run_callbacks(
    cfg: DictConfig, data: Any, trial: SweepTrial, output_dir: Path
) -> tuple[dict[int, float], list[Any]]:
    """A resumed run's objective per epoch already logged, and the run's callbacks: per-epoch
    logging, the config's, diagnostics, the trial's reports and the per-epoch backup (a single
    run's: a trial that dies is re-run by its sweep)."""
    from blueprint.tracking.epoch_logger import MlflowEpochLogger, logged_epochs
    from blueprint.training.backup import resume_callbacks
    from blueprint.training.callbacks import build_callbacks

    allowed = list(cfg.allowed_targets)
    earlier = logged_epochs(cfg.resume, cfg.objective.metric) if cfg.resume else {}
    logged_through = max(earlier, default=-1)  # a resumed run's last epoch in MLflow
    diagnostics = build(cfg.diagnostics, allowed, _partial_=True)
    backed_up = not trial.active and cfg.trainer.distribution != "multi_worker"
    return earlier, [
        MlflowEpochLogger(logged_through=logged_through),
        *build_callbacks(cfg, allowed),
        *diagnostics(data, logged_through=logged_through, beats_best=trial.beats_best),
        *trial.callbacks(),
        *resume_callbacks(output_dir if backed_up else None, cfg.trainer.backup_share),
    ]


def run_params(model: Any, distribution: Distribution, batch: int) -> dict[str, Any]:
    """What the run logs beyond its config: the model's size and, under a strategy, its
    replicas and global batch."""
    params: dict[str, Any] = {"model.param_count": model.count_params()}
    if distribution.strategy:
        params |= {"trainer.replicas": distribution.replicas, "trainer.global_batch_size": batch}
    return params


def log_outcome(
    cfg: DictConfig,
    model: Any,
    data: Any,
    history: Any,
    callbacks: list[Any],
    earlier: dict[int, float],
    batch: int,
    run_name: str,
    trial: SweepTrial,
) -> float:
    """The best epoch's objective, the test metrics and the model (at the epoch whose weights it
    holds), in the active run; returns the objective."""
    import mlflow
    import numpy as np

    from blueprint.data.pipeline import images_at, to_dataset
    from blueprint.tracking.keras_model import log_keras_model, worth_logging
    from blueprint.tracking.outcome import log_objective, register_model, weights_epoch
    from blueprint.training.fit import best_epoch

    epoch, value = best_epoch(history, cfg.objective, earlier)
    log_objective(cfg.objective.metric, epoch, value)
    log.info("best %s = %.4f at epoch %d", cfg.objective.metric, value, epoch)
    test = model.evaluate(to_dataset(data.test, batch), verbose=0, return_dict=True)
    step = weights_epoch(history, callbacks)  # the epoch the evaluated and logged model is
    mlflow.log_metrics({f"test_{k}": float(v) for k, v in test.items()}, step=step)
    if cfg.tracking.log_model and worth_logging(cfg.tracking.sweep_models, trial.beats_best(value)):
        example = images_at(data.val, np.arange(min(5, len(data.val))))
        # MLflow's serving check reloads the model: a trial's is built by a single run's code
        info = log_keras_model(model, example, run_name, step, not trial.active)
        if cfg.tracking.register_model:
            register_model(info, cfg.tracking.register_model, cfg.objective.metric, value)
    return value


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


# Hydra instantiates conf/hydra/default.yaml's callbacks under this whitelist; `build` gives every
# other `_target_` its own, from `allowed_targets`.
@hydra.main(config_path="../conf", config_name="train", execution_whitelist=HYDRA_CALLBACKS)
def main(cfg: DictConfig) -> float:
    """A single run's BlueprintError is one line and exit status 2 here, inside the job: raised
    further, Hydra's job runner would print a line of its own before `exit_on_error`'s."""
    try:
        return train(cfg, list(HydraConfig.get().overrides.task))
    except BlueprintError as err:
        if _in_multirun():  # the sweeper records the failed trial and carries on
            raise
        log.error("%s", err)
        sys.exit(2)
    finally:
        if _in_multirun():  # trials run one after another in this process: free the last one
            from blueprint.training.warm_models import free_keras_state

            free_keras_state()


if __name__ == "__main__":
    catch_ctrl_c()  # Ctrl-C and the app's Stop end the run KILLED, also where Python loses one
    sys.argv[1:] = home_expanded(sys.argv[1:])  # data.path=~/photos, which bash leaves as typed
    with collector_paused_for_command():  # until training starts: seconds of start-up and exit
        exit_on_error(main)
