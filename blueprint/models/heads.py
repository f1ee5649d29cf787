"""The output of every model blueprint builds, per task, and the loss that matches each.

A trained model tells its task by its output (`task_of`), so predict, evaluate and export need
nothing beside the `.keras` file to know whether it gives classes, values or masks.
"""

from collections.abc import Callable

import keras
import numpy as np

HEAD = "head"  # the layer that maps features to outputs, in every model blueprint builds
TARGETS = "targets"  # regression: turns the head's standardised value into the target's units
# The head's dtype under any `trainer.precision`: a float16 softmax or sigmoid saturates, and
# outputs, losses and exports then all see float32 (Keras' mixed-precision guide).
HEAD_DTYPE = "float32"


def classification_head(num_classes: int) -> keras.layers.Layer:
    """One sigmoid unit for two classes, a softmax over the classes otherwise."""
    if num_classes is None or num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    if num_classes == 2:
        return keras.layers.Dense(1, activation="sigmoid", name=HEAD, dtype=HEAD_DTYPE)
    return keras.layers.Dense(num_classes, activation="softmax", name=HEAD, dtype=HEAD_DTYPE)


def output_head(
    task: str, num_classes: int | None
) -> Callable[[keras.KerasTensor], keras.KerasTensor]:
    """The head a feature vector goes through for `task` (segmentation has its own model).

    Regression: one linear unit, then the training targets' mean and standard deviation put
    back (`adapt_targets` sets them), so the unit learns a standardised value whatever the
    target's units, and the model still outputs those units."""
    if task == "regression":
        value = keras.layers.Dense(1, name=HEAD, dtype=HEAD_DTYPE)
        to_units = keras.layers.Normalization(axis=-1, invert=True, name=TARGETS, dtype=HEAD_DTYPE)
        return lambda x: to_units(value(x))
    if task == "segmentation":
        raise ValueError("task=segmentation needs a per-pixel model: use model=unet")
    return classification_head(num_classes)


def adapt_targets(model: keras.Model, targets: np.ndarray) -> None:
    """Sets a regression model's target mean and variance from the training targets."""
    layer = _targets_layer(model)
    if layer is not None:
        layer.adapt(np.asarray(targets, dtype="float32").reshape(-1, 1))


def task_of(model: keras.Model) -> str:
    """ "segmentation" (an output per pixel), "regression" (values) or "classification"."""
    if len(model.outputs[0].shape) == 4:
        return "segmentation"
    return "regression" if _targets_layer(model) is not None else "classification"


def _targets_layer(model: keras.Model) -> keras.layers.Layer | None:
    last = model.layers[-1]
    return last if last.name == TARGETS and getattr(last, "invert", False) else None


def task_loss(task: str, num_classes: int | None) -> keras.losses.Loss:
    """The loss that fits the task's output with its targets (loss=auto)."""
    if task == "regression":
        return keras.losses.MeanSquaredError()
    if task == "segmentation":
        return keras.losses.SparseCategoricalCrossentropy()  # a softmax per pixel, any class count
    if num_classes == 2:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy()


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities from a softmax head, or from a single sigmoid unit (binary)."""
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs
