"""The model zoo (keras.applications backbones) and starting a run from an earlier model."""

from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from blueprint.errors import ConfigError
from blueprint.models.cnn import build_cnn
from blueprint.models.mlp import build_mlp
from blueprint.models.zoo import APPLICATIONS, build_application, build_mobilenet_v2
from blueprint.predict import predict
from blueprint.schema import PredictRun
from blueprint.serving import exporters
from blueprint.serving.command import compose_command
from blueprint.tracking.epoch_logger import epoch_metric_key
from blueprint.training.initial_weights import copy_weights
from tests.helpers import (
    assert_one_line_error,
    error_lines,
    run_train,
    write_image_folder,
)

SMALL = {"backbone_args": {"alpha": 0.35}}  # MobileNetV2's narrowest width, where it applies


def small(architecture: str) -> dict:
    return SMALL if architecture == "mobilenet_v2" else {}


def new_process_build(architecture: str, *args, **options) -> keras.Model:
    """Built as a new run's process builds it: Keras names unnamed layers (EfficientNet's
    `normalization`) by counters that only a cleared session starts again."""
    keras.backend.clear_session()
    return build_application(architecture, *args, **options)


def mobilenet(**options) -> keras.Model:
    """The narrowest MobileNetV2 on 32x32 colour images."""
    return build_mobilenet_v2(alpha=0.35, input_shape=[32, 32, 3], **options)


@pytest.mark.parametrize("architecture", list(APPLICATIONS))
def test_each_backbone_takes_raw_grey_pixels_at_its_minimum_size(architecture: str) -> None:
    size = APPLICATIONS[architecture].min_size
    model = build_application(
        architecture, [size, size, 1], num_classes=3, input_scale=255.0, **small(architecture)
    )
    pixels = np.random.default_rng(0).uniform(0, 255, (2, size, size, 1)).astype("float32")
    out = model.predict(pixels, verbose=0)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    to_backbone = keras.Model(model.inputs, model.get_layer("backbone_range").output)
    black_white = np.stack([np.zeros((size, size, 1)), np.full((size, size, 1), 255.0)])
    low, high = (image.min() for image in to_backbone.predict(black_white, verbose=0))
    expected = (0.0, 255.0) if architecture == "efficientnet_b0" else (-1.0, 1.0)
    assert (low, high) == pytest.approx(expected)  # the range each application was trained on
    assert model.get_layer("backbone").input_shape[-1] == 3  # grey repeated to three channels


@pytest.mark.parametrize("architecture", list(APPLICATIONS))
def test_images_below_a_backbones_minimum_are_refused_naming_the_size(architecture: str) -> None:
    size = APPLICATIONS[architecture].min_size
    with pytest.raises(ConfigError, match=rf"data.image_size=\[{size},{size}\]"):
        build_application(architecture, [size - 1, size, 3], num_classes=3)


def test_freezing_trains_the_head_alone_and_fine_tune_at_the_layers_above() -> None:
    frozen = mobilenet(num_classes=4, freeze_backbone=True)
    assert [v.path for v in frozen.trainable_weights] == ["head/kernel", "head/bias"]

    tuned = mobilenet(num_classes=4, fine_tune_at=0.75)
    layers = tuned.get_layer("backbone").layers
    first = int(0.75 * len(layers))
    assert not any(layer.trainable for layer in layers[:first])
    assert all(layer.trainable for layer in layers[first:])
    with pytest.raises(ConfigError, match=r"model\.fine_tune_at=9999 is past"):
        mobilenet(num_classes=4, fine_tune_at=9999)


def test_backbone_weights_load_from_a_file(tmp_path: Path) -> None:
    first = mobilenet(num_classes=2)
    file = tmp_path / "backbone.weights.h5"
    first.get_layer("backbone").save_weights(file)
    second = mobilenet(num_classes=2, weights=str(file))
    for mine, theirs in zip(
        first.get_layer("backbone").weights, second.get_layer("backbone").weights, strict=True
    ):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    with pytest.raises(ConfigError, match=r"model\.weights=nowhere\.h5 is not a file"):
        mobilenet(num_classes=2, weights="nowhere.h5")


def test_imagenet_weights_offline_fail_at_once_saying_where_the_file_goes(tmp_path: Path) -> None:
    """Offline as CI's machines are, made certain by a proxy that refuses every connection."""
    offline = {"KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": "http://127.0.0.1:9"}
    result = run_train(
        tmp_path,
        "model=mobilenet_v2",
        "data.image_size=[32,32]",
        "model.weights=imagenet",
        env=offline,
    )
    assert_one_line_error(
        result,
        "model.weights=imagenet: cannot download https://",
        f"place it in {tmp_path}/keras/models/",
    )
    assert not (tmp_path / "mlflow.db").exists()  # refused before any run was recorded


# --- initial weights ------------------------------------------------------------------------


def cnn(num_classes: int = 10, filters: list[int] = (8, 16)) -> keras.Model:
    return build_cnn([8, 8, 1], num_classes, filters=list(filters), dense_units=[16, 8])


def test_initial_weights_copy_every_layer_and_a_new_head_starts_fresh() -> None:
    source = cnn(num_classes=10)
    same = cnn(num_classes=10)
    copy_weights(source, same, "model.initial_weights=x")
    for mine, theirs in zip(same.weights, source.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())

    other_classes = cnn(num_classes=3)
    head_before = other_classes.get_layer("head").get_weights()
    copy_weights(source, other_classes, "model.initial_weights=x")
    np.testing.assert_array_equal(
        other_classes.get_layer("conv0").get_weights()[0],
        source.get_layer("conv0").get_weights()[0],
    )
    for before, after in zip(
        head_before, other_classes.get_layer("head").get_weights(), strict=True
    ):
        np.testing.assert_array_equal(before, after)


def test_a_model_started_from_another_predicts_as_it_does() -> None:
    """EfficientNet's Normalization derives its mean and variance tensors from its weights:
    they must follow the copied weights, as they do when Keras loads a file."""
    source, target = (new_process_build("efficientnet_b0", [32, 32, 3], 3) for _ in range(2))
    [normalization] = [
        layer
        for layer in source.get_layer("backbone").layers
        if isinstance(layer, keras.layers.Normalization)
    ]
    normalization.adapt_mean.assign(np.full(normalization.adapt_mean.shape, 100.0))
    normalization.adapt_variance.assign(np.full(normalization.adapt_variance.shape, 900.0))
    normalization.finalize_state()
    copy_weights(source, target, "model.initial_weights=x")
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        target.predict(images, verbose=0), source.predict(images, verbose=0), atol=1e-6
    )


def test_a_model_that_does_not_match_names_its_first_layer_and_stays_as_it_was() -> None:
    source = cnn(filters=(8, 16))
    wider = cnn(filters=(8, 32))
    before = [v.numpy() for v in wider.weights]
    with pytest.raises(ConfigError, match=r"layer 'conv1' holds kernel of shape \(3, 3, 8, 16\)"):
        copy_weights(source, wider, "model.initial_weights=x")
    for variable, value in zip(wider.weights, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)  # conv0 matched, yet not written

    mlp = build_mlp([8, 8, 1], num_classes=10, hidden_units=[16, 8])  # dense0 and dense1 match
    with pytest.raises(ConfigError, match=r"layer 'conv0' of 'cnn' has no counterpart in this"):
        copy_weights(source, mlp, "model.initial_weights=x")


@pytest.mark.slow
def test_a_run_started_from_an_earlier_run_starts_at_a_lower_loss(tmp_path: Path) -> None:
    """Transfer for real, nothing downloaded: the CNN trained on digits 0-5, then digits 6-9 from
    those weights (the head, sized for 4 classes, starts fresh) against the same model from
    random init, both with the same seed. Measured after the first epoch: training loss 1.10
    against 1.31, validation loss 0.62 against 1.07. (The zoo's nested backbones copy the same
    way, as the fast tests above show; the CNN keeps this run short.)"""
    common = ["diagnostics=off", "tracking.log_model=false", "trainer.verbose=0"]
    first = run_train(tmp_path, *common, "data.classes=[0,1,2,3,4,5]", "trainer.epochs=8")
    assert first.returncode == 0, error_lines(first)[-3:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    [source] = client.search_runs(["1"])

    losses = {}
    for name, extra in (
        ("random", []),
        ("transfer", [f"model.initial_weights={source.info.run_id}"]),
    ):
        result = run_train(
            tmp_path,
            *common,
            "data.classes=[6,7,8,9]",
            "trainer.epochs=1",
            f"hydra.run.dir={tmp_path}/{name}",
            *extra,
        )
        assert result.returncode == 0, error_lines(result)[-3:]
        [run] = client.search_runs(["1"], order_by=["start_time DESC"], max_results=1)
        losses[name] = {
            key: client.get_metric_history(run.info.run_id, epoch_metric_key(key))[0].value
            for key in ("loss", "val_loss")
        }
    assert losses["transfer"]["loss"] < losses["random"]["loss"], losses
    assert losses["transfer"]["val_loss"] < 0.75 * losses["random"]["val_loss"], losses


@pytest.mark.slow
@pytest.mark.parametrize("architecture", list(APPLICATIONS))
def test_every_zoo_model_trains_an_epoch_and_exports_verified(
    architecture: str, tmp_path: Path
) -> None:
    size = APPLICATIONS[architecture].min_size
    model = build_application(architecture, [size, size, 3], num_classes=3, **small(architecture))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (6, size, size, 3)).astype("float32")
    history = model.fit(images, np.arange(6) % 3, epochs=1, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    exporters.write("onnx", model, tmp_path / "model.onnx", calibration=images)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    assert [tensor.name for tensor in session.get_inputs()] == ["image"]
    exported = exporters.load("onnx", tmp_path / "model.onnx")
    np.testing.assert_allclose(exported(images), model.predict(images, verbose=0), atol=1e-4)


@pytest.mark.slow
def test_a_zoo_model_trains_from_the_command_line_then_predicts(tmp_path: Path) -> None:
    """The CLI trains it; predict (in this process: its CLI is tested on the digits) reads its
    run folder. Each zoo model's export is verified above; a run folder's, on the digits."""
    images = write_image_folder(tmp_path / "images", {"a": 8, "b": 8, "c": 8}, size=(32, 32))
    result = run_train(
        tmp_path,
        "model=mobilenet_v2",
        "data=folder",
        f"data.path={images}",
        "data.image_size=[32,32]",
        "trainer.epochs=1",
        "diagnostics=off",
        "tracking.log_model=false",
        "trainer.verbose=0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    common = [f"model={tmp_path / 'run'}", f"tracking_uri=sqlite:///{tmp_path}/mlflow.db"]
    output = tmp_path / "p.csv"
    predict(
        compose_command("predict", [*common, f"input={images}", f"output={output}"], PredictRun)
    )
    assert len(output.read_text().splitlines()) == 1 + 24


def test_initial_weights_that_name_no_model_are_one_line(tmp_path: Path) -> None:
    result = run_train(tmp_path, "model.initial_weights=nowhere.keras", "trainer.epochs=1")
    assert_one_line_error(result, "model.initial_weights=nowhere.keras: no such file")
    assert not (tmp_path / "mlflow.db").exists()
