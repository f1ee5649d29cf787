"""The gradient and activation capture for the running Keras backend.

Its own module so that imports run one way: backends -> tf_capture -> capture, with `capture`
(the protocol and weights) knowing no backend.
"""

from collections.abc import Sequence

import keras

from blueprint.diagnostics.capture import Capture
from blueprint.errors import ConfigError


def capture_for(
    model: keras.Model,
    weighted: Sequence[keras.layers.Layer],
    outputs: Sequence[keras.layers.Layer],
) -> Capture:
    """The capture for the running Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from blueprint.diagnostics.tf_capture import TensorFlowCapture

        variables = [v for layer in weighted for v in layer.trainable_weights]
        return TensorFlowCapture(model, variables, outputs)
    raise ConfigError(
        f"diagnostics capture supports the TensorFlow backend, not {backend!r}; "
        "run with diagnostics=off"
    )
