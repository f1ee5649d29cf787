"""Tasks beyond classes: regression (a value per image) and segmentation (a class per pixel), from
generated shapes and from files, with their heads, metrics, evaluation, predictions and exports."""

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from blueprint.data.facts import check_task, load_data
from blueprint.data.pipeline import to_dataset
from blueprint.data.shapes import load_shapes
from blueprint.diagnostics.split_evaluation import evaluate_split
from blueprint.errors import BlueprintError, ConfigError, DataError
from blueprint.evaluate import evaluate
from blueprint.export import _agreement, export
from blueprint.models.heads import adapt_targets, task_of
from blueprint.models.unet import build_unet
from blueprint.predict import predict
from blueprint.schema import EvaluateRun, ExportRun, PredictRun
from blueprint.serving.command import compose_command
from blueprint.training.metrics import MeanDice
from tests.helpers import (
    assert_one_line_error,
    data_overrides,
    run_train,
    write_shapes_files,
)

SHAPES = ["circle", "square", "triangle"]


def shapes(task: str, count: int = 60):
    return load_shapes(task, count, (16, 16), SHAPES, 0.2, 0.2, seed=3)


def test_generated_shapes_give_each_task_its_targets() -> None:
    classes, values, masks = shapes("classification"), shapes("regression"), shapes("segmentation")
    assert classes.targets == "classes" and classes.class_names == SHAPES
    assert values.targets == "values" and values.class_names == []
    assert masks.targets == "masks" and masks.class_names == ["background", *SHAPES]
    # The same seed draws the same images; a value is the share its mask covers.
    np.testing.assert_array_equal(values.train.images, masks.train.images)
    covered = (masks.train.labels > 0).mean(axis=(1, 2))
    np.testing.assert_allclose(values.train.labels, covered, rtol=1e-6)
    assert covered.min() > 0.05 and covered.max() < 0.45
    # Each mask marks the pixels whose grey level differs from the background's.
    image, mask = masks.train.images[0, ..., 0], masks.train.labels[0]
    inside, outside = image[mask > 0].mean(), image[mask == 0].mean()
    assert abs(inside - outside) > 50
    assert set(np.unique(masks.train.labels)) <= {0, 1, 2, 3}


def test_the_task_must_fit_the_data(compose_cfg) -> None:
    cfg = compose_cfg("task=regression")
    data = load_data(cfg.data, list(cfg.allowed_targets))  # the digits: classes
    with pytest.raises(DataError, match="task=regression learns from values but digits holds"):
        check_task("regression", data)
    with pytest.raises(DataError, match=r"trainer\.class_weight=balanced"):
        check_task("regression", shapes("regression"), "balanced")


def test_a_regression_head_outputs_the_targets_units_and_is_recognised(compose_cfg) -> None:
    keras.backend.clear_session()
    cfg = compose_cfg("task=regression", "data=shapes", "data.count=60", "model=mlp")
    allowed = list(cfg.allowed_targets)
    data = load_data(cfg.data, allowed)
    from blueprint.models.build import build_model

    model = build_model(cfg, allowed)
    adapt_targets(model, np.array([10.0, 20.0, 30.0]))  # mean 20, variance 200/3
    assert task_of(model) == "regression" and model.output_shape == (None, 1)
    # The linear unit learns a standardised value; the model gives it in the targets' units.
    standardised = keras.Model(model.inputs, model.get_layer("head").output)
    unit = standardised.predict(data.val.images, verbose=0)
    outputs = model.predict(data.val.images, verbose=0)
    np.testing.assert_allclose(outputs, unit * np.sqrt(200 / 3) + 20.0, rtol=1e-5)
    assert task_of(build_unet([16, 16, 1], 4)) == "segmentation"


def test_a_unet_checks_its_input_divides_and_keeps_the_image_size() -> None:
    keras.backend.clear_session()
    model = build_unet([16, 24, 1], 3, filters=[8, 16, 32])
    assert model.output_shape == (None, 16, 24, 3)
    with pytest.raises(ConfigError, match="divide by 4"):
        build_unet([18, 18, 1], 3, filters=[8, 16, 32])


def test_mean_dice_matches_its_definition() -> None:
    true = np.array([[[0, 0], [1, 2]]])
    predicted = np.array([[[0, 1], [1, 1]]])
    metric = MeanDice(num_classes=3)
    metric.update_state(true, keras.ops.one_hot(predicted, 3))
    # class 0: 2*1/(2+1), class 1: 2*1/(1+3), class 2: 0/(1+0)
    expected = np.mean([2 / 3, 2 / 4, 0.0])
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)


def test_augmentation_moves_each_mask_with_its_image() -> None:
    data = shapes("segmentation")
    images = (data.train.labels > 0)[..., None].astype("float32") * 200.0  # image = its mask
    split = type(data.train)(images, data.train.labels)
    flips = keras.layers.RandomFlip("horizontal_and_vertical", seed=1)
    augmented_batches = to_dataset(split, 16, shuffle_seed=0, augment_with_masks=flips)
    plain_batches = to_dataset(split, 16, shuffle_seed=0)
    moved = 0
    for (augmented, masks), (_, plain_masks) in zip(augmented_batches, plain_batches, strict=True):
        np.testing.assert_array_equal(augmented.numpy()[..., 0] > 100, masks.numpy() > 0)
        moved += int(np.any(masks.numpy() != plain_masks.numpy()))
    assert moved  # the flips did change masks, and the images changed with them


def test_evaluations_measure_values_and_masks() -> None:
    def read(indices):
        return np.zeros((len(indices), 2, 2, 1))

    values = evaluate_split(
        "values", np.array([[1.0], [2.0], [5.0]]), np.array([1.0, 3.0, 5.0]), read, [], 0, 2
    )
    assert values.metrics()["val_mae"] == pytest.approx(1 / 3)
    assert values.metrics()["val_rmse"] == pytest.approx(np.sqrt(1 / 3))
    assert values.worst_titles[0] == "3 -> 2"
    masks = np.array([[[0, 1], [1, 1]], [[0, 0], [0, 1]]])
    outputs = keras.ops.convert_to_numpy(keras.ops.one_hot(np.array([[[0, 1], [1, 0]]] * 2), 2))
    result = evaluate_split("masks", outputs, masks, read, ["background", "cell"], 0, 1)
    # 8 pixels; background: 4 true, 4 predicted, 2 both; cell: 4 true, 4 predicted, 2 both
    assert result.per_class()["background"]["iou"] == pytest.approx(2 / 6)
    assert result.per_class()["cell"]["dice"] == pytest.approx(2 * 2 / 8)
    assert result.metrics()["val_iou"] == pytest.approx(1 / 3)
    assert result.overlays.shape == (1, 2, 2 * 2 + 2, 3)


def test_export_agreement_for_values_is_within_a_share_of_their_spread() -> None:
    expected = np.linspace(0, 1, 100)[:, None]
    assert _agreement("regression", expected, expected + 1e-4) == 1.0
    assert _agreement("regression", expected, expected + 0.1) == 0.0
    assert _agreement("segmentation", np.eye(2)[None], np.eye(2)[None]) == 1.0


def test_regression_targets_from_a_csv_are_numbers_split_at_random(compose_cfg, tmp_path) -> None:
    root = write_shapes_files(tmp_path / "shapes")
    cfg = compose_cfg(
        "task=regression",
        "data=csv",
        f"data.path={root / 'targets.csv'}",
        "data.image_size=[16,16]",
    )
    data = load_data(cfg.data, list(cfg.allowed_targets))
    assert data.targets == "values" and data.class_names == [] and cfg.data.num_classes is None
    assert data.train.labels.dtype == np.float32 and len(data.train) + len(data.val) == 34
    saved = next((tmp_path / "inventories").glob("*/inventory.json")).read_text()
    assert '"split": "random"' in saved


def test_a_non_numeric_target_names_its_line(compose_cfg, tmp_path) -> None:
    root = write_shapes_files(tmp_path / "shapes", count=20)
    table = root / "targets.csv"
    lines = table.read_text().splitlines()
    lines[3] = lines[3].split(",")[0] + ",large"
    table.write_text("\n".join(lines) + "\n")
    cfg = compose_cfg("task=regression", "data=csv", f"data.path={table}")
    with pytest.raises(DataError, match=r"line 4 has target 'large', which is not a number"):
        load_data(cfg.data, list(cfg.allowed_targets))


def test_masks_from_folders_are_read_with_their_images(compose_cfg, tmp_path) -> None:
    cfg = compose_cfg("task=segmentation", "model=unet", *data_overrides("masks", tmp_path))
    data = load_data(cfg.data, list(cfg.allowed_targets))
    assert data.targets == "masks" and data.num_classes == 4
    images, masks = next(iter(to_dataset(data.train, 8)))
    assert images.shape == (8, 16, 16, 1) and masks.shape == (8, 16, 16)
    # each mask is the one written for its image: the shape's pixels differ from the background
    for image, mask in zip(images.numpy()[..., 0], masks.numpy(), strict=True):
        assert abs(image[mask > 0].mean() - image[mask == 0].mean()) > 50


def test_images_without_masks_or_with_unknown_classes_are_one_line(compose_cfg, tmp_path) -> None:
    cfg = compose_cfg("task=segmentation", "model=unet", *data_overrides("masks", tmp_path))
    (tmp_path / "shapes" / "masks" / "007.png").unlink()
    with pytest.raises(DataError, match=r"1 of 40 images .* have no mask .* \(first: 007.png\)"):
        load_data(cfg.data, list(cfg.allowed_targets))
    write_shapes_files(tmp_path / "shapes")  # the missing mask back
    cfg.data.class_names = ["background", "circle", "square"]  # triangles are class 3
    with pytest.raises(DataError, match=r"holds class 3 but data\.class_names names 3 classes"):
        load_data(cfg.data, list(cfg.allowed_targets))


def test_predict_writes_values_and_mask_files(tmp_path: Path) -> None:
    keras.backend.clear_session()
    root = write_shapes_files(tmp_path / "shapes", count=6, size=16)
    from blueprint.models.cnn import build_cnn

    regression = build_cnn([16, 16, 1], None, task="regression", filters=[8], dense_units=[8])
    adapt_targets(regression, np.array([0.1, 0.3]))
    segmentation = build_unet([16, 16, 1], 4, filters=[8, 16])
    rows = {}
    for name, model in (("values", regression), ("masks", segmentation)):
        model.save(tmp_path / f"{name}.keras")
        overrides = [f"model={tmp_path / name}.keras", f"input={root / 'images'}"]
        cfg = compose_command("predict", [*overrides, f"output={tmp_path / name}.csv"], PredictRun)
        with open(predict(cfg)) as file:
            rows[name] = list(csv.DictReader(file))
    assert list(rows["values"][0]) == ["file", "value", "error"]
    assert all(0.0 < float(r["value"]) < 0.4 for r in rows["values"])
    assert list(rows["masks"][0]) == ["file", "mask", "error"]
    from PIL import Image

    mask = np.asarray(Image.open(tmp_path / rows["masks"][0]["mask"]))
    assert mask.shape == (16, 16) and mask.max() < 4
    assert len(list((tmp_path / "masks_masks").glob("*.png"))) == 6
    (tmp_path / "masks.csv").unlink()
    with pytest.raises(BlueprintError, match="masks_masks exists"):
        predict(cfg)  # masks are never written over without force=true, even without their CSV


def test_a_task_the_data_cannot_give_is_one_line_from_the_cli(run_cli, tmp_path) -> None:
    result = run_cli("task=regression")  # the digits hold classes
    assert_one_line_error(result, "task=regression learns from values", "data=csv", "data=shapes")
    assert not (tmp_path / "mlflow.db").exists()


# What each task's diagnostics draw in place of the confusion matrix.
TASK_PICTURES = {
    "regression": ["residuals.png", "worst_predicted.png", "predictions.json"],
    "segmentation": ["worst_segmented.png", "per_class.json"],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "metric", "bound"),
    [("regression", "test_mae", 0.025), ("segmentation", "test_iou", 0.8)],
)
def test_task_experiments_reach_their_quality_then_predict_evaluate_and_export(
    tmp_path: Path, experiment: str, metric: str, bound: float
) -> None:
    """The named experiment trains on generated shapes to its stated quality, with its task's
    diagnostics; its model then predicts files, evaluates its test split again (the run's own
    data, from its logged overrides) and exports to ONNX, verified."""
    result = run_train(tmp_path, f"experiment={experiment}", "trainer.verbose=0")
    assert result.returncode == 0, result.stderr[-3000:]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    value = run.data.metrics[metric]
    assert value < bound if metric == "test_mae" else value >= bound, (metric, value)
    drawn = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "diagnostics")}
    assert set(TASK_PICTURES[experiment]) <= drawn and "confusion_matrix.png" not in drawn

    root = write_shapes_files(tmp_path / "files", count=8, size=32)
    common = [f"model={run.info.run_id}", f"tracking_uri={uri}"]
    output = tmp_path / "p.csv"
    predict(
        compose_command(
            "predict", [*common, f"input={root / 'images'}", f"output={output}"], PredictRun
        )
    )
    assert len(output.read_text().splitlines()) == 9
    scores = evaluate(compose_command("evaluate", common, EvaluateRun), [])
    assert scores[metric] == pytest.approx(value, abs=1e-4)  # the same split, the same model
    onnx = tmp_path / "m.onnx"
    export(compose_command("export", [*common, "format=onnx", f"output={onnx}"], ExportRun), [])
    [logged] = client.search_runs([run.info.experiment_id], "tags.`blueprint.command` = 'export'")
    assert logged.data.metrics["agreement"] == 1.0 and onnx.stat().st_size > 0
