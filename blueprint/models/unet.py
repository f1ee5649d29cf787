"""A small U-Net (Ronneberger et al., 2015): an encoder of conv blocks and poolings, a decoder
that upsamples and joins each encoder block's features, and a softmax per pixel."""

import keras

from blueprint.errors import ConfigError
from blueprint.models.heads import HEAD, HEAD_DTYPE
from blueprint.models.preprocessing import image_input

# Keras' default 0.99 averages batch statistics over ~100 steps: a small dataset would validate on
# near-initial statistics for the first epochs. 0.9 follows within an epoch.
BATCH_NORM_MOMENTUM = 0.9


def build_unet(
    input_shape: list[int],
    num_classes: int,
    input_scale: float = 255.0,
    task: str = "segmentation",
    filters: list[int] = (16, 32, 64),
    dropout: float = 0.1,
    name: str = "unet",
) -> keras.Model:
    """Two Conv2D(3x3, ReLU, same) + batch norm per `filters` entry; 2x2 max-pooling between
    encoder blocks, 2x2 transposed convolutions back up. The output has the input's height and
    width and one probability per class, so sides must divide by 2 ** (len(filters) - 1)."""
    if task != "segmentation":
        raise ConfigError(
            f"model=unet predicts a mask per image; it needs task=segmentation, not task={task}"
        )
    step = 2 ** (len(filters) - 1)
    height, width = input_shape[:2]
    if height % step or width % step:
        raise ConfigError(
            f"model=unet with {len(filters)} model.filters halves {height}x{width} images "
            f"{len(filters) - 1} times; use a data.image_size whose sides divide by {step}"
        )
    inputs, x = image_input(input_shape, input_scale)
    skips = []
    for i, count in enumerate(filters):
        if i:
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, name=f"down{i}")(x)
        x = _block(x, count, f"encode{i}")
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    for i, count in reversed(list(enumerate(filters[:-1]))):
        x = keras.layers.Conv2DTranspose(count, 2, strides=2, name=f"up{i}")(x)
        x = keras.layers.Concatenate(name=f"join{i}")([x, skips[i]])
        x = _block(x, count, f"decode{i}")
    outputs = keras.layers.Conv2D(
        num_classes, 1, activation="softmax", name=HEAD, dtype=HEAD_DTYPE
    )(x)
    return keras.Model(inputs, outputs, name=name)


def _block(x: keras.KerasTensor, count: int, name: str) -> keras.KerasTensor:
    for j in range(2):
        x = keras.layers.Conv2D(count, 3, padding="same", use_bias=False, name=f"{name}_conv{j}")(x)
        x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_norm{j}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{j}")(x)
    return x
