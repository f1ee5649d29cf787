"""The sweeper class Hydra instantiates; the sweep itself lives in `blueprint.sweeps.sweeper`."""

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from .config import BlueprintSweeperConf  # importing it registers hydra/sweeper=blueprint_optuna


class BlueprintOptunaSweeper(Sweeper):
    """Hydra's sweeper interface over blueprint's sweep; its settings are declared once, in
    `BlueprintSweeperConf`, and reach the sweep as that dataclass."""

    def __init__(self, **settings: Any) -> None:
        from blueprint.sweeps.sweeper import BlueprintSweep  # optuna, mlflow: sweeps only

        self.sweep_engine = BlueprintSweep(BlueprintSweeperConf(**settings))

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweep_engine.setup(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        self.sweep_engine.sweep(arguments)
