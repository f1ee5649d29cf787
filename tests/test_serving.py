"""Using a trained model: references (run id, registry, file, run directory), predict, evaluate,
the registry, and their bad inputs. One small image-folder model is trained for the module."""

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from omegaconf import OmegaConf

from blueprint.errors import ConfigError, TrainingError
from blueprint.evaluate import evaluate
from blueprint.export import export
from blueprint.predict import predict
from blueprint.schema import EvaluateRun, ExportRun, PredictRun
from blueprint.serving import exporters
from blueprint.serving.command import COMMANDS_DIR, compose_command
from blueprint.serving.reference import load_trained
from blueprint.serving.training_data import split_data_overrides
from tests.helpers import (
    CONF_DIR,
    assert_one_line_error,
    run_command,
    run_train,
    write_image_folder,
)

CLASSES = ["a", "b", "c"]


def store(uri: str) -> MlflowClient:
    """A client whose model registry is this store too, whatever an earlier test set globally."""
    return MlflowClient(uri, registry_uri=uri)


@dataclass(frozen=True)
class Trained:
    tmp: Path
    uri: str
    run_id: str
    run_dir: Path
    new_images: Path  # 2 classes of new images and one broken file


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    tmp = tmp_path_factory.mktemp("serving")
    photos = write_image_folder(tmp / "photos", dict.fromkeys(CLASSES, 24))
    result = run_train(
        tmp,
        "data=folder",
        f"data.path={photos}",
        "data.image_size=[16,16]",
        "trainer.epochs=2",
        "trainer.verbose=0",
        "diagnostics=off",
        "tracking.register_model=photos",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    uri = f"sqlite:///{tmp}/mlflow.db"
    [run] = store(uri).search_runs(["1"])
    new = write_image_folder(tmp / "new", {"x": 3, "y": 3}, seed=5)
    (new / "x" / "broken.png").write_bytes(b"not an image")
    return Trained(tmp, uri, run.info.run_id, tmp / "run", new)


def predict_config(trained: Trained, *overrides: str) -> OmegaConf:
    return compose_command(
        "predict",
        [f"tracking_uri={trained.uri}", f"input={trained.new_images}", *overrides],
        PredictRun,
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_predict_writes_a_row_per_image_with_the_training_class_names(
    trained: Trained, tmp_path: Path
) -> None:
    output = predict(predict_config(trained, f"model={trained.run_id}", f"output={tmp_path}/p.csv"))
    rows = read_rows(output)
    assert len(rows) == 7  # six images and the broken file, which does not stop the job
    assert list(rows[0]) == ["file", "predicted", "confidence", "p_a", "p_b", "p_c", "error"]
    [broken] = [r for r in rows if r["file"].endswith("broken.png")]
    assert broken["error"] and not broken["predicted"]
    for row in (r for r in rows if r is not broken):
        probabilities = [float(row[f"p_{c}"]) for c in CLASSES]
        assert row["predicted"] == CLASSES[int(np.argmax(probabilities))]
        assert float(row["confidence"]) == max(probabilities)
        assert sum(probabilities) == pytest.approx(1, abs=1e-4)


def test_every_reference_form_loads_the_same_model(trained: Trained) -> None:
    client = store(trained.uri)
    client.set_registered_model_alias("photos", "champion", "1")
    references = [
        trained.run_id,
        "models:/photos/1",
        "models:/photos@champion",
        str(trained.run_dir),
        str(trained.run_dir / "checkpoints" / "best.keras"),
    ]
    probe = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    loaded = [load_trained(reference, trained.uri) for reference in references]
    expected = loaded[0].model.predict(probe, verbose=0)
    for reference, model in zip(references, loaded, strict=True):
        assert model.class_names == CLASSES, reference
        np.testing.assert_allclose(model.model.predict(probe, verbose=0), expected, atol=1e-6)
    assert {m.run_id for m in loaded[:3]} == {trained.run_id}


def test_registered_versions_carry_the_objective(trained: Trained) -> None:
    client = store(trained.uri)
    version = client.get_model_version("photos", "1")
    run = client.get_run(trained.run_id)
    assert version.run_id == trained.run_id
    assert float(version.tags["val_accuracy"]) == pytest.approx(
        run.data.metrics["best_val_accuracy"], abs=1e-5
    )
    assert run.data.tags["registered_model"] == "models:/photos/1"


def test_predictions_of_a_run_are_logged_to_a_run_under_it(
    trained: Trained, tmp_path: Path
) -> None:
    predict(predict_config(trained, f"model={trained.run_id}", f"output={tmp_path}/q.csv"))
    client = store(trained.uri)
    children = client.search_runs(
        ["1"],
        f"tags.mlflow.parentRunId = '{trained.run_id}' and tags.`blueprint.command` = 'predict'",
    )
    assert children
    child = children[0]
    assert child.info.status == "FINISHED"
    assert child.data.metrics["predicted"] == 6 and child.data.metrics["failed"] == 1
    assert "q.csv" in [a.path for a in client.list_artifacts(child.info.run_id)]


def test_an_existing_output_is_refused_unless_forced(trained: Trained, tmp_path: Path) -> None:
    output = tmp_path / "kept.csv"
    output.write_text("mine\n")
    result = run_command(
        "predict",
        f"model={trained.run_dir}",
        f"input={trained.new_images}",
        f"output={output}",
        f"tracking_uri={trained.uri}",
    )
    assert_one_line_error(result, "output=", "force=true")
    assert output.read_text() == "mine\n"
    predict(predict_config(trained, f"model={trained.run_dir}", f"output={output}", "force=true"))
    assert len(read_rows(output)) == 7


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("0123456789abcdef0123456789abcdef", "no run with that id"),
        ("models:/nobody/3", "no such registered model version"),
        ("models:/photos", "not a registered model URI"),
        ("{tmp}/not_a_model.keras", "is not a Keras model"),
        ("{tmp}/missing.keras", "no such file or run directory"),
    ],
)
def test_a_model_that_is_not_there_is_one_line(
    trained: Trained, tmp_path: Path, model: str, fragment: str
) -> None:
    (tmp_path / "not_a_model.keras").write_text("hello")
    output = tmp_path / "p.csv"
    with pytest.raises(ConfigError, match=fragment) as err:
        predict(predict_config(trained, f"model={model.format(tmp=tmp_path)}", f"output={output}"))
    assert "\n" not in str(err.value)
    assert not output.exists()


def test_an_empty_input_folder_is_one_line(trained: Trained, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cfg = predict_config(trained, f"model={trained.run_dir}", f"input={tmp_path}/empty")
    with pytest.raises(ConfigError, match="holds no PNG"):
        predict(cfg)


def test_a_model_file_with_code_loads_only_outside_safe_mode(
    trained: Trained, tmp_path: Path
) -> None:
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2)), output_shape=(3,))(
        inputs
    )
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(outputs)).save(path)
    with pytest.raises(ConfigError, match="safe_mode=false"):
        load_trained(str(path), trained.uri)
    assert load_trained(str(path), trained.uri, safe_mode=False).class_names == ["0", "1", "2"]


def test_evaluate_scores_the_run_s_own_test_split(trained: Trained) -> None:
    cfg = compose_command(
        "evaluate", [f"model={trained.run_id}", f"tracking_uri={trained.uri}"], EvaluateRun
    )
    metrics = evaluate(cfg, [])
    client = store(trained.uri)
    training = client.get_run(trained.run_id).data.metrics
    # the same weights on the same saved split as the training run's own test evaluation
    assert metrics["test_accuracy"] == pytest.approx(training["test_accuracy"], abs=1e-6)
    assert metrics["test_loss"] == pytest.approx(training["test_loss"], rel=1e-4)
    [child] = client.search_runs(
        ["1"],
        f"tags.mlflow.parentRunId = '{trained.run_id}' and tags.`blueprint.command` = 'evaluate'",
    )
    assert child.data.metrics["test_accuracy"] == metrics["test_accuracy"]
    assert {"test_macro_precision", "test_macro_recall", "test_macro_f1"} <= set(child.data.metrics)
    files = {a.path for a in client.list_artifacts(child.info.run_id, "evaluation")}
    assert {"evaluation/per_class.json", "evaluation/confusion_matrix.png"} <= files


def test_evaluate_on_data_with_other_classes_is_one_line(trained: Trained) -> None:
    result = run_command(
        "evaluate", f"model={trained.run_dir}", "data=digits", f"tracking_uri={trained.uri}"
    )
    assert_one_line_error(result, "are not the model's")


def test_data_overrides_go_to_the_training_config() -> None:
    own, data = split_data_overrides(["model=x", "data=folder", "data.path=/p", "+data.extra=1"])
    assert own == ["model=x"] and data == ["data=folder", "data.path=/p", "+data.extra=1"]


def test_commands_read_the_store_training_writes() -> None:
    """conf/commands/ repeats conf/tracking's default store (the model group is not theirs)."""
    tracking = yaml.safe_load((CONF_DIR / "tracking" / "mlflow.yaml").read_text())["uri"]
    commands = list(COMMANDS_DIR.glob("*.yaml"))
    assert len(commands) >= 2
    for command in commands:
        uri = yaml.safe_load(command.read_text())["tracking_uri"]
        assert uri == tracking.replace("${paths.root_dir}", "${project_root:}"), command.name


def export_config(trained: Trained, *overrides: str) -> OmegaConf:
    return compose_command(
        "export", [f"model={trained.run_id}", f"tracking_uri={trained.uri}", *overrides], ExportRun
    )


@pytest.mark.parametrize("name", list(exporters.FORMATS))
def test_every_export_is_verified_with_its_own_runtime(
    trained: Trained, tmp_path: Path, name: str
) -> None:
    file_name = exporters.FORMATS[name].file_name
    output = export(export_config(trained, f"format={name}", f"output={tmp_path}/{file_name}"), [])
    assert output.exists() and not list(tmp_path.glob("*partial*"))
    again = exporters.load(name, output)  # the file as a deployment would load it
    probe = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    reference = load_trained(trained.run_id, trained.uri).model.predict(probe, verbose=0)
    assert again(probe).shape == reference.shape
    client = store(trained.uri)
    [child] = client.search_runs(
        ["1"],
        f"tags.mlflow.parentRunId = '{trained.run_id}' and params.format = '{name}'",
    )
    assert child.data.metrics["agreement"] >= exporters.FORMATS[name].min_agreement
    assert child.data.metrics["size_bytes"] == exporters.size_bytes(output)


@pytest.mark.parametrize("name", ["saved_model", "tflite", "onnx"])
def test_a_model_with_augmentation_layers_exports_its_inference_pass(
    tmp_path: Path, name: str
) -> None:
    """Augmentation is for training: the export neither keeps its random ops (TFLite cannot
    convert them) nor serves it (a SavedModel from `model.export` transformed every image)."""
    from blueprint.models.cnn import build_cnn

    keras.backend.clear_session()
    augment = keras.Sequential(
        [keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.1)], name="augment"
    )
    model = build_cnn([16, 16, 1], 3, augment=augment, filters=[4], dense_units=[8])
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 1)).astype("float32")
    output = tmp_path / exporters.FORMATS[name].file_name
    exporters.write(name, model, output, calibration=images)
    exported = exporters.load(name, output)(images)
    np.testing.assert_allclose(exported, model.predict(images, verbose=0), atol=1e-5)


def test_an_export_that_disagrees_keeps_nothing(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reversed_classes(name: str, path: Path) -> exporters.Predictor:
        model = keras.saving.load_model(path)
        return lambda images: model.predict(images, verbose=0)[:, ::-1]

    monkeypatch.setattr(exporters, "load", reversed_classes)
    cfg = export_config(trained, "format=keras", f"output={tmp_path}/model.keras")
    with pytest.raises(TrainingError, match="nothing was kept"):
        export(cfg, [])
    assert list(tmp_path.iterdir()) == []


def test_a_missing_converter_is_one_line_naming_the_package(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "tf2onnx" else real(name)
    )
    cfg = export_config(trained, "format=onnx", f"output={tmp_path}/model.onnx")
    with pytest.raises(ConfigError, match=r"format=onnx needs tf2onnx: pip install tf2onnx"):
        export(cfg, [])
    assert list(tmp_path.iterdir()) == []


def test_export_output_is_checked_before_anything_is_written(
    trained: Trained, tmp_path: Path
) -> None:
    (tmp_path / "model.tflite").write_text("mine")
    result = run_command(
        "export",
        f"model={trained.run_dir}",
        "format=tflite",
        f"output={tmp_path}/model.tflite",
    )
    assert_one_line_error(result, "exists", "force=true")
    with pytest.raises(ConfigError, match=r"end the name in \.onnx"):
        export(export_config(trained, "format=onnx", f"output={tmp_path}/model.tflite"), [])
    assert (tmp_path / "model.tflite").read_text() == "mine"


@pytest.mark.slow
def test_predict_evaluate_and_export_a_digits_model(tmp_path: Path) -> None:
    """The bundled digits (8x8 greyscale arrays): evaluate and export read the run's own split;
    predict reads held-out digits saved as ordinary 0..255 PNG files (as they are, and enlarged
    to 128x128), and gives the probabilities the model gives the test split's arrays."""
    from PIL import Image

    from blueprint.data.facts import load_data
    from tests.helpers import compose_into

    result = run_train(tmp_path, "trainer.epochs=2", "trainer.verbose=0", "diagnostics=off")
    assert result.returncode == 0, result.stderr[-3000:]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    [run] = store(uri).search_runs(["1"])
    run_id = run.info.run_id

    metrics = evaluate(
        compose_command("evaluate", [f"model={run_id}", f"tracking_uri={uri}"], EvaluateRun), []
    )
    assert metrics["test_accuracy"] == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-6)

    output = export(
        compose_command(
            "export",
            [
                f"model={run_id}",
                f"tracking_uri={uri}",
                "format=tflite_int8",
                f"output={tmp_path}/d.tflite",
            ],
            ExportRun,
        ),
        [],
    )
    [child] = store(uri).search_runs(["1"], "params.format = 'tflite_int8'")
    assert child.data.metrics["agreement"] >= 0.98 and output.stat().st_size > 0
    assert child.data.params["verify_images"] == "200"  # all from the validation split

    (tmp_path / "compose").mkdir()
    data = load_data(compose_into(tmp_path / "compose").data, ["blueprint.*"])
    folder = tmp_path / "digits"
    folder.mkdir()
    images = data.test.images[:60]
    assert images.max() == 255 and np.array_equal(images, np.round(images))  # 8-bit grey levels
    for i, image in enumerate(images):  # ordinary 8-bit PNGs, as a user's image files are
        grey = Image.fromarray(image[..., 0].astype("uint8"), mode="L")
        grey.save(folder / f"{i:02d}.png")
        if i < 5:  # a user's larger picture of a digit, read back at the model's 8x8
            grey.resize((128, 128), Image.NEAREST).save(folder / f"{i:02d}-128.png")
    rows = read_rows(
        predict(
            compose_command(
                "predict",
                [
                    f"model={run_id}",
                    f"tracking_uri={uri}",
                    f"input={folder}",
                    f"output={tmp_path}/p.csv",
                ],
                PredictRun,
            )
        )
    )
    model = load_trained(run_id, uri).model
    expected = model.predict(images, verbose=0)
    assert len(rows) == 65 and not any(r["error"] for r in rows)
    for row in rows:
        probabilities = [float(row[f"p_{n}"]) for n in data.class_names]
        # the CSV's 6 decimals and float32 batch arithmetic: nothing else may differ
        digit = int(Path(row["file"]).name[:2])
        np.testing.assert_allclose(probabilities, expected[digit], atol=2e-6, err_msg=row["file"])
        assert row["predicted"] == str(expected[digit].argmax())
