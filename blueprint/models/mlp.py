"""A dense network on the flattened image."""

import keras

from blueprint.models.heads import output_head
from blueprint.models.preprocessing import image_input


def build_mlp(
    input_shape: list[int],
    num_classes: int | None,
    input_scale: float = 255.0,
    task: str = "classification",
    augment: keras.Layer | None = None,
    hidden_units: list[int] = (256, 128),
    activation: str = "relu",
    dropout: float = 0.2,
    name: str = "mlp",
) -> keras.Model:
    """Flatten, then Dense(units, activation) + Dropout per `hidden_units` entry, then the head."""
    inputs, x = image_input(input_shape, input_scale, augment)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation=activation, name=f"dense{i}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    return keras.Model(inputs, output_head(task, num_classes)(x), name=name)
