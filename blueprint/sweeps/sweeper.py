"""The sweep loop: trials asked of Optuna, launched through Hydra's launchers, each told as it ends.

Resumable (the study counts ended trials across sessions), failure-tolerant, prunable and tracked
in MLflow. Built on public APIs only: Hydra's override parser (`blueprint.sweeps.search_space`),
its launchers and Optuna's study; the settings are `hydra_plugins.blueprint_sweeper.config`'s.
"""

import contextlib
import dataclasses
import io
import logging
import math
import os
import re
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, Trial, TrialState

import blueprint.resolvers  # noqa: F401  (the sweeper reads ${paths.root_dir} from the config)
from blueprint.credentials import masked, store_reference
from blueprint.errors import BlueprintError, SweepError, TrialPruned, compose_failure, first_line
from blueprint.plumbing.ctrl_c import is_stop
from blueprint.plumbing.locks import store_lock
from blueprint.sweeps.composed_once import ComposedOnce
from blueprint.sweeps.contract import FIXED_ATTR, TrialNode
from blueprint.sweeps.devices import assign_devices, visible_gpus
from blueprint.sweeps.grid import (
    GRID_ATTR,
    GRID_SAMPLER,
    Grid,
    describe,
    missing_points,
    reuse_ended_points,
)
from blueprint.sweeps.parent_run import SweepRun
from blueprint.sweeps.pruners import PRUNER_ATTR, build_pruner
from blueprint.sweeps.repeats import check_repeats, repeats_key
from blueprint.sweeps.search_space import (
    SearchSpace,
    override_parser,
    params_overrides,
    parse_search_space,
)
from blueprint.sweeps.slots import Slots
from blueprint.sweeps.study import (
    Heartbeats,
    ended_trials,
    given_up,
    grid_family,
    release,
    requeue_stale,
    study_name_for,
    take_trials,
)
from blueprint.sweeps.study_store import open_storage
from blueprint.sweeps.trial_configs import TrialConfigs
from blueprint.tracking.store_opening import check_server_access

if TYPE_CHECKING:  # the plugin imports this module; its settings class is only a type here
    from hydra_plugins.blueprint_sweeper.config import BlueprintSweeperConf

log = logging.getLogger(__name__)

# Overrides that say where a run's outputs are kept (stores, folders), not what it computes.
OUTPUT_LOCATIONS = ("tracking.", "paths.")
WAIT_FOR_OTHERS_S = 2.0  # polling while other sweeps run the study's last trials
# the samplers Hydra's Optuna sweeper lets its sampler config instantiate
SAMPLER_TARGETS = ("hydra_plugins.hydra_optuna_sweeper.*", "optuna.samplers.*")


def first_value(dist: BaseDistribution) -> Any:
    """A value every distribution holds: the first choice, or the low end of a range."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[0]
    return dist.low  # type: ignore[attr-defined]


def suggest(trial: Trial, name: str, dist: BaseDistribution) -> Any:
    """Draws `name` from `dist` through the trial's public suggest methods."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)  # type: ignore[attr-defined]


def numbered(numbers: list[int]) -> str:
    """`trial 3` or `trials 0, 4`."""
    return f"trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"


def job_overrides(space: SearchSpace, point: dict[str, Any]) -> list[str]:
    """A job's overrides: its point, the fixed values, then the other fixed overrides."""
    values = {**point, **space.fixed}
    return [*(f"{name}={value}" for name, value in values.items()), *space.fixed_overrides]


def next_job_number(sweep_dir: str) -> int:
    """The first job number no folder in `sweep_dir` uses: a resumed sweep writing into the same
    directory continues the numbering instead of overwriting the first session's folders."""
    path = Path(sweep_dir)
    taken = [int(p.name) for p in path.iterdir() if p.name.isdigit()] if path.is_dir() else []
    return max(taken, default=-1) + 1


def plain_values(fixed: dict[str, Any]) -> dict[str, Any]:
    """Fixed overrides as the job reads them: keys without Hydra's `+`/`++` (which MLflow keys
    cannot hold), values without its escapes (`sqlite\\:///` ...)."""
    parser = override_parser()
    overrides = [parser.parse_override(f"{name}={value}") for name, value in fixed.items()]
    return {override.key_or_group: override.value() for override in overrides}


def launcher_kind(launcher: DictConfig) -> str:
    """The launcher's class name: BasicLauncher, JoblibLauncher, LocalLauncher, RayLauncher..."""
    return str(launcher.get("_target_", "")).rsplit(".", 1)[-1]


def slot_count(launcher: DictConfig, requested: int | None) -> int:
    """Trials in flight at once. The basic launcher trains in this process: one. Else
    `hydra.sweeper.n_jobs`, or joblib's own n_jobs (-1: every CPU); submitit and Ray: set it."""
    if launcher_kind(launcher) == "BasicLauncher":
        return 1
    if requested:
        return requested
    n_jobs = launcher.get("n_jobs")
    if not isinstance(n_jobs, int):
        return 1
    return max(1, n_jobs if n_jobs > 0 else (os.cpu_count() or 1) + 1 + n_jobs)


def jobs_sharing_this_machine(launcher: DictConfig, slots: int) -> int:
    """Trials that run on this machine's CPUs at once: every slot under joblib and
    submitit_local; one under the basic launcher, and under the cluster launchers, whose jobs get
    the CPUs the scheduler gives them."""
    local = launcher_kind(launcher) in ("JoblibLauncher", "LocalLauncher")
    return slots if local else 1


def check_joblib_settings(launcher: DictConfig) -> None:
    """The joblib launcher checks its settings (its own backends, then joblib's) only as it
    launches the first trial, after the stores are written; here the same checks run first.
    Its own check is in its private `_core` (docs: development.md lists it; a test catches a
    change)."""
    if launcher_kind(launcher) != "JoblibLauncher":
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


def slot_devices(launcher: DictConfig, slots: int, gpus_per_trial: float) -> list[str] | None:
    """Each slot's GPUs (`hydra.sweeper.gpus_per_trial`), for the launchers that run trials on
    this machine; the cluster launchers place GPUs themselves."""
    if not gpus_per_trial:
        return None
    own = {
        "RayLauncher": "+hydra.launcher.ray.remote.num_gpus",
        "SlurmLauncher": "hydra.launcher.gpus_per_node",
    }
    kind = launcher_kind(launcher)
    if kind in own:
        raise SweepError(
            f"hydra.sweeper.gpus_per_trial is for trials on this machine; the {kind} places "
            f"GPUs itself: set {own[kind]} instead"
        )
    if gpus_per_trial < 0:
        raise SweepError(f"hydra.sweeper.gpus_per_trial={gpus_per_trial} must be 0 or more")
    return assign_devices(slots, gpus_per_trial, visible_gpus())


def start_ray(launcher: DictConfig) -> None:
    """Connects to Ray once, before slots launch from several threads: the Ray launcher starts
    Ray on its first launch, and two first launches at once would both start it."""
    if launcher_kind(launcher) != "RayLauncher":
        return
    import ray

    if not ray.is_initialized():
        ray.init(**OmegaConf.to_container(launcher.ray.init, resolve=True))


def direction_of(direction: Any) -> str:
    """`hydra.sweeper.direction` as one of minimize | maximize; one objective only."""
    values = list(direction) if isinstance(direction, ListConfig | list) else [direction]
    names = [value.name if isinstance(value, Enum) else str(value) for value in values]
    if len(names) != 1 or names[0] not in ("minimize", "maximize"):
        raise SweepError(
            f"hydra.sweeper.direction={names[0] if len(names) == 1 else names}"
            " must be minimize or maximize (one objective: objective.metric)"
        )
    return names[0]


@dataclasses.dataclass(frozen=True)
class Checked:
    """What `BlueprintSweep._checked` settles before anything is written."""

    direction: str
    pruner: optuna.pruners.BasePruner
    space: SearchSpace
    n_trials: int


class BlueprintSweep:
    """Runs trials until the study holds `n_trials` ended ones; see the config's docstring."""

    def __init__(self, settings: "BlueprintSweeperConf") -> None:
        self.settings = settings
        self.grid: Grid | None = None  # the grid's values, when the sampler is the grid
        self.sampler: optuna.samplers.BaseSampler | None = None
        self.extend_space: Any = None  # hydra.sweeper.custom_search_space, instantiated
        self.threads: int | None = None
        self.devices: list[str] | None = None  # each slot's CUDA_VISIBLE_DEVICES
        self.taken = 0  # trials this process took from the study
        self.reseeded = False

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.composed = ComposedOnce(hydra_context.config_loader)
        self.trial_configs = TrialConfigs(hydra_context.config_loader)
        self.hydra_context = dataclasses.replace(hydra_context, config_loader=self.composed)
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=self.hydra_context, task_function=task_function
        )
        self.slots = slot_count(config.hydra.launcher, self.settings.n_jobs)
        sharing = jobs_sharing_this_machine(config.hydra.launcher, self.slots)
        if sharing > 1:  # each parallel job gets its share of the CPU, not all of it
            self.threads = max(1, (os.cpu_count() or 1) // sharing)

    def sweep(self, arguments: list[str]) -> None:
        """Runs the sweep; a BlueprintError it raises ends the command with one line and exit
        status 2 (`blueprint.errors.exit_on_error`, around every entry point)."""
        checked = self._checked(arguments)
        space = checked.space
        storage = open_storage(
            str(self.settings.storage),
            create=True,
            heartbeat_interval=self.settings.heartbeat_interval,
            grace_period=self.settings.grace_period,
            max_interruptions=self.settings.max_interruptions,
        )
        what = [f"{k}={v}" for k, v in space.fixed.items() if not k.startswith(OUTPUT_LOCATIONS)]
        what += [line for line in space.fixed_overrides if not line.startswith(OUTPUT_LOCATIONS)]
        what += repeats_key(self.settings.repeats, self.settings.repeat_reduce)
        study, reused = self._open_study(storage, space.space, [*what, checked.direction], checked)
        # What every trial of the study gets (its name hashes them): once, not a write per trial.
        fixed = {k: v for k, v in space.fixed.items() if not k.startswith(OUTPUT_LOCATIONS)}
        study.set_user_attr(FIXED_ATTR, fixed)
        log.info(
            "study %s in %s: %d trials wanted, %d at a time",
            study.study_name,
            masked(str(self.settings.storage)),
            checked.n_trials,
            self.slots,
        )
        self.job_idx = next_job_number(self.config.hydra.sweep.dir)

        settings = {
            "storage": masked(str(self.settings.storage)),
            "sampler": "grid" if self.grid else type(self.sampler).__name__,
            "pruner": self.settings.pruner,
            "direction": checked.direction,
            "n_trials": str(checked.n_trials),
            "max_failure_rate": str(self.settings.max_failure_rate),
        }
        run = SweepRun(self.config, study, settings)
        values = plain_values(space.fixed)
        where = {k: v for k, v in values.items() if k.startswith(OUTPUT_LOCATIONS)}
        run.log_search_space(
            space.space, {k: v for k, v in values.items() if k not in where}, where
        )
        run.adopt(reused)
        status = "FAILED"
        try:
            self._run_trials(study, storage, run, checked.n_trials, space)
            run.summarize(self.settings.plots, final=True)
            status = "FINISHED"
        except (KeyboardInterrupt, Exception) as stop:
            if not is_stop(stop):
                raise
            status = "KILLED"
            stop.add_note(
                "the study keeps its ended trials and queues the interrupted ones again: "
                "the same command goes on with it"
            )
            raise
        finally:
            run.close(status)
        self._save_results(study)

    def _open_study(
        self,
        storage: optuna.storages.RDBStorage,
        space: dict[str, BaseDistribution],
        fixed: list[str],
        checked: Checked,
    ) -> tuple[optuna.Study, list[FrozenTrial]]:
        """Creates or resumes the study, named from the space and the `fixed` overrides (what
        the trials compute) unless hydra.sweeper.study_name pins it, and says which in one line.
        A grid's study first takes in the points its earlier versions ended; returns those too.
        """
        experiment = str(OmegaConf.select(self.config, "experiment_name", default="sweep"))
        pinned = self.settings.study_name
        if self.grid is not None:
            family = grid_family(experiment, list(space), fixed)
            name = pinned or self.grid.study_name(family)
        else:
            name = pinned or study_name_for(experiment, space, fixed)
        reused: list[FrozenTrial] = []
        with store_lock(str(self.settings.storage)):  # one sweep creates the study, copies points
            new = name not in optuna.get_all_study_names(storage)
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=self.sampler,
                pruner=checked.pruner,
                direction=checked.direction,
                load_if_exists=True,
            )
            if self.grid is not None:
                study.set_user_attr(GRID_ATTR, self.grid.values)
                reused = reuse_ended_points(study, storage, family, self.grid, space)
                log.info("%s", describe(study, storage, family, self.grid, new))
            else:
                log.info("%s", self._describe(study, new))
        pruner = {"name": self.settings.pruner, "kwargs": dict(self.settings.pruner_kwargs or {})}
        study.set_user_attr(PRUNER_ATTR, pruner)
        return study, reused

    def _checked(self, arguments: list[str]) -> Checked:
        """Every sweep setting checked, and one trial's config composed, before anything is
        written: a bad setting or a search-space key that does not exist is one line at once.
        """
        s = self.settings
        if not 0.0 <= s.max_failure_rate <= 1.0:
            raise SweepError(
                f"hydra.sweeper.max_failure_rate={s.max_failure_rate} must be within [0, 1]"
            )
        if not 1 <= s.heartbeat_interval < s.grace_period:
            raise SweepError(
                f"hydra.sweeper.heartbeat_interval={s.heartbeat_interval} must be at least 1 "
                f"and below hydra.sweeper.grace_period={s.grace_period} (seconds)"
            )
        if s.max_interruptions < 1:
            raise SweepError(
                f"hydra.sweeper.max_interruptions={s.max_interruptions} must be at least 1"
            )
        if s.n_trials is not None and s.n_trials < 1:
            raise SweepError(f"hydra.sweeper.n_trials={s.n_trials} must be at least 1")
        if s.n_jobs is not None and s.n_jobs < 1:
            raise SweepError(f"hydra.sweeper.n_jobs={s.n_jobs} must be at least 1 (or null)")
        check_repeats(s.repeats, s.repeat_reduce)
        check_joblib_settings(self.config.hydra.launcher)
        self.devices = slot_devices(self.config.hydra.launcher, self.slots, s.gpus_per_trial)
        check_server_access(str(self.config.tracking.uri))  # a wrong password: nothing written
        pruner = build_pruner(s.pruner, dict(s.pruner_kwargs or {}))
        direction = direction_of(s.direction)
        try:
            space = parse_search_space([*params_overrides(s.params), *arguments])
        except ValueError as err:  # Hydra's override grammar, Optuna's distribution checks
            raise SweepError(f"the search space does not parse: {first_line(err)}") from err
        n_trials = s.n_trials
        if str(s.sampler.get("_target_")) == GRID_SAMPLER:
            # Its points are queued in the grid's order (blueprint.sweeps.grid): never sampled.
            self.grid = Grid.of(space.space, s.sampler.get("seed"))
            self.sampler = optuna.samplers.RandomSampler()
            n_trials = self.grid.size if n_trials is None else min(n_trials, self.grid.size)
        else:
            self.sampler = instantiate(s.sampler, _execution_whitelist_=SAMPLER_TARGETS)
            if n_trials is None:
                raise SweepError(
                    f"hydra.sweeper.n_trials is unset: the {type(self.sampler).__name__} needs a "
                    "number of trials, e.g. hydra.sweeper.n_trials=20"
                )
        if s.custom_search_space:
            self.extend_space = instantiate({"_target_": s.custom_search_space, "_partial_": True})
        self._compose_one_trial(space)
        return Checked(direction, pruner, space, n_trials)

    def _compose_one_trial(self, space: SearchSpace) -> None:
        """Composes and validates a trial's config with each dimension at its first value."""
        point = {name: first_value(dist) for name, dist in space.space.items()}
        self._composed(job_overrides(space, point))

    def _composed(self, overrides: list[str]) -> DictConfig:
        """One job's config, composed as the launcher will compose it."""
        try:
            return self.trial_configs.compose(self.config, overrides)
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

    def _configure(self, trial: Trial, space: SearchSpace) -> list[str]:
        """Draws the trial's point (a queued point is drawn as queued) and returns its job's
        overrides. The fixed values are the study's user attribute FIXED_ATTR: Hydra's Optuna
        sweeper wrote them on each trial, one store write a value (~30 ms a trial)."""
        for name, dist in space.space.items():
            suggest(trial, name, dist)
        if self.extend_space is not None:
            self.extend_space(self.config, trial)
        return job_overrides(space, trial.params)

    def _run_trials(
        self,
        study: optuna.Study,
        storage: optuna.storages.RDBStorage,
        run: SweepRun,
        n_trials: int,
        space: SearchSpace,
    ) -> None:
        """Keeps every slot busy: a slot whose trial ends takes the next at once."""
        slots = Slots(self._launch, self.slots)
        if self.slots > 1:
            start_ray(self.config.hydra.launcher)
        in_flight: dict[int, Trial] = {}  # by number
        told: list[tuple[FrozenTrial, str]] = []  # ended, not yet recorded in MLflow
        with Heartbeats(storage, study) as beats:
            try:
                while True:
                    interrupted = requeue_stale(study, storage)
                    if interrupted:
                        run.mark_interrupted(interrupted)
                    self._stop_if_too_many_failed(study, n_trials)
                    if self.slots == 1:  # its next trial runs inside `_start`
                        self._record(run, told)
                    taken = self._take(study, storage, n_trials, slots.free)
                    for trial in taken:
                        beats.add(trial.number)  # before: one slot runs it in start
                        in_flight[trial.number] = trial
                        if not self._start(study, run, trial, space, slots):
                            beats.remove(trial.number)
                            del in_flight[trial.number]
                    self._record(run, told)  # after the freed slots took their next trials
                    if slots.running:
                        # a free slot the study has no trial for looks again in a while
                        ended = slots.next_ended(WAIT_FOR_OTHERS_S if slots.free else None)
                        if ended is not None:
                            beats.remove(ended[0])
                            told.append(self._tell(study, in_flight.pop(ended[0]), ended[1]))
                    elif not taken and self._done(study, n_trials):
                        return
                    elif not taken:
                        time.sleep(WAIT_FOR_OTHERS_S)  # other sweeps run the last trials
            except BaseException:  # Ctrl-C, or the sweep stopped: the trials in flight are queued
                # again now, so that no sweep waits out their grace period
                run.mark_interrupted(release(study, storage, list(in_flight.values())))
                raise
            finally:
                self._record(run, told)

    def _done(self, study: optuna.Study, n_trials: int) -> bool:
        ended = len(ended_trials(study))
        if ended >= n_trials:
            log.info("study %s holds %d ended trials: done", study.study_name, ended)
        return ended >= n_trials

    def _record(self, run: SweepRun, told: list[tuple[FrozenTrial, str]]) -> None:
        """Records the trials told since the last call in MLflow and refreshes the parent's
        summary (its plots every 30 s: half a second), then forgets them."""
        if not told:
            return
        run.record([trial for trial, _ in told], {t.number: error for t, error in told if error})
        run.summarize(self.settings.plots)
        told.clear()

    def _take(
        self, study: optuna.Study, storage: optuna.storages.RDBStorage, n_trials: int, free: int
    ) -> list[Trial]:
        if free < 1:
            return []
        missing = (lambda s: missing_points(s, self.grid)) if self.grid else None
        taken = take_trials(study, storage, str(self.settings.storage), free, n_trials, missing)
        self._reseed_if_shared(study, len(taken))
        return taken

    def _start(
        self, study: optuna.Study, run: SweepRun, trial: Trial, space: SearchSpace, slots: Slots
    ) -> bool:
        """Launches the trial in a slot (with one slot, returns once its job ended), or ends it
        FAIL at once where its config cannot run: False."""
        node = self._trial_node(study.study_name, trial.number, run.run_id)
        try:
            overrides = [*self._configure(trial, space), node.override()]
            self._launchable(overrides)
        except BlueprintError as err:  # this point cannot run: FAIL, never RUNNING
            log.warning("trial %d failed: %s", trial.number, err)
            run.record([study.tell(trial, state=TrialState.FAIL)], {trial.number: str(err)})
            return False
        self.job_idx += 1
        slots.start(trial.number, overrides, self.job_idx - 1)
        return True

    def _launch(self, overrides: list[str], job_idx: int) -> Any:
        try:
            return self.launcher.launch([overrides], initial_job_idx=job_idx)
        finally:
            self.composed.forget(overrides)  # a launcher that composes in its workers

    def _trial_node(self, study_name: str, number: int, parent_run_id: str) -> TrialNode:
        """What a job is told of its trial (the `sweep` node of conf/train.yaml)."""
        return TrialNode(
            study=study_name,
            storage=store_reference(str(self.settings.storage)),  # its password: the environment
            trial=number,
            parent_run_id=parent_run_id,
            threads=self.threads,
            devices=self.devices,
            repeats=self.settings.repeats,
            repeat_reduce=self.settings.repeat_reduce,
        )

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
        """Counts failed trials: those that raised, and points given up after being interrupted
        `max_interruptions` times in a row (a trial that kills its sweep every time must trip
        this). Trials interrupted and queued again are not failures: kills come from outside."""
        ended = ended_trials(study)
        failed = [t for t in ended if t.state == TrialState.FAIL]
        if len(failed) <= math.floor(self.settings.max_failure_rate * n_trials + 1e-9):
            return
        gave_up = given_up(study)
        raised = [t.number for t in failed if t.number not in gave_up]
        reasons = []
        if raised:
            reasons.append(
                f"{numbered(raised)} raised an error (it is in their FAILED MLflow runs)"
            )
        if gave_up:
            reasons.append(
                f"{numbered(sorted(gave_up))} were interrupted "
                f"hydra.sweeper.max_interruptions={self.settings.max_interruptions} times in a "
                "row (a point that may kill its sweep)"
            )
        raise SweepError(
            f"{len(failed)} of {len(ended)} trials failed, more than hydra.sweeper."
            f"max_failure_rate={self.settings.max_failure_rate} of n_trials={n_trials} allows "
            f"(interrupted trials that ran again do not count): {'; '.join(reasons)}"
        )

    def _tell(self, study: optuna.Study, trial: Trial, ret: JobReturn) -> tuple[FrozenTrial, str]:
        """Tells Optuna how the job ended; returns the ended trial and its error ("" if none)."""
        error: BaseException | None = None
        value = None
        try:  # a failed job's exception is raised here, after Hydra's line on stderr, which
            # would call every pruned trial an error: the sweep says how each trial ended
            with contextlib.redirect_stderr(io.StringIO()):
                value = ret.return_value
        except Exception as err:
            error = err
        if isinstance(error, TrialPruned):
            return study.tell(trial, state=TrialState.PRUNED), ""
        if error is None and ret.status is JobStatus.COMPLETED:
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
