"""Model builders: the shapes they accept and the heads they put on."""

import numpy as np
import pytest

from blueprint.models.cnn import build_cnn
from blueprint.models.heads import classification_head, task_loss
from blueprint.models.mlp import build_mlp


@pytest.mark.parametrize("size", [7, 8, 32, 256])
def test_cnn_accepts_small_to_large_images(size: int) -> None:
    model = build_cnn([size, size, 3], num_classes=5, filters=[4, 8, 8], dense_units=[8, 4])
    out = model.predict(np.zeros((2, size, size, 3), "float32"), verbose=0)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_cnn_follows_the_reference_layer_order() -> None:
    model = build_cnn([8, 8, 1], num_classes=10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer", "Rescaling",
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
        "Flatten", "Dense", "Dropout", "Dense", "Dense",
    ]  # fmt: skip
    assert [model.get_layer(f"conv{i}").filters for i in range(3)] == [64, 128, 256]
    assert model.get_layer("dropout0").rate == 0.5


def test_two_classes_get_one_sigmoid_unit_and_binary_loss() -> None:
    head = classification_head(2)
    assert head.units == 1 and head.activation.__name__ == "sigmoid"
    assert type(task_loss("binary", 2)).__name__ == "BinaryCrossentropy"
    assert type(task_loss("classification", 10)).__name__ == "SparseCategoricalCrossentropy"
    assert type(task_loss("regression", None)).__name__ == "MeanSquaredError"
    assert type(task_loss("segmentation", 4)).__name__ == "SparseCategoricalCrossentropy"


def test_mlp_rescales_raw_pixels_inside_the_model() -> None:
    model = build_mlp([8, 8, 1], num_classes=3, hidden_units=[4], dropout=0)
    rescale = model.get_layer("rescale")
    assert rescale.scale == pytest.approx(1 / 255)  # the 0..255 pixels every source gives
    assert model.output_shape == (None, 3)
