"""What a model holds at an epoch: its weights (any backend) and, behind `Capture`, its gradients
and layer outputs on a probe batch. Only `tf_capture` knows TensorFlow; another Keras backend adds
one module and one branch in `backends.capture_for`, and the histogram, plotting and logging code
stay as they are. This module imports none of them: they import it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Protocol

import keras
import numpy as np

RELU_FAMILY = ("relu", "relu6")  # activations that output exact zeros, so units can die


@dataclass(frozen=True)
class Captured:
    gradients: dict[str, np.ndarray]  # by variable path, e.g. "conv0/kernel"
    activations: dict[str, np.ndarray]  # by layer name: the layer's output on the probe batch


class Capture(Protocol):
    def capture(self, x: np.ndarray, y: np.ndarray) -> Captured:
        """Loss gradients and layer outputs on one batch, from one forward and backward pass."""
        ...


def select_layers(
    model: keras.Model, patterns: Sequence[str], weightless: bool
) -> tuple[list[keras.layers.Layer], list[keras.layers.Layer]]:
    """(layers whose weights are captured, layers whose outputs are captured), by name pattern.

    Outputs are those of the weighted layers, plus every other layer's if `weightless`. A nested
    model (a zoo backbone) has its weights captured but not its output: Keras keeps only the
    output of its own inner graph, which the outer model's inputs do not reach.
    """
    matching = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
        and any(fnmatchcase(layer.name, pattern) for pattern in patterns)
    ]
    weighted = [layer for layer in matching if layer.weights]
    outputs = matching if weightless else weighted
    return weighted, [layer for layer in outputs if not isinstance(layer, keras.Model)]


def nested_models(layers: Sequence[keras.layers.Layer]) -> dict[str, str]:
    """Variable path -> the name of the nested model (a zoo backbone) among `layers` holding it."""
    return {
        variable.path: layer.name
        for layer in layers
        if isinstance(layer, keras.Model)
        for variable in layer.weights
    }


def merge_nested(tensors: dict[str, np.ndarray], nested: dict[str, str]) -> dict[str, np.ndarray]:
    """Each nested model's tensors as one, under its name and in its place: the summary view of
    a backbone of hundreds of variables is one histogram and one set of metrics, like a layer's."""
    owners = set(nested.values())
    parts: dict[str, list[np.ndarray]] = {}
    for path, values in tensors.items():
        parts.setdefault(nested.get(path, path), []).append(values)
    return {
        name: np.concatenate([p.ravel() for p in group]) if name in owners else group[0]
        for name, group in parts.items()
    }


def read_weights(layers: Sequence[keras.layers.Layer]) -> dict[str, np.ndarray]:
    return {v.path: keras.ops.convert_to_numpy(v.value) for layer in layers for v in layer.weights}


def is_relu_family(layer: keras.layers.Layer) -> bool:
    """Layers whose output is a ReLU (fused `activation=` or a ReLU/Activation layer)."""
    if isinstance(layer, keras.layers.ReLU):
        return not layer.negative_slope
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") in RELU_FAMILY
