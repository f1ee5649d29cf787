"""What a training job sees of its sweep trial; a no-op outside sweeps, so train() stays one path.

The sweeper passes each job a `sweep` node (`blueprint.sweeps.contract.TrialNode`: study,
storage, trial number, parent MLflow run, thread share). Optuna and Keras load only inside a
sweep trial, never at import.
"""

import contextlib
import copy
import functools
import math
from typing import Any

from omegaconf import DictConfig

from blueprint.sweeps.contract import (
    DEVICES_TAG,
    REPEAT_TAG,
    REPEATS_ATTR,
    RUN_ATTR,
    STUDY_TAG,
    TRIAL_TAG,
    TrialNode,
)


class SweepTrial:
    """The job's handle on its Optuna trial: tags its MLflow run, reports epochs, prunes."""

    def __init__(self, cfg: DictConfig) -> None:
        self.node = TrialNode.of(cfg)
        self.metric: str = cfg.objective.metric
        self.repeat: int | None = None  # which of a repeated point's runs this handle trains
        self.trial_run_id: str | None = None  # the trial's run, its repeats' parent
        self.devices: str | None = None  # its slot and GPUs, with hydra.sweeper.gpus_per_trial

    @property
    def repeats(self) -> int:
        """How often the trial trains its point (`hydra.sweeper.repeats`); 1 outside sweeps."""
        return self.node.repeats if self.node else 1

    def for_repeat(self, number: int, trial_run_id: str) -> "SweepTrial":
        """The handle repeat `number` trains with: its run nests under the trial's, and only the
        first repeat reports its epochs to the trial (Optuna keeps one value per step)."""
        repeat = copy.copy(self)
        repeat.repeat, repeat.trial_run_id = number, trial_run_id
        return repeat

    @property
    def parent_run_id(self) -> str | None:
        if self.trial_run_id:
            return self.trial_run_id
        return self.node.parent_run_id if self.node else None

    @property
    def active(self) -> bool:
        """Whether this job is a sweep trial."""
        return self.node is not None

    def prepare(self) -> None:
        """The trial's share of the machine, taken before TensorFlow starts: its slot's GPUs
        (`hydra.sweeper.gpus_per_trial`) and, where trials run in parallel, its CPU threads. A
        worker process that already ran a trial has its thread pools set, hence the suppress."""
        if not self.node:
            return
        if self.node.devices:
            from blueprint.sweeps.devices import lease_folder, use_devices

            self.devices = use_devices(self.node.devices, lease_folder(self.node.parent_run_id))
        if self.node.threads:
            import tensorflow as tf

            with contextlib.suppress(RuntimeError):
                tf.config.threading.set_intra_op_parallelism_threads(self.node.threads)
                tf.config.threading.set_inter_op_parallelism_threads(self.node.threads)

    def callbacks(self) -> list[Any]:
        """The callback reporting each epoch's objective to the trial (and pruning it)."""
        if not self.node or self.repeat:  # a later repeat: the first one reported
            return []
        from blueprint.sweeps.pruning_callback import ReportToTrial

        return [ReportToTrial(self._trial(), self.metric)]

    def beats_best(self, value: float) -> bool:
        """Whether `value` beats the study's best ended trial as this trial first asks (always
        outside a sweep, while no trial has completed, and for a value that cannot be compared:
        NaN). What a trial keeps beyond its metrics (evaluation pictures, its logged model)
        follows it; the best is read once a trial, so both follow the same best even where
        another slot's trial ends between the two questions."""
        if not self.node or math.isnan(value):
            return True
        best = self._best_so_far()
        if best is None:  # no completed trial yet
            return True
        best_value, maximize = best
        return value > best_value if maximize else value < best_value

    def _best_so_far(self) -> tuple[float, bool] | None:
        """The study's best value and whether it maximizes, read at the first question."""
        if not hasattr(self, "_best"):
            study = self._trial().study
            try:
                self._best: tuple[float, bool] | None = (
                    study.best_value,
                    study.direction.name == "MAXIMIZE",
                )
            except ValueError:
                self._best = None
        return self._best

    def run_links(self) -> dict[str, Any]:
        """`tracked_run`'s keywords that make this job's MLflow run the trial's: its parent
        (the sweep's run, or the trial's for a repeat), the trial's tags and its name."""
        return {
            "parent_run_id": self.parent_run_id,
            "tags": self.run_tags(),
            "name": self.run_name(),
        }

    def run_tags(self) -> dict[str, str]:
        """The tags linking this job's MLflow run to its trial, set as the run starts."""
        if not self.node:
            return {}
        tags = {STUDY_TAG: self.node.study, TRIAL_TAG: str(self.node.trial)}
        if self.devices:
            tags[DEVICES_TAG] = self.devices
        return tags if self.repeat is None else tags | {REPEAT_TAG: str(self.repeat)}

    def run_name(self) -> str | None:
        """The trial's run name (`trial_run_name`); None outside a sweep, where the run is
        named as any single run."""
        return trial_run_name(self.node.trial, self._trial().params) if self.node else None

    def attach(self, run_id: str) -> None:
        """Links the Optuna trial to the MLflow run (a user attr; the run has `run_tags`): the
        trial's own run, not one of its repeats'."""
        if self.node and self.repeat is None:
            self._trial().set_user_attr(RUN_ATTR, run_id)

    def record_repeats(self, summary: dict[str, Any]) -> None:
        """Keeps a repeated point's per-seed values and spread with its trial, where the sweep's
        summary and `make sweeps` read them."""
        self._trial().set_user_attr(REPEATS_ATTR, summary)

    def warm(self, model: Any, cfg: DictConfig) -> Any:
        """The compiled model this trial trains: in a sweep, an earlier trial's of the same
        network and optimizer where this process kept one, started from `model`'s values, so
        its traced steps are reused (`blueprint.training.warm_models`); else `model`."""
        if not self.node:
            return model
        from blueprint.training.warm_models import compiled_key, kept_models

        key = compiled_key(cfg)
        return model if key is None else kept_models().adopt(model, key)

    def _trial(self) -> Any:
        if not hasattr(self, "_optuna_trial"):
            self._optuna_trial = open_trial(self.node.study, self.node.storage, self.node.trial)
        return self._optuna_trial


def trial_run_name(number: int, params: dict[str, Any]) -> str:
    """What tells trials apart first, within the ~20 characters MLflow's runs table shows:
    `t<number>` and its swept values by each key's last part (`t3-lr0.003-dropout0.2`),
    floats to 3 significant digits."""
    values = [
        f"{key.rsplit('.', 1)[-1]}{f'{value:.3g}' if isinstance(value, float) else value}"
        for key, value in params.items()
    ]
    return "-".join([f"t{number}", *values])


def open_trial(study_name: str, storage_url: str, number: int) -> Any:
    """The running optuna.Trial `number`, with the study's pruner, opened from another process."""
    import optuna

    from blueprint.sweeps.pruners import PRUNER_ATTR, build_pruner

    storage = _trials_storage(storage_url)
    study_id = storage.get_study_id_from_name(study_name)
    spec = storage.get_study_user_attrs(study_id).get(PRUNER_ATTR, {"name": "none"})
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(),  # never samples here; the cheapest to build
        pruner=build_pruner(spec["name"], spec.get("kwargs", {})),
    )
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


@functools.cache
def _trials_storage(storage_url: str) -> Any:
    """One a process: the trials a sweep runs in its own process share it (opening a store
    checks its schema, 30 ms)."""
    from blueprint.credentials import study_store
    from blueprint.sweeps.study_store import open_storage

    return open_storage(study_store(storage_url), create=False)
