"""Grids that grow: a grid's points in a seeded order, and the study of a grid whose values
changed, which reuses every point the earlier versions of the grid ended.

Optuna cannot change a categorical parameter's choices within a study, so each set of listed
values has its own study, `<family>-g<hash of the values>`. The family, `<experiment>-<hash of the
parameter names, fixed overrides and direction>`, holds every version of the grid: a new version
copies in the ended trials of its family whose point it still lists, and runs only the rest. Adding
or removing a parameter, or changing a fixed override, is another family: a new experiment.
"""

import itertools
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from blueprint.errors import SweepError
from blueprint.sweeps.contract import REUSED_ATTR
from blueprint.sweeps.search_space import grid_space
from blueprint.sweeps.study import ENDED, digest, ended_trials, retried_numbers, trial_point

log = logging.getLogger(__name__)

GRID_ATTR = "blueprint.grid"  # study user attr: the listed values, {parameter: [values]}
GRID_SAMPLER = "optuna.samplers.GridSampler"  # hydra.sweeper.sampler that makes a sweep a grid


@dataclass(frozen=True)
class Grid:
    """A grid's listed values per parameter, and the seed of the order its points run in."""

    values: dict[str, list[Any]]
    seed: int | None

    @classmethod
    def of(cls, space: Mapping[str, BaseDistribution], seed: int | None) -> "Grid":
        """The grid of a search space's listed values; a continuous range is a SweepError
        naming the key and the fix."""
        try:
            return cls(grid_space(space), seed)
        except ValueError as err:
            raise SweepError(str(err)) from err

    @property
    def size(self) -> int:
        return math.prod(len(values) for values in self.values.values())

    def points(self) -> list[dict[str, Any]]:
        """Every combination, shuffled as Optuna's GridSampler shuffles them for this seed."""
        names = sorted(self.values)
        combos = list(itertools.product(*(self.values[name] for name in names)))
        np.random.RandomState(self.seed).shuffle(combos)  # type: ignore[arg-type]
        return [dict(zip(names, combo, strict=True)) for combo in combos]

    def study_name(self, family: str) -> str:
        return f"{family}-g{digest(self.values)[:4]}"


def point_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def missing_points(study: optuna.Study, grid: Grid) -> list[dict[str, Any]]:
    """The grid's points, in order, that no trial of the study holds: ended, running or queued."""
    retried = retried_numbers(study)
    held = {
        point_key(trial_point(t))
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.RUNNING, TrialState.WAITING)
        or (t.state in ENDED and t.number not in retried)
    }
    return [point for point in grid.points() if point_key(point) not in held]


def family_studies(storage: optuna.storages.BaseStorage, family: str, name: str) -> list[str]:
    """The other versions of the grid in the store, oldest first."""
    prefix = f"{family}-g"
    names = [
        s.study_name
        for s in storage.get_all_studies()
        if s.study_name.startswith(prefix) and s.study_name != name
    ]
    return sorted(names, key=storage.get_study_id_from_name)  # ids grow with creation


def reuse_ended_points(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    family: str,
    grid: Grid,
    space: dict[str, BaseDistribution],
) -> list[FrozenTrial]:
    """Copies into `study` the ended trials of earlier versions whose point the grid lists and
    the study lacks (the latest version's trial where several ended one point); returns the
    copies. Run under the store's lock: idempotent, so a sweep killed while copying loses none."""
    listed = {point_key(point) for point in grid.points()}
    have = {point_key(t.params) for t in ended_trials(study)}
    latest: dict[str, tuple[str, FrozenTrial]] = {}
    for name in family_studies(storage, family, study.study_name):
        earlier = optuna.load_study(study_name=name, storage=storage)
        for trial in ended_trials(earlier):
            key = point_key(trial.params)
            if key in listed and key not in have:
                latest[key] = (name, trial)
    copies = [
        optuna.trial.create_trial(
            state=trial.state,
            value=trial.value if trial.state == TrialState.COMPLETE else None,
            params=trial.params,
            distributions={name: space[name] for name in trial.params},
            user_attrs={**trial.user_attrs, REUSED_ATTR: f"{name}#{trial.number}"},
            intermediate_values=trial.intermediate_values,
        )
        for name, trial in latest.values()
    ]
    study.add_trials(copies)
    return [t for t in study.get_trials(deepcopy=False) if REUSED_ATTR in t.user_attrs]


def describe(
    study: optuna.Study, storage: optuna.storages.BaseStorage, family: str, grid: Grid, new: bool
) -> str:
    """One line: a resumed grid, a new one, or how this version differs from the last one."""
    points = len(grid.points())
    if not new:
        return (
            f"resuming grid {study.study_name}: {len(ended_trials(study))} of {points} points ended"
        )
    earlier = family_studies(storage, family, study.study_name)
    if not earlier:
        return (
            f"new grid {study.study_name}: {points} points (no earlier grid with these "
            "parameters and fixed overrides)"
        )
    last = optuna.load_study(study_name=earlier[-1], storage=storage).user_attrs.get(GRID_ATTR, {})
    before = {point_key(p) for p in Grid(last, None).points()} if last else set()
    now = {point_key(p) for p in grid.points()}
    reused = sum(REUSED_ATTR in t.user_attrs for t in study.get_trials(deepcopy=False))
    added, dropped = len(now - before), len(before - now)
    changes = [f"grew by {added} points"] if added else []
    changes += [f"dropped {dropped} points (their trials stay in {earlier[-1]})"] if dropped else []
    return f"grid {' and '.join(changes) or 'unchanged'}; {reused} finished points reused"
