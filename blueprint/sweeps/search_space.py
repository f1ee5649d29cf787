# TEMPORARY shim (replaced by the grammar branch)
import dataclasses

from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    space: dict
    fixed: dict
    fixed_overrides: list


def parse(overrides):
    try:
        return SearchSpace(*create_params_from_overrides(overrides))
    except Exception as err:
        raise ValueError(str(err)) from err


def params_overrides(params):
    return [f"{k!s}={v}" for k, v in (params or {}).items()]


def grid_values(dist):
    return list(OptunaSweeperImpl._to_grid_sampler_choices(dist))
