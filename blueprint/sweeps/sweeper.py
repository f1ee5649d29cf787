"""The sweep loop: Hydra's Optuna sweeper, made resumable, failure-tolerant, prunable and tracked.

Reuses the upstream implementation for parsing the search space and configuring trials; replaces
its loop, which assumes a fresh study, stops at the first failure and never tells jobs their trial.
"""

import dataclasses
import functools
import logging
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_optuna_sweeper._impl import (
    OptunaSweeperImpl,
    create_params_from_overrides,
)
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, Trial, TrialState

import blueprint.resolvers  # noqa: F401  (the sweeper reads ${paths.root_dir} from the config)
from blueprint.credentials import masked, store_reference
from blueprint.errors import BlueprintError, SweepError, TrialPruned, compose_failure, first_line
from blueprint.locks import store_lock
from blueprint.sweeps.composed_once import ComposedOnce
from blueprint.sweeps.contract import TrialNode
from blueprint.sweeps.grid import GRID_ATTR, Grid, describe, missing_points, reuse_ended_points
from blueprint.sweeps.parent_run import SweepRun
from blueprint.sweeps.pruners import PRUNER_ATTR, build_pruner
from blueprint.sweeps.storage import open_storage
from blueprint.sweeps.study import (
    ENDED,
    ended_trials,
    grid_family,
    heartbeats,
    release,
    requeue_stale,
    study_name_for,
    take_trials,
)
from blueprint.tracking.store import check_server_access

log = logging.getLogger(__name__)

# Overrides that say where a run's outputs are kept (stores, folders), not what it computes.
OUTPUT_LOCATIONS = ("tracking.", "paths.")
WAIT_FOR_OTHERS_S = 2.0  # polling while other sweeps run the study's last trials


def first_value(dist: BaseDistribution) -> Any:
    """A value every distribution holds: the first choice, or the low end of a range."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[0]
    return dist.low  # type: ignore[attr-defined]


def next_job_number(sweep_dir: str) -> int:
    """The first job number no folder in `sweep_dir` uses: a resumed sweep writing into the same
    directory continues the numbering instead of overwriting the first session's folders."""
    path = Path(sweep_dir)
    taken = [int(p.name) for p in path.iterdir() if p.name.isdigit()] if path.is_dir() else []
    return max(taken, default=-1) + 1


def plain_values(fixed: dict[str, Any]) -> dict[str, Any]:
    """Fixed overrides as the job reads them, without Hydra's escapes (`sqlite\\:///` ...)."""
    parser = OverridesParser.create()
    return {name: parser.parse_override(f"{name}={value}").value() for name, value in fixed.items()}


def launcher_parallelism(launcher: DictConfig) -> int:
    """Jobs the launcher runs at once by its own settings: joblib's n_jobs (-1: every CPU), else
    one (the basic launcher; submitit and Ray run the batch they get: hydra.sweeper.n_jobs)."""
    n_jobs = launcher.get("n_jobs")
    if not isinstance(n_jobs, int):
        return 1
    return max(1, n_jobs if n_jobs > 0 else (os.cpu_count() or 1) + 1 + n_jobs)


def jobs_sharing_this_machine(launcher: DictConfig, batch: int) -> int:
    """Trials that run on this machine's CPUs at once: the batch, under joblib and
    submitit_local; one under the basic launcher (one after another), and under the cluster
    launchers, whose jobs get the CPUs the scheduler gives them."""
    target = str(launcher.get("_target_", ""))
    return batch if target.endswith(("JoblibLauncher", "submitit_launcher.LocalLauncher")) else 1


def check_joblib_settings(launcher: DictConfig) -> None:
    """The joblib launcher checks its settings (its own backends, then joblib's) only as it
    launches the first batch, after the stores are written; here the same checks run first."""
    if not str(launcher.get("_target_", "")).endswith("JoblibLauncher"):
        return
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from joblib import Parallel

    settings = OmegaConf.to_container(launcher, resolve=True)
    settings.pop("_target_")
    try:
        process_joblib_cfg(settings)
        settings.pop("inner_max_num_threads", None)  # the launcher hands it to its backend
        Parallel(**settings)  # joblib's own checks (backend, prefer, require); starts no worker
    except (ValueError, TypeError) as err:
        reason = re.sub(r"<([\w.]+) object at 0x[0-9a-f]+>", r"\1", first_line(err))
        raise SweepError(
            f"hydra.launcher: {reason}; trials run in processes, with backend loky (the default) "
            "or multiprocessing"
        ) from err


class BlueprintSweeperImpl(OptunaSweeperImpl):
    """Runs trials until the study holds `n_trials` ended ones; see the config's docstring."""

    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: str,
        study_name: str | None,
        n_trials: int | None,
        n_jobs: int | None,
        max_failure_rate: float,
        custom_search_space: str | None,
        params: DictConfig | None,
        *,
        pruner: str,
        pruner_kwargs: dict[str, Any],
        plots: bool,
        heartbeat_interval: int,
        grace_period: int,
    ) -> None:
        # Batch size and failure rate are settled in setup() and _sweep(), so pass neutral values.
        super().__init__(
            sampler, direction, storage, study_name, n_trials, 1, 0.0, custom_search_space, params
        )
        self.requested_batch = n_jobs
        self.max_failure_rate = max_failure_rate
        self.pruner_name = pruner
        self.pruner_kwargs = pruner_kwargs
        self.plots = plots
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.threads: int | None = None
        self.grid: Grid | None = None  # the grid's values, when the sampler is the grid
        self.taken = 0  # trials this process took from the study
        self.reseeded = False

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.composed = ComposedOnce(hydra_context.config_loader)
        hydra_context = dataclasses.replace(hydra_context, config_loader=self.composed)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.n_jobs = self.requested_batch or launcher_parallelism(config.hydra.launcher)
        sharing = jobs_sharing_this_machine(config.hydra.launcher, self.n_jobs)
        if sharing > 1:  # each parallel job gets its share of the CPU, not all of it
            self.threads = max(1, (os.cpu_count() or 1) // sharing)

    def sweep(self, arguments: list[str]) -> None:
        """Runs the sweep; a BlueprintError ends it with one line and exit status 2."""
        try:
            self._sweep(arguments)
        except BlueprintError as err:
            log.error("%s", err)
            sys.exit(2)

    def _sweep(self, arguments: list[str]) -> None:
        direction, pruner, space, fixed, fixed_overrides, n_trials = self._checked(arguments)
        storage = open_storage(
            str(self.storage),
            create=True,
            heartbeat_interval=self.heartbeat_interval,
            grace_period=self.grace_period,
        )
        what = [f"{k}={v}" for k, v in fixed.items() if not k.startswith(OUTPUT_LOCATIONS)]
        what += [line for line in fixed_overrides if not line.startswith(OUTPUT_LOCATIONS)]
        study, reused = self._open_study(storage, space, [*what, direction], direction, pruner)
        log.info(
            "study %s in %s: %d trials wanted",
            study.study_name,
            masked(str(self.storage)),
            n_trials,
        )
        self.job_idx = next_job_number(self.config.hydra.sweep.dir)

        settings = {
            "storage": masked(str(self.storage)),
            "sampler": "grid" if self.grid else type(self.sampler).__name__,
            "pruner": self.pruner_name,
            "direction": direction,
            "n_trials": str(n_trials),
            "max_failure_rate": str(self.max_failure_rate),
        }
        run = SweepRun(self.config, study, settings)
        values = plain_values(fixed)
        where = {k: v for k, v in values.items() if k.startswith(OUTPUT_LOCATIONS)}
        run.log_search_space(space, {k: v for k, v in values.items() if k not in where}, where)
        run.adopt(reused)
        status = "FAILED"
        try:
            self._run_trials(study, storage, run, n_trials, space, fixed, fixed_overrides)
            run.summarize(self.plots, final=True)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            run.close(status)
        self._save_results(study)

    def _open_study(
        self,
        storage: optuna.storages.RDBStorage,
        space: dict[str, BaseDistribution],
        fixed: list[str],
        direction: str,
        pruner: optuna.pruners.BasePruner,
    ) -> tuple[optuna.Study, list[FrozenTrial]]:
        """Creates or resumes the study, named from the space and the `fixed` overrides (what
        the trials compute) unless hydra.sweeper.study_name pins it, and says which in one line.
        A grid's study first takes in the points its earlier versions ended; returns those too.
        """
        experiment = str(OmegaConf.select(self.config, "experiment_name", default="sweep"))
        if self.grid is not None:
            family = grid_family(experiment, list(space), fixed)
            name = self.study_name or self.grid.study_name(family)
        else:
            name = self.study_name or study_name_for(experiment, space, fixed)
        reused: list[FrozenTrial] = []
        with store_lock(str(self.storage)):  # one sweep creates the study and copies points
            new = name not in optuna.get_all_study_names(storage)
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=self.sampler,
                pruner=pruner,
                direction=direction,
                load_if_exists=True,
            )
            if self.grid is not None:
                study.set_user_attr(GRID_ATTR, self.grid.values)
                reused = reuse_ended_points(study, storage, family, self.grid, space)
                log.info("%s", describe(study, storage, family, self.grid, new))
            else:
                log.info("%s", self._describe(study, new))
        study.set_user_attr(PRUNER_ATTR, {"name": self.pruner_name, "kwargs": self.pruner_kwargs})
        return study, reused

    def _checked(
        self, arguments: list[str]
    ) -> tuple[str, Any, dict[str, BaseDistribution], dict[str, Any], list[str], int]:
        """Every sweep setting checked, and one trial's config composed, before anything is
        written: a bad setting or a search-space key that does not exist is one line at once.
        """
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise SweepError(
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate} must be within [0, 1]"
            )
        if not 1 <= self.heartbeat_interval < self.grace_period:
            raise SweepError(
                f"hydra.sweeper.heartbeat_interval={self.heartbeat_interval} must be at least 1 "
                f"and below hydra.sweeper.grace_period={self.grace_period} (seconds)"
            )
        if self.n_trials is not None and self.n_trials < 1:
            raise SweepError(f"hydra.sweeper.n_trials={self.n_trials} must be at least 1")
        check_joblib_settings(self.config.hydra.launcher)
        check_server_access(str(self.config.tracking.uri))  # a wrong password: nothing written
        pruner = build_pruner(self.pruner_name, self.pruner_kwargs)
        directions = self._get_directions()
        if len(directions) != 1 or directions[0] not in ("minimize", "maximize"):
            raise SweepError(
                f"hydra.sweeper.direction={directions[0] if len(directions) == 1 else directions}"
                " must be minimize or maximize (one objective: objective.metric)"
            )
        self._process_searchspace_config()
        try:
            space, fixed, fixed_overrides = create_params_from_overrides(
                [*self._parse_sweeper_params_config(), *arguments]
            )
        except Exception as err:  # Hydra's override grammar, Optuna's distribution checks
            raise SweepError(f"the search space does not parse: {first_line(err)}") from err
        for name in fixed:
            space.pop(name, None)
        n_trials = self.n_trials
        if isinstance(self.sampler, functools.partial):  # the grid: sized by the space
            grid: dict[str, list[Any]] = {}
            for name, dist in space.items():
                if not isinstance(dist, CategoricalDistribution | IntDistribution) and (
                    not isinstance(dist, FloatDistribution) or dist.step is None
                ):
                    raise SweepError(
                        f"{name}: a grid takes listed values (a,b,c or range(...)), not a "
                        f"continuous range; list values or pick a sampler: hparams_search=tpe"
                    )
                grid[name] = list(self._to_grid_sampler_choices(dist))
            # Its points are queued in the grid's order (blueprint.sweeps.grid): never sampled.
            self.grid = Grid(grid, self.sampler.keywords.get("seed"))
            self.sampler = optuna.samplers.RandomSampler()
            size = math.prod(len(values) for values in grid.values())
            n_trials = size if n_trials is None else min(n_trials, size)
        elif n_trials is None:
            raise SweepError(
                f"hydra.sweeper.n_trials is unset: the {type(self.sampler).__name__} needs a "
                "number of trials, e.g. hydra.sweeper.n_trials=20"
            )
        self._compose_one_trial(space, fixed, fixed_overrides)
        return directions[0], pruner, space, fixed, fixed_overrides, n_trials

    def _compose_one_trial(
        self, space: dict[str, BaseDistribution], fixed: dict[str, Any], fixed_overrides: list[str]
    ) -> None:
        """Composes and validates a trial's config with each dimension at its first value."""
        point = {name: first_value(dist) for name, dist in space.items()}
        overrides = [
            *(f"{name}={value}" for name, value in {**point, **fixed}.items()),
            *fixed_overrides,
        ]
        self._composed(overrides)

    def _composed(self, overrides: list[str]) -> DictConfig:
        """One job's config, composed as the launcher will compose it."""
        try:
            return self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        except Exception as err:  # an unknown key, a value Hydra cannot compose
            raise SweepError(f"a trial's config does not compose: {compose_failure(err)}") from err

    def _launchable(self, overrides: list[str]) -> None:
        """Raises a BlueprintError for a job that would fail before training: its config does
        not compose, or fails the validation train() runs (blueprint.validation.validate). The
        config is kept for the launcher, which composes the same overrides."""
        from blueprint.validation import validate

        config = self._composed(overrides)
        validate(config)
        self.composed.keep(overrides, config)

    def _run_trials(
        self,
        study: optuna.Study,
        storage: optuna.storages.RDBStorage,
        run: SweepRun,
        n_trials: int,
        space: dict[str, BaseDistribution],
        fixed: dict[str, Any],
        fixed_overrides: list[str],
    ) -> None:
        while True:
            interrupted = requeue_stale(study, storage)
            if interrupted:
                run.mark_interrupted(interrupted)
            self._stop_if_too_many_failed(study, n_trials)
            missing = functools.partial(missing_points, grid=self.grid) if self.grid else None
            trials = take_trials(study, storage, str(self.storage), self.n_jobs, n_trials, missing)
            self._reseed_if_shared(study, len(trials))
            if not trials:
                ended = len(ended_trials(study))
                if ended >= n_trials:
                    log.info("study %s holds %d ended trials: done", study.study_name, ended)
                    return
                time.sleep(WAIT_FOR_OTHERS_S)  # other sweeps run the last trials
                continue
            try:
                with heartbeats(storage, trials):
                    jobs = self._configure_trials(trials, space, fixed, fixed_overrides)
                    told, errors = self._run_batch(study, run, trials, jobs)
            except KeyboardInterrupt:  # queued again now: no sweep waits out the grace period
                run.mark_interrupted(release(study, storage, trials))
                raise
            run.record(told, errors)
            run.summarize(self.plots)

    def _reseed_if_shared(self, study: optuna.Study, taken: int) -> None:
        """A seeded sampler replays its suggestions: once the study holds trials this process
        did not take (an earlier session's, or those of a sweep running beside it), the seed
        gives way to a fresh one. A grid's points are queued in order, never sampled."""
        self.taken += taken
        if self.reseeded or self.grid is not None:
            return
        if len(study.get_trials(deepcopy=False)) > self.taken:
            self.sampler.reseed_rng()
            self.reseeded = True

    def _describe(self, study: optuna.Study, new: bool) -> str:
        """One line: a resumed study, or a new one and why (a sampler learns from its own
        space, so any change of space or fixed override starts anew)."""
        sampler = type(self.sampler).__name__
        if new:
            return (
                f"new study {study.study_name}: a {sampler} study searches its own space, so a "
                "changed space or fixed override starts a new one"
            )
        return f"resuming study {study.study_name}: {len(ended_trials(study))} trials ended"

    def _stop_if_too_many_failed(self, study: optuna.Study, n_trials: int) -> None:
        """Interrupted trials count: a trial that kills its sweep every time must trip this."""
        every = study.get_trials(deepcopy=False, states=ENDED)
        failed = sum(t.state == TrialState.FAIL for t in every)
        if failed > math.floor(self.max_failure_rate * n_trials + 1e-9):
            raise SweepError(
                f"{failed} of {len(every)} trials failed (interrupted ones included), more than "
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate} of n_trials="
                f"{n_trials} allows; the errors are in the failed MLflow runs"
            )

    def _run_batch(
        self, study: optuna.Study, run: SweepRun, trials: list[Trial], jobs: Sequence[Sequence[str]]
    ) -> tuple[list[FrozenTrial], dict[int, str]]:
        """Launches the trials whose config passes the checks and tells Optuna how each ended;
        one that cannot run ends FAIL without being launched. Returns the ended trials and the
        errors by trial number."""
        told, errors, launched = [], {}, []
        for trial, job in zip(trials, jobs, strict=True):
            node = self._trial_node(study.study_name, trial.number, run.run_id)
            overrides = [*job, node.override()]
            try:
                self._launchable(overrides)
            except BlueprintError as err:  # this point cannot run: FAIL, never RUNNING
                log.warning("trial %d failed: %s", trial.number, err)
                told.append(study.tell(trial, state=TrialState.FAIL))
                errors[trial.number] = str(err)
                continue
            launched.append((trial, overrides))
        if not launched:
            return told, errors
        try:
            returns = self.launcher.launch(
                [overrides for _, overrides in launched], initial_job_idx=self.job_idx
            )
        finally:
            self.composed.forget()
        self.job_idx += len(returns)
        for (trial, _), ret in zip(launched, returns, strict=True):
            frozen, error = self._tell(study, trial, ret)
            told.append(frozen)
            if error:
                errors[trial.number] = error
        return told, errors

    def _trial_node(self, study_name: str, number: int, parent_run_id: str) -> TrialNode:
        """What a job is told of its trial (the `sweep` node of conf/train.yaml)."""
        return TrialNode(
            study=study_name,
            storage=store_reference(str(self.storage)),  # its password: from the environment
            trial=number,
            parent_run_id=parent_run_id,
            threads=self.threads,
        )

    def _tell(self, study: optuna.Study, trial: Trial, ret: JobReturn) -> tuple[FrozenTrial, str]:
        """Tells Optuna how the job ended; returns the ended trial and its error ("" if none).

        A failed job's exception sits in `_return_value`: the public property re-raises it.
        """
        error = ret._return_value if ret.status is JobStatus.FAILED else None
        if isinstance(error, TrialPruned):
            return study.tell(trial, state=TrialState.PRUNED), ""
        if error is None:
            value = ret.return_value
            if isinstance(value, int | float) and math.isfinite(value):
                return study.tell(trial, float(value)), ""
            error = ValueError(f"the job returned {value!r}, not a finite number")
        message = f"{type(error).__name__}: {error}"
        log.warning("trial %d failed: %s", trial.number, message)
        return study.tell(trial, state=TrialState.FAIL), message

    def _save_results(self, study: optuna.Study) -> None:
        """optimization_results.yaml in the sweep directory, as the upstream sweeper writes it."""
        results: dict[str, Any] = {"name": "blueprint_optuna", "study": study.study_name}
        if any(trial.state == TrialState.COMPLETE for trial in study.get_trials(deepcopy=False)):
            results |= {"best_params": study.best_params, "best_value": study.best_value}
            log.info("best value %s with %s", study.best_value, study.best_params)
        os.makedirs(self.config.hydra.sweep.dir, exist_ok=True)
        OmegaConf.save(
            OmegaConf.create(results), f"{self.config.hydra.sweep.dir}/optimization_results.yaml"
        )
