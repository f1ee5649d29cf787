"""Preprocessing inside the model, so the saved model takes raw pixels at predict time."""

import keras


def image_input(
    input_shape: list[int], input_scale: float, augment: keras.Layer | None = None
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Returns the model input and its (augmented, in training) output rescaled to [0, 1]."""
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = augment(inputs) if augment is not None else inputs
    return inputs, keras.layers.Rescaling(1.0 / input_scale, name="rescale")(x)
