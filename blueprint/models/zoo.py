"""Known architectures from `keras.applications` as backbones under a classification head.

Each application expects its own input range; that scaling is a layer inside the model, so
predict and export keep taking raw pixels. Grey images are repeated to three channels, so that
ImageNet weights (and a backbone trained on colour images) fit them. The backbone is one nested
model named "backbone", so its weights keep their names whatever the input size.
"""

import contextlib
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from blueprint.errors import ConfigError
from blueprint.models.heads import output_head
from blueprint.models.preprocessing import image_input
from blueprint.plumbing.keras_home import keras_cache_dir

DOWNLOAD_URL = re.compile(r"https?://\S+?\.h5")  # in Keras' error for a failed weights download


# The applications' batch norms average their statistics over ~1000 steps (momentum 0.999): on a
# small dataset trained from scratch, validation would run on near-initial statistics for many
# epochs. 0.9 follows within an epoch; pretrained statistics are frozen anyway (see below).
BATCH_NORM_MOMENTUM = 0.9


@dataclass(frozen=True)
class Application:
    constructor: Callable[..., keras.Model]
    min_size: int  # the smallest height and width it accepts (keras.applications' own limit)
    scale: float  # [0, 1] pixels times this, plus offset, is the range it was trained on
    offset: float


APPLICATIONS = {
    "mobilenet_v2": Application(keras.applications.MobileNetV2, 32, 2.0, -1.0),
    "xception": Application(keras.applications.Xception, 71, 2.0, -1.0),
    # EfficientNet rescales and normalises inside; it takes 0-255 pixels.
    "efficientnet_b0": Application(keras.applications.EfficientNetB0, 32, 255.0, 0.0),
}


def build_mobilenet_v2(alpha: float = 1.0, **options) -> keras.Model:
    """MobileNetV2; `alpha` scales every layer's width (0.35 is ~0.4 M parameters)."""
    return build_application("mobilenet_v2", backbone_args={"alpha": alpha}, **options)


def build_xception(**options) -> keras.Model:
    """Xception (~21 M parameters, inputs of at least 71x71)."""
    return build_application("xception", **options)


def build_efficientnet_b0(**options) -> keras.Model:
    """EfficientNetB0 (~4 M parameters)."""
    return build_application("efficientnet_b0", **options)


def build_application(
    architecture: str,
    input_shape: list[int],
    num_classes: int | None,
    input_scale: float = 255.0,
    task: str = "classification",
    augment: keras.Layer | None = None,
    weights: str = "none",
    freeze_backbone: bool = False,
    fine_tune_at: int | float | None = None,
    dropout: float = 0.2,
    name: str | None = None,
    backbone_args: dict | None = None,
) -> keras.Model:
    """Backbone (without its top), global average pooling, dropout, then the head.

    `weights`: "none" (random init), "imagenet", or a path to the backbone's weights file.
    `freeze_backbone` trains the head alone; `fine_tune_at` (a layer index, or a fraction of the
    backbone's layers) keeps the layers below it frozen and trains the rest.
    """
    application = APPLICATIONS[architecture]
    height, width, channels = input_shape
    if min(height, width) < application.min_size:
        size = application.min_size
        raise ConfigError(
            f"{architecture} needs images of at least {size}x{size}, got {height}x{width}; "
            f"resize them: data.image_size=[{size},{size}] or larger (digits, folder, csv)"
        )
    inputs, x = image_input(input_shape, input_scale, augment)
    if channels == 1:
        x = keras.layers.Concatenate(name="to_rgb")([x, x, x])
    x = keras.layers.Rescaling(application.scale, application.offset, name="backbone_range")(x)
    backbone = _backbone(application, (height, width, 3), weights, architecture, backbone_args)
    _freeze(backbone, freeze_backbone, fine_tune_at)
    for layer in backbone.layers:  # see BATCH_NORM_MOMENTUM
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    # Pretrained batch-norm statistics stay as they are, frozen or fine-tuned (keras.io's
    # transfer-learning guide); a backbone trained from scratch learns its own.
    x = backbone(x, training=False if weights != "none" else None)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, output_head(task, num_classes)(x), name=name or architecture)


def _backbone(
    application: Application,
    input_shape: tuple[int, int, int],
    weights: str,
    architecture: str,
    backbone_args: dict | None,
) -> keras.Model:
    """The application without its top, named "backbone"; offline, ImageNet weights fail at once
    with one line saying where to place the file."""
    try:
        # Keras prints the download's URL and progress, and warns that ImageNet weights come
        # from 224x224 training whatever the input size (convolutions take any size).
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Weights for input shape")
            return application.constructor(
                input_shape=input_shape,
                include_top=False,
                weights=_weights_argument(weights, architecture),
                name="backbone",
                **(backbone_args or {}),
            )
    except Exception as err:  # Keras wraps network failures in a bare Exception
        url = DOWNLOAD_URL.search(str(err))
        if weights != "imagenet" or url is None:
            raise
        folder = keras_cache_dir("models")
        raise ConfigError(
            f"model.weights=imagenet: cannot download {url.group(0)} (offline?); download it on "
            f"a machine online and place it in {folder}/, where model.weights=imagenet finds it"
        ) from None


def _weights_argument(weights: str, architecture: str) -> str | None:
    """keras.applications' `weights`; a path must name a file."""
    if weights == "none":
        return None
    if weights == "imagenet":
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model.weights={weights} is not a file; give the path of {architecture}'s weights "
            "without its top (.h5 or .weights.h5), imagenet or none"
        )
    return str(path)


def _freeze(backbone: keras.Model, freeze_backbone: bool, fine_tune_at: int | float | None) -> None:
    if freeze_backbone:
        backbone.trainable = False
    elif fine_tune_at is not None:
        layers = backbone.layers
        first = fine_tune_at if isinstance(fine_tune_at, int) else int(fine_tune_at * len(layers))
        if first >= len(layers):
            raise ConfigError(
                f"model.fine_tune_at={fine_tune_at} is past the backbone's {len(layers)} layers; "
                f"use an index below {len(layers)} or a fraction below 1"
            )
        for layer in layers[:first]:
            layer.trainable = False
