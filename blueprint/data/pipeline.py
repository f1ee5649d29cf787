"""tf.data input pipelines over in-memory arrays or image files, and reading a few images."""

import keras
import numpy as np
import tensorflow as tf

from blueprint.data.decoding import load_image, load_mask, read_images, read_masks
from blueprint.data.splits import ArraySplit, FileSplit, Split

# A file cache replays its first pass in order: this many decoded images are reshuffled at a time,
# so shuffling never holds a whole split in memory that was cached to disk to avoid just that.
FILE_CACHE_SHUFFLE_BUFFER = 2048


def to_dataset(
    split: Split,
    batch_size: int,
    shuffle_seed: int | None = None,
    augment_with_masks: keras.Layer | None = None,
) -> tf.data.Dataset:
    """Batches of (raw images, labels); with `shuffle_seed`, a seeded new order every epoch.

    `augment_with_masks`: Keras preprocessing layers applied to each batch of images and masks
    together (segmentation: a flip or rotation moves both alike, nearest neighbour for masks)."""
    if isinstance(split, ArraySplit):
        dataset = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    else:
        dataset = _file_dataset(split, shuffle_seed)
    dataset = dataset.batch(batch_size)
    if augment_with_masks is not None:
        dataset = dataset.map(
            lambda images, masks: _augmented(augment_with_masks, images, masks),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _augmented(augment: keras.Layer, images: tf.Tensor, masks: tf.Tensor):
    both = augment(
        {"images": images, "segmentation_masks": tf.cast(masks[..., None], "float32")},
        training=True,
    )
    return both["images"], tf.cast(tf.round(both["segmentation_masks"][..., 0]), masks.dtype)


def _file_dataset(split: FileSplit, shuffle_seed: int | None) -> tf.data.Dataset:
    """Read and decode in parallel. Paths are shuffled before decoding, so no image waits in a
    shuffle buffer; a cache of decoded images is shuffled after it instead."""
    dataset = tf.data.Dataset.from_tensor_slices((list(split.paths), split.labels))
    if shuffle_seed is not None and split.cache == "none":
        dataset = dataset.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    size = split.image_size
    dataset = dataset.map(
        lambda path, label: (
            load_image(path, size, split.channels),
            load_mask(label, size, split.mask_classes) if split.mask_classes else label,
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if split.cache == "memory":
        dataset = dataset.cache()
    elif split.cache != "none":
        dataset = dataset.cache(f"{split.cache}-{split.cache_key}")
    if shuffle_seed is not None and split.cache != "none":
        buffer = len(split) if split.cache == "memory" else FILE_CACHE_SHUFFLE_BUFFER
        dataset = dataset.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset


def images_at(split: Split, indices: np.ndarray) -> np.ndarray:
    """The raw images at `indices`, reading only those files."""
    if isinstance(split, ArraySplit):
        return split.images[indices]
    paths = [split.paths[i] for i in indices]
    return read_images(paths, split.image_size, split.channels)


def targets_at(split: Split, indices: np.ndarray) -> np.ndarray:
    """The targets at `indices`: labels, or masks read from their files."""
    if isinstance(split, FileSplit) and split.mask_classes:
        paths = [str(split.labels[i]) for i in indices]
        return read_masks(paths, split.image_size, split.mask_classes)
    return split.labels[indices]
