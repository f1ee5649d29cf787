"""The gradient and activation capture for the running Keras backend.

Its own module so that imports run one way: backends -> tf_capture -> capture, with `capture`
(the protocol and weights) knowing no backend.
"""

import weakref
from collections.abc import Sequence

import keras

from blueprint.diagnostics.capture import Capture
from blueprint.errors import ConfigError

# A model's captures by the variables and layers they read: a sweep's later trials train the same
# compiled model (blueprint.training.warm_models) and reuse its traced capture too. Weak: a model
# nothing else keeps goes with its captures, which hold it weakly.
_CAPTURES: "weakref.WeakKeyDictionary[keras.Model, dict[tuple, Capture]]" = (
    weakref.WeakKeyDictionary()
)


def capture_for(
    model: keras.Model,
    weighted: Sequence[keras.layers.Layer],
    outputs: Sequence[keras.layers.Layer],
) -> Capture:
    """The capture for the running Keras backend; the one made earlier for `model` where the
    same layers are chosen."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from blueprint.diagnostics.tf_capture import TensorFlowCapture

        variables = [v for layer in weighted for v in layer.trainable_weights]
        key = (*(v.path for v in variables), "->", *(layer.path for layer in outputs))
        captures = _CAPTURES.setdefault(model, {})
        if key not in captures:
            captures[key] = TensorFlowCapture(model, variables, outputs)
        return captures[key]
    raise ConfigError(
        f"diagnostics capture supports the TensorFlow backend, not {backend!r}; "
        "run with diagnostics=off"
    )
