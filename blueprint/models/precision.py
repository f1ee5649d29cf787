"""Mixed precision through Keras' dtype policy (`trainer.precision`), and a model's float32 twin.

A layer takes the global policy when it is built and keeps it (it is saved with the layer), so
the policy is set around building alone and put back after: sweep trials and tests build many
models in one process. Variables stay float32 under either mixed policy; the heads
(`blueprint.models.heads`) and Keras' losses compute in float32; `Model.compile` wraps a
mixed_float16 model's optimizer in Keras' LossScaleOptimizer.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

FLOAT32 = "float32"


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy is `name` inside, whatever it was before outside."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def is_mixed(model: keras.Model) -> bool:
    """Whether `model` or one of its layers computes below float32 (built under a mixed policy)."""
    return any(layer.compute_dtype != FLOAT32 for layer in [model, *model.layers])


def float32_twin(model: keras.Model) -> keras.Model:
    """`model` rebuilt with every layer's policy float32 and its weights copied (a mixed model's
    variables are float32 already): what TFLite and ONNX run, which have no bfloat16 kernels
    and no float16 ones on CPU. `model` itself where it is float32 throughout."""
    if not is_mixed(model):
        return model
    config = _float32_policies(keras.saving.serialize_keras_object(model))
    twin = keras.saving.deserialize_keras_object(config)
    twin.set_weights(model.get_weights())
    return twin


def _float32_policies(node: Any) -> Any:
    """A serialized model with every mixed dtype policy made float32."""
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and str(
            node.get("config", {}).get("name", "")
        ).startswith("mixed_"):
            return {**node, "config": {**node["config"], "name": FLOAT32}}
        return {key: _float32_policies(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_float32_policies(value) for value in node]
    return node
