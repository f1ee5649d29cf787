"""What a training job sees of its sweep trial; a no-op outside sweeps, so train() stays one path.

The sweeper passes each job a `sweep` node (`blueprint.sweeps.contract.TrialNode`: study,
storage, trial number, parent MLflow run, thread share). Optuna and Keras load only inside a
sweep trial, never at import.
"""

import atexit
import contextlib
import functools
import gc
import sys
from typing import Any

from omegaconf import DictConfig

from blueprint.sweeps.contract import RUN_ATTR, STUDY_TAG, TRIAL_TAG, TrialNode


class SweepTrial:
    """The job's handle on its Optuna trial: tags its MLflow run, reports epochs, prunes."""

    def __init__(self, cfg: DictConfig) -> None:
        self.node = TrialNode.of(cfg)
        self.metric: str = cfg.objective.metric

    @property
    def parent_run_id(self) -> str | None:
        return self.node.parent_run_id if self.node else None

    def limit_threads(self) -> None:
        """Holds TensorFlow to this job's share of the CPU when trials run in parallel.

        A worker process that already ran a trial has its thread pools set, hence the suppress.
        """
        if not self.node or not self.node.threads:
            return
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):
            tf.config.threading.set_intra_op_parallelism_threads(self.node.threads)
            tf.config.threading.set_inter_op_parallelism_threads(self.node.threads)

    def callbacks(self) -> list[Any]:
        """The callback reporting each epoch's objective to the trial (and pruning it)."""
        if not self.node:
            return []
        from blueprint.sweeps.pruning_callback import ReportToTrial

        return [ReportToTrial(self._trial(), self.metric)]

    def run_tags(self) -> dict[str, str]:
        """The tags linking this job's MLflow run to its trial, set as the run starts."""
        if not self.node:
            return {}
        return {STUDY_TAG: self.node.study, TRIAL_TAG: str(self.node.trial)}

    def attach(self, run_id: str) -> None:
        """Links the Optuna trial to the MLflow run (a user attr; the run has `run_tags`)."""
        if self.node:
            self._trial().set_user_attr(RUN_ATTR, run_id)

    def keeping_compiled_steps(self, cfg: DictConfig) -> contextlib.AbstractContextManager:
        """Around seeding: in a sweep trial of blueprint's and Keras' components only, TensorFlow
        keeps the steps it instantiated for earlier trials' models, which `warm` may reuse. Not
        where the trial asks for deterministic ops: those made before it turns them on would
        stay."""
        from blueprint.training.warm_models import kernel_cache_kept, library_only

        if self.node and not cfg.trainer.deterministic and library_only(cfg):
            return kernel_cache_kept()
        return contextlib.nullcontext()

    def warm(self, model: Any, cfg: DictConfig) -> Any:
        """The compiled model this trial trains: in a sweep, an earlier trial's of the same
        network and optimizer where this process kept one, started from `model`'s values, so
        its traced steps are reused (`blueprint.training.warm_models`); else `model`."""
        if not self.node:
            return model
        from blueprint.training.warm_models import compiled_key

        key = compiled_key(cfg)
        return model if key is None else _warm_models().adopt(model, key)

    def _trial(self) -> Any:
        if not hasattr(self, "_optuna_trial"):
            self._optuna_trial = open_trial(self.node.study, self.node.storage, self.node.trial)
        return self._optuna_trial


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
def _warm_models() -> Any:
    """One a process, kept across the trials it runs."""
    from blueprint.training.warm_models import WarmModels

    return WarmModels()


@functools.cache
def _trials_storage(storage_url: str) -> Any:
    """One a process: the trials a sweep runs in its own process share it (opening a store
    checks its schema, 30 ms)."""
    from blueprint.credentials import study_store
    from blueprint.sweeps.storage import open_storage

    return open_storage(study_store(storage_url), create=False)


def free_keras_state(cfg: DictConfig | None = None) -> None:
    """Drops the finished trial's graphs and models (but those kept for later trials, see
    `SweepTrial.warm`) so in-process trials do not pile up memory. TensorFlow's kernel cache, the
    steps it instantiated, goes too, but after a trial (`cfg`) of blueprint's and Keras'
    components that trained a kept model: the next one may train it again.

    Keras' clear_session also runs Python's garbage collector over every object, which took half
    a second a trial: what survives it for good (modules and TensorFlow's registries after the
    first trial, a compiled model newly kept) is then frozen out of later collections
    (`gc.freeze`), so they walk little more than one trial's objects. Other trials freeze
    nothing: their config, still alive here, would be frozen too and, its nodes holding
    reference cycles, never freed (0.45 MB a trial). Reference counting still frees frozen
    objects; their cycles are thawed at exit, so that the last collection still closes what they
    hold (a SQLite store's connections, whose closing writes its journal back into the file).
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        from blueprint.training.warm_models import kernel_cache_kept, library_only

        _drop_custom_gradients()
        trained_kept = _warm_models().trained_a_kept_model()  # asked every trial: it resets
        keep = trained_kept and cfg is not None and library_only(cfg)
        with kernel_cache_kept() if keep else contextlib.nullcontext():
            keras.backend.clear_session()
        if _warm_models().kept_a_new_model():
            _thaw_at_exit()
            gc.freeze()


@functools.cache
def _thaw_at_exit() -> None:
    """Once a process: a flag, since `gc.get_freeze_count()` walks every frozen object (0.1 s)."""
    atexit.register(gc.unfreeze)


def _drop_custom_gradients() -> None:
    """TensorFlow registers the gradient of every traced `tf.custom_gradient` op (Keras' training
    step all-reduces its gradients through one) in a process-wide registry that never forgets it,
    so each trial's training graph and model stayed alive: 5 MB a trial. The finished trial's
    graphs are gone, so are their entries; without TensorFlow's private registry, nothing to do."""
    from tensorflow.python.framework import ops

    entries = getattr(getattr(ops, "_gradient_registry", None), "_registry", {})
    for name in [name for name in entries if name.startswith("CustomGradient-")]:
        del entries[name]
