"""Each export format: how the Keras model is written, and how the written file is loaded again
with its own runtime to predict, so every export is checked before it is called done.

- keras: `model.save`; loaded with `keras.saving.load_model` (safe mode).
- saved_model: `model.export` (a TensorFlow SavedModel); loaded with `tf.saved_model.load`.
- tflite: `tf.lite.TFLiteConverter`, float32; run by the LiteRT interpreter (`ai-edge-litert`).
- tflite_int8: the same with full-integer post-training quantization (uint8 in and out),
  calibrated on training images; run by the LiteRT interpreter.
- onnx: `tf2onnx`; run by `onnxruntime`.

A mixed-precision model (`trainer.precision`) goes to TFLite and ONNX as its float32 twin (the
same weights, float32 layers: `blueprint.models.precision.float32_twin`); its keras and
saved_model exports keep its own policy.
"""

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from blueprint.errors import ConfigError
from blueprint.models.precision import float32_twin

Predictor = Callable[[np.ndarray], np.ndarray]  # raw images (n, h, w, c) -> model outputs
ONNX_OPSET = 17  # supported by onnxruntime 1.15 and later


@dataclass(frozen=True)
class Format:
    file_name: str  # the default name of what is written
    suffix: str  # of the written file ("" for a SavedModel directory)
    packages: tuple[str, ...]  # importable modules it needs beyond TensorFlow and Keras
    min_agreement: float  # share of predicted classes that must match the Keras model's


FORMATS = {
    "keras": Format("model.keras", ".keras", (), 1.0),
    "saved_model": Format("saved_model", "", (), 1.0),
    "tflite": Format("model.tflite", ".tflite", ("ai_edge_litert",), 1.0),
    "tflite_int8": Format("model_int8.tflite", ".tflite", ("ai_edge_litert",), 0.98),
    "onnx": Format("model.onnx", ".onnx", ("tf2onnx", "onnxruntime"), 1.0),
}
PIP_NAMES = {"ai_edge_litert": "ai-edge-litert", "tf2onnx": "tf2onnx", "onnxruntime": "onnxruntime"}


def check_packages(name: str) -> None:
    """One line naming the packages a format needs when one is not installed."""
    missing = [p for p in FORMATS[name].packages if importlib.util.find_spec(p) is None]
    if missing:
        packages = " ".join(PIP_NAMES[p] for p in missing)
        raise ConfigError(
            f"format={name} needs {packages}: pip install {packages} "
            "(or pip install -e '.[export]')"
        )


def write(name: str, model: keras.Model, path: Path, calibration: np.ndarray) -> None:
    """Writes `model` to `path` in format `name`; `calibration`: training images for int8."""
    if name == "keras":
        model.save(path)
    elif name == "saved_model":
        _saved_model(model, path)
    elif name in ("tflite", "tflite_int8"):
        int8 = calibration if name == "tflite_int8" else None
        path.write_bytes(_tflite(float32_twin(model), int8))
    elif name == "onnx":
        path.write_bytes(_onnx(float32_twin(model)))


def _input_spec(model: keras.Model) -> tf.TensorSpec:
    """A batch of raw images; the exported input keeps the name `image`."""
    return tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name="image")


def _inference(model: keras.Model) -> tf.types.experimental.ConcreteFunction:
    """The model's forward pass in inference mode, traced once for the converters. Traced with
    `training=False`, augmentation layers leave no random ops behind, which TFLite cannot
    convert (`model.export` keeps them)."""
    forward = tf.function(lambda images: model(images, training=False))
    return forward.get_concrete_function(_input_spec(model))


def _frozen_inference(model: keras.Model) -> tf.types.experimental.ConcreteFunction:
    """`_inference` with the variables turned into constants. The converters need them so:
    tf2onnx leaves tensors that Keras layers compute once at build time (EfficientNet's
    Normalization mean and variance) as graph inputs the exported model lacks, and TFLite reads
    unfrozen variables wrongly or not at all."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    previous = tf.get_logger().level
    tf.get_logger().setLevel("ERROR")  # freezing warns that its helpers are TF1 APIs
    try:
        return convert_variables_to_constants_v2(_inference(model))
    finally:
        tf.get_logger().setLevel(previous)


def _saved_model(model: keras.Model, path: Path) -> None:
    """A SavedModel whose `serve` endpoint is the inference pass (`model.export` would serve the
    augmentation layers in training mode, transforming every image it is given)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    inference = _inference(model)
    archive.add_endpoint(
        "serve", inference, input_signature=inference.structured_input_signature[0]
    )
    archive.write_out(str(path), verbose=False)


def _onnx(model: keras.Model) -> bytes:
    """tf2onnx on the model's frozen inference pass."""
    import tf2onnx

    frozen = _frozen_inference(model)
    proto, _ = tf2onnx.convert.from_function(
        tf.function(lambda images: frozen(images)[0]),
        input_signature=(_input_spec(model),),
        opset=ONNX_OPSET,
    )
    return proto.SerializeToString()


def _tflite(model: keras.Model, calibration: np.ndarray | None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([_frozen_inference(model)])
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def load(name: str, path: Path) -> Predictor:
    """The exported file loaded with its own runtime, as a function of raw images."""
    if name == "keras":
        model = keras.saving.load_model(path)
        return lambda images: model.predict(images, verbose=0)
    if name == "saved_model":
        loaded = tf.saved_model.load(str(path))
        return lambda images: loaded.serve(tf.constant(images)).numpy()
    if name in ("tflite", "tflite_int8"):
        return _tflite_predictor(path)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return lambda images: session.run(None, {input_name: images})[0]


def _tflite_predictor(path: Path) -> Predictor:
    """One image at a time through the LiteRT interpreter, quantizing in and out where the
    model's tensors are integers."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def predict(images: np.ndarray) -> np.ndarray:
        outputs = []
        for image in images:
            interpreter.set_tensor(source["index"], _quantized(image[None], source))
            interpreter.invoke()
            outputs.append(_dequantized(interpreter.get_tensor(target["index"]), target))
        return np.concatenate(outputs)

    return predict


def _quantized(values: np.ndarray, tensor: dict) -> np.ndarray:
    scale, zero_point = tensor["quantization"]
    if not scale:
        return values.astype(tensor["dtype"])
    limits = np.iinfo(tensor["dtype"])
    return np.clip(np.round(values / scale + zero_point), limits.min, limits.max).astype(
        tensor["dtype"]
    )


def _dequantized(values: np.ndarray, tensor: dict) -> np.ndarray:
    scale, zero_point = tensor["quantization"]
    return (values.astype("float32") - zero_point) * scale if scale else values


def size_bytes(path: Path) -> int:
    """A file's size, or a SavedModel directory's total."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size
