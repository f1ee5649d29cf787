"""The sweeper class Hydra instantiates; the sweep itself lives in `blueprint.sweeps.sweeper`."""

from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import DictConfig

from . import config as config  # registers hydra/sweeper=blueprint_optuna


class BlueprintOptunaSweeper(OptunaSweeper):
    """Hydra's Optuna sweeper whose implementation adds resume, pruning and MLflow tracking."""

    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int | None,
        n_jobs: int | None,
        max_failure_rate: float,
        custom_search_space: str | None,
        params: DictConfig | None,
        pruner: str,
        pruner_kwargs: DictConfig,
        plots: bool,
        heartbeat_interval: int,
        grace_period: int,
        repeats: int,
        repeat_reduce: str,
    ) -> None:
        from blueprint.sweeps.sweeper import BlueprintSweeperImpl  # optuna, mlflow: sweeps only

        # The parent instantiates the sampler under its execution whitelist; its implementation
        # object is then replaced by ours, built from the same sampler.
        super().__init__(sampler, direction, storage, study_name, n_trials, 1, 0.0, None, params)
        self.sweeper = BlueprintSweeperImpl(
            self.sweeper.sampler,
            direction,
            storage,
            study_name,
            n_trials,
            n_jobs,
            max_failure_rate,
            custom_search_space,
            params,
            pruner=pruner,
            pruner_kwargs=dict(pruner_kwargs or {}),
            plots=plots,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            repeats=repeats,
            repeat_reduce=repeat_reduce,
        )
