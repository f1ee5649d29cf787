"""Reading one image file the way training does, and finding the files that cannot be read.

TensorFlow decodes PNG, JPEG, BMP and GIF (first frame) in C++. Every file is decoded to three
channels first, which every format supports (greyscale, palette, RGBA and 16-bit files included),
then converted to the configured channels and resized, so mixed files end up alike.
"""

import re
import time

import keras
import numpy as np
import tensorflow as tf

PROGRESS_AFTER_S = 2.0  # a check that takes longer shows a progress bar from then on


def load_image(path: tf.Tensor, image_size: tuple[int, int], channels: int) -> tf.Tensor:
    """(height, width, channels) float32 raw pixel values in 0..255."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    return tf.image.resize(image, image_size)


def load_mask(path: tf.Tensor, image_size: tuple[int, int], classes: int) -> tf.Tensor:
    """(height, width) int32 class ids from a mask file's first channel, resized with nearest
    neighbour so that no pixel gets a class between two others. With two classes any non-zero
    pixel is the foreground, so masks saved as 0/255 work as they are."""
    mask = tf.io.decode_image(tf.io.read_file(path), channels=1, expand_animations=False)
    mask = tf.image.resize(mask, image_size, method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
    mask = tf.cast(mask[..., 0], tf.int32)
    return tf.minimum(mask, 1) if classes == 2 else mask


def read_images(paths: list[str], image_size: tuple[int, int], channels: int) -> np.ndarray:
    """A few images as one array, for the diagnostics probe batch and the worst-mistake grid."""
    if not paths:
        return np.zeros((0, *image_size, channels), dtype="float32")
    return np.stack([load_image(tf.constant(p), image_size, channels).numpy() for p in paths])


def read_masks(paths: list[str], image_size: tuple[int, int], classes: int) -> np.ndarray:
    """A few masks as one (n, height, width) array, for the diagnostics probe batch."""
    if not paths:
        return np.zeros((0, *image_size), dtype="int32")
    return np.stack([load_mask(tf.constant(p), image_size, classes).numpy() for p in paths])


def unreadable(paths: list[str]) -> dict[int, str]:
    """Index -> reason for every file TensorFlow cannot decode (corrupt, truncated, not an image).

    One parallel tf.data pass that drops failures; only the few that failed are decoded again,
    one by one, to say why. A pass of more than a couple of seconds shows Keras' progress bar.
    """
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    decoded = dataset.map(  # a value from the pixels: TensorFlow prunes work whose result is unused
        lambda i, path: (i, tf.reduce_sum(_decoded_small(path))),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).ignore_errors()
    readable = set()
    started, progress = time.monotonic(), None
    for index, _ in decoded.as_numpy_iterator():
        readable.add(int(index))
        if progress is None and time.monotonic() - started > PROGRESS_AFTER_S:
            progress = keras.utils.Progbar(len(paths), unit_name="file")
        if progress is not None:
            progress.update(int(index) + 1)  # in order: every file before it was checked
    if progress is not None:
        progress.update(len(paths), finalize=True)
    failed = {}
    for index in sorted(set(range(len(paths))) - readable):
        try:
            load_image(tf.constant(paths[index]), (1, 1), 3)
            failed[index] = "could not be decoded"  # failed in the pass, not alone: say so
        except (tf.errors.OpError, ValueError) as err:
            failed[index] = _reason(err)
    return failed


def _decoded_small(path: tf.Tensor) -> tf.Tensor:
    """The file decoded as cheaply as a full decode would fail: a JPEG at 1/8 scale (libjpeg
    still reads every coded block, so a truncated or corrupt file fails as it does in training;
    2.6x faster on 320-500 px photos), any other format whole."""
    data = tf.io.read_file(path)
    return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, ratio=8),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False),
    )


def _reason(err: Exception) -> str:
    """TensorFlow's message without its `{{function_node ...}}` prefix and op suffix."""
    text = getattr(err, "message", str(err))
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text).split(" [Op:")[0]
    return (text.strip().splitlines() or ["unreadable"])[0]
