"""Pruners by name: the sweeper and every trial build the same one from the study's record."""

from typing import Any

import optuna

from blueprint.errors import SweepError

PRUNER_ATTR = "blueprint.pruner"  # study user attr: {"name": ..., "kwargs": {...}}

PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
}


def build_pruner(name: str, kwargs: dict[str, Any]) -> optuna.pruners.BasePruner:
    """The Optuna pruner `name` with `kwargs`; a SweepError names the valid choices."""
    if name not in PRUNERS:
        raise SweepError(
            f"hydra.sweeper.pruner={name!r} is not a pruner; use one of: {', '.join(PRUNERS)}"
        )
    try:
        return PRUNERS[name](**kwargs)
    except (TypeError, ValueError) as err:
        raise SweepError(
            f"hydra.sweeper.pruner_kwargs={kwargs} do not suit the {name} pruner: {err}"
        ) from err
