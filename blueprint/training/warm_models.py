"""Compiled models that later trials of a sweep, run in the same process, train again.

TensorFlow traces a model's training and evaluation steps the first time each runs: 0.3-0.4 s
that a 1-epoch trial of a small network spends before it learns anything, and that every trial
paid again. A trial that builds the same network, loss, metrics and optimizer as an earlier one
(a sweep over the learning rate, the batch size, the seed, or among a few optimizers) differs
only in values Keras keeps in variables: it trains the earlier trial's compiled model with its
own starting values copied in (weights, random-seed states, optimizer step, learning rate and
slots), so its traced steps are reused and it learns exactly as its own model would.
"""

import atexit
import functools
import gc
import json
import sys
from collections.abc import Iterator
from typing import Any

import keras
from omegaconf import Container, DictConfig, OmegaConf

KEPT = 3  # compiled models kept: one for each optimizer of a sweep choosing among three
TRACE_SAFE = ("blueprint.", "keras.")  # components whose random draws are seeded variables
OPAQUE = ("keras.layers.Lambda", "keras.layers.TFSMLayer")  # Keras', but running any code


# The trainer's keys the compiled model depends on: its layers' dtypes and how `compile` runs steps.
TRAINER_KEYS = ("precision", "steps_per_execution", "jit_compile")


def compiled_key(cfg: DictConfig) -> str | None:
    """What the compiled graph depends on: the network (its config holds the data's shapes and
    scale), augmentation, task, loss, metrics and optimizer, less a numeric learning rate (a
    variable, copied in, which a `schedule` sets each epoch), and TRAINER_KEYS. The data's
    values (split, seed) are not in the graph.

    None where a component of the graph is your own (a `_target_` outside blueprint and Keras):
    its `call` may draw from `tf.random` or NumPy, which the first trial's tracing would fix for
    later trials."""
    parts = {
        key: OmegaConf.to_container(value, resolve=True) if isinstance(value, Container) else value
        for key in ("model", "augment", "task", "loss", "metrics", "optimizer", "allowed_targets")
        if (value := cfg.get(key)) is not None
    }
    if not all(_trace_safe(target) for target in _targets(parts)):
        return None
    parts["trainer"] = {key: cfg.trainer.get(key) for key in TRAINER_KEYS}
    if isinstance(parts["optimizer"].get("lr"), int | float):
        del parts["optimizer"]["lr"]
    return json.dumps(parts, sort_keys=True)


def _trace_safe(target: str) -> bool:
    return target.startswith(TRACE_SAFE) and not target.startswith(OPAQUE)


def _targets(node: Any) -> Iterator[str]:
    """Every `_target_` in a plain container, however nested."""
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            yield node["_target_"]
        for value in node.values():
            yield from _targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _targets(value)


class WarmModels:
    """The compiled models of the first `kept` keys (`compiled_key`) a process trains.

    Kept for good, never replaced: they outlive the trials that made them, so the sweep freezes
    them out of Python's garbage collection (`free_keras_state`), and a
    frozen model dropped later would never be freed. A sweep whose every trial builds another
    network (over `model.dropout`, say) thus holds `kept` models, not one a trial.
    """

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._models: dict[str, keras.Model] = {}
        self._new = True  # a process's first trial keeps its modules and registries for good

    def adopt(self, model: keras.Model, key: str) -> keras.Model:
        """The model to train: the one kept for `key`, given `model`'s starting values, or
        `model` itself, kept if there is room. `model` is compiled; its training state need not
        be built."""
        warm = self._models.get(key)
        if warm is not None and _starts_from(warm, model):
            model = warm
        elif warm is None and len(self._models) < self.kept:
            self._models[key] = model
            self._new = True
        return model

    def kept_a_new_model(self) -> bool:
        """Whether a model was newly kept (or nothing asked yet) since the last call."""
        new, self._new = self._new, False
        return new


def _starts_from(warm: keras.Model, fresh: keras.Model) -> bool:
    """Copies `fresh`'s variables and its new optimizer's into `warm`; False, copying nothing,
    where they do not match one to one (a network whose structure the config does not say)."""
    for model in (warm, fresh):  # the kept one is built by its first trial, unless that failed
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    pairs = [
        *zip(warm.variables, fresh.variables, strict=False),
        *zip(warm.optimizer.variables, fresh.optimizer.variables, strict=False),
    ]
    same = (
        type(warm.optimizer) is type(fresh.optimizer)
        and len(warm.variables) == len(fresh.variables)
        and len(warm.optimizer.variables) == len(fresh.optimizer.variables)
        and all(_like(a, b) for a, b in pairs)
    )
    if same:
        for target, source in pairs:
            target.assign(source)
    return same


def _like(a: Any, b: Any) -> bool:
    return tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype


# --- a process's state between the trials it runs -----------------------------------------


@functools.cache
def kept_models() -> "WarmModels":
    """One a process, kept across the trials it runs."""
    return WarmModels()


def free_keras_state() -> None:
    """Drops the finished trial's graphs and models (but those kept for later trials, see
    `SweepTrial.warm`) so in-process trials do not pile up memory.

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
        _drop_custom_gradients()
        keras.backend.clear_session()
        if kept_models().kept_a_new_model():
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
