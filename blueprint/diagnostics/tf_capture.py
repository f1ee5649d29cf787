"""Gradient and activation capture with TensorFlow: the only diagnostics module importing it."""

import weakref
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from blueprint.diagnostics.capture import Captured


class TensorFlowCapture:
    """One forward pass of a model that also returns the chosen layers' outputs, under a tape.

    `training=False`: dropout off and batch-norm statistics untouched, so capturing never changes
    the model and successive epochs differ only by their weights.
    """

    def __init__(
        self,
        model: keras.Model,
        variables: Sequence[keras.Variable],
        layers: Sequence[keras.layers.Layer],
    ) -> None:
        self._model = weakref.proxy(model)  # kept by the model's trials (backends.capture_for)
        self._variables = list(variables)
        self._names = [layer.name for layer in layers]
        self._outputs = len(model.outputs)
        self._probe = keras.Model(
            model.inputs, [*model.outputs, *(layer.output for layer in layers)]
        )
        self._step = tf.function(self._forward_backward, reduce_retracing=True)

    def _forward_backward(self, x: tf.Tensor, y: tf.Tensor) -> tuple[list, list]:
        with tf.GradientTape() as tape:
            outputs = self._probe(x, training=False)
            y_pred = outputs[0] if self._outputs == 1 else outputs[: self._outputs]
            loss = self._model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        return tape.gradient(loss, self._variables), outputs[self._outputs :]

    def capture(self, x: np.ndarray, y: np.ndarray) -> Captured:
        gradients, activations = self._step(tf.constant(x), tf.constant(y))
        return Captured(
            gradients={
                v.path: g.numpy()
                for v, g in zip(self._variables, gradients, strict=True)
                if g is not None  # a variable the loss does not reach
            },
            activations={n: a.numpy() for n, a in zip(self._names, activations, strict=True)},
        )
