"""Classification heads and the loss that matches each."""

import keras

HEAD = "head"  # the output layer's name in every model blueprint builds


def classification_head(num_classes: int) -> keras.layers.Layer:
    """One sigmoid unit for two classes, a softmax over the classes otherwise."""
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    if num_classes == 2:
        return keras.layers.Dense(1, activation="sigmoid", name=HEAD)
    return keras.layers.Dense(num_classes, activation="softmax", name=HEAD)


def classification_loss(num_classes: int) -> keras.losses.Loss:
    """The loss that fits `classification_head(num_classes)` with integer labels."""
    if num_classes == 2:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy()
