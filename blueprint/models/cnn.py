"""A VGG-style conv stack: the cats-vs-dogs reference design, sized by config."""

import keras

from blueprint.models.heads import output_head
from blueprint.models.preprocessing import image_input


def build_cnn(
    input_shape: list[int],
    num_classes: int | None,
    input_scale: float = 255.0,
    task: str = "classification",
    augment: keras.Layer | None = None,
    filters: list[int] = (64, 128, 256),
    dense_units: list[int] = (128, 64),
    dropout: float = 0.5,
    name: str = "cnn",
) -> keras.Model:
    """Conv2D(3x3, ReLU, same) + 2x2 max-pool per filter count, Flatten, dense layers, head.

    Pooling pads ('same'), so each stage rounds up and even 7x7 inputs survive three stages;
    smaller ones would pool 1x1 maps, which is a config mistake, not a model.
    """
    smallest = 2 ** (len(filters) - 1) + 1  # the last stage still pools a 2x2 map
    if min(input_shape[:2]) < smallest:
        raise ValueError(
            f"{input_shape[0]}x{input_shape[1]} images are too small for {len(filters)} pooling "
            f"stages (model.filters); use data.image_size of at least [{smallest},{smallest}] "
            "or fewer model.filters"
        )
    inputs, x = image_input(input_shape, input_scale, augment)
    for i, n in enumerate(filters):
        x = keras.layers.Conv2D(n, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
        if dropout > 0 and i < len(dense_units) - 1:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    return keras.Model(inputs, output_head(task, num_classes)(x), name=name)
