"""`hydra/sweeper=blueprint_optuna`: the Optuna sweeper's config plus what blueprint adds.

conf/train.yaml makes it the sweeper of every --multirun; the recipes in conf/hparams_search/
state only what differs from here (sampler, search space, n_trials).
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf


@dataclass
class BlueprintSweeperConf(OptunaSweeperConf):
    """Every upstream key (sampler, direction, n_trials, params, ...) keeps its meaning, except:

    - the sampler is the grid: comma lists alone make a resumable grid of every combination;
    - `direction` follows the objective the runs return (conf/train.yaml's `objective`);
    - `storage` defaults to one SQLite file for the project, so every sweep can be resumed;
    - `study_name: null` derives the name from experiment_name and a hash of the search space;
    - `n_trials` counts trials that ended (complete, pruned or failed): a re-run tops the study
      up; null runs every grid point (other samplers need a number);
    - `n_jobs` is the number of slots: trials in flight at once, each slot taking the next trial
      as soon as its own ends (null: joblib's n_jobs; the basic launcher runs one);
    - `max_failure_rate` is the share of `n_trials` allowed to fail before the sweep stops;
      interrupted trials run again and do not count, but a point interrupted
      `max_interruptions` times in a row;
    - `heartbeat_interval` and `grace_period` tell live trials from interrupted ones, on any
      machine sharing the study (blueprint.sweeps.study);
    - `gpus_per_trial` gives each slot its own GPUs or a share of one (blueprint.sweeps.devices).
    """

    _target_: str = "hydra_plugins.blueprint_sweeper.blueprint_sweeper.BlueprintOptunaSweeper"
    # the sweeper reads each key below from this class (BlueprintSweeperConf(**settings))
    # the sampler's group option first, then the keys below on top of it
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "grid"}, "_self_"])
    # every sampler's seed follows the run's: the order the points run in is reproducible
    sampler: Any = field(default_factory=lambda: {"seed": "${trainer.seed}"})
    direction: Any = "${objective.direction}"
    storage: Any | None = "sqlite:///${paths.root_dir}/multirun/optuna.db"
    n_trials: int | None = None
    # slots: trials in flight at once (null: the launcher's own parallelism)
    n_jobs: int | None = None
    max_failure_rate: float = 0.25
    # a point interrupted this many times in a row (its sweep killed under it) is given up: FAIL
    max_interruptions: int = 2
    # seconds between the heartbeats a sweep records for each trial it runs
    heartbeat_interval: int = 5
    # seconds without a heartbeat after which a RUNNING trial counts as interrupted and runs again
    grace_period: int = 20
    # none | median | hyperband | successive_halving: Optuna pruners, consulted after every epoch
    pruner: str = "none"
    # keyword arguments of the Optuna pruner, e.g. {n_startup_trials: 5, n_warmup_steps: 2}
    pruner_kwargs: dict[str, Any] = field(default_factory=dict)
    # refresh the parent MLflow run's Optuna plots after every batch of trials
    plots: bool = True
    # runs per point, seeds trainer.seed + 0..k-1, nested under the trial's run (one trial each)
    repeats: int = 1
    # mean | median: how the trial's objective (Optuna's value) sums up its repeats' objectives
    repeat_reduce: str = "mean"
    # GPUs per slot on this machine (joblib, submitit_local): 1, 2, ... of its own, or a share
    # such as 0.5 (two slots a GPU); 0: every trial sees every GPU. Ray: ray.remote.num_gpus
    gpus_per_trial: float = 0


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="blueprint_optuna",
    node=BlueprintSweeperConf,
    provider="blueprint",
)
