"""tf.data input pipelines over in-memory splits."""

import tensorflow as tf

from blueprint.data.splits import Split


def to_dataset(split: Split, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches a split; with `shuffle_seed`, reshuffles every epoch in a seeded order."""
    dataset = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
