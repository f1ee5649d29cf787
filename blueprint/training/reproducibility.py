"""Seeding and determinism: the same config and seed give the same run."""

import keras
import tensorflow as tf


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and Keras; `deterministic` also turns on TensorFlow op determinism."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
