"""Diagnostics: histograms per epoch, pictures, diagram and evaluation, all in the MLflow run."""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig
from PIL import Image

from blueprint.components import build
from blueprint.data.facts import load_data
from blueprint.data.splits import ImageData
from blueprint.diagnostics import plotting
from blueprint.diagnostics.architecture import ArchitectureDrawing
from blueprint.diagnostics.callback import SECONDS_TAG
from blueprint.diagnostics.histograms import KINDS, Sampled, dead_fraction, describe, reduce
from blueprint.diagnostics.plotting import range_text
from blueprint.diagnostics.recorder import METRIC_PREFIXES, EpochRecorder
from blueprint.errors import ConfigError
from blueprint.models.build import build_model
from blueprint.tracking.epoch_logger import epoch_metric_key
from blueprint.train import train
from tests.helpers import compose_into

SMALL_RUN = [
    "trainer.epochs=3",
    "model.filters=[8,16]",
    "model.dense_units=[16]",
    "tracking.log_model=false",
    "trainer.verbose=0",
]
RELU = {"conv0": True, "conv1": True, "dense0": True, "head": False}  # weighted layers of SMALL_RUN
STATS = ("norm", "mean", "std", "min", "max")
IMAGE_NAME = re.compile(r"epoch_(\d+)\.png$")  # the per-epoch pictures, diagnostics/histograms/


@dataclass
class Run:
    cfg: DictConfig
    client: MlflowClient
    run_id: str
    artifacts: Path


def finished_run(cfg: DictConfig, tmp: Path) -> Run:
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment_name)
    [run] = client.search_runs([experiment.experiment_id])
    (tmp / "artifacts").mkdir()
    artifacts = Path(client.download_artifacts(run.info.run_id, "", str(tmp / "artifacts")))
    return Run(cfg, client, run.info.run_id, artifacts)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Three epochs of a small CNN on the digits with diagnostics=default, trained once, with the
    recorder in its child process (the other tests run it in process, the default)."""
    tmp = tmp_path_factory.mktemp("diagnostics")
    cfg = compose_into(tmp, *SMALL_RUN, "diagnostics.process=true")
    train(cfg)
    return finished_run(cfg, tmp)


def steps(run: Run, key: str) -> list[int]:
    return sorted(m.step for m in run.client.get_metric_history(run.run_id, key))


def tensor_sizes(cfg: DictConfig) -> dict[str, int]:
    """Values per captured tensor: weights by variable path, activations on the probe batch."""
    model = build_model(cfg, list(cfg.allowed_targets))
    sizes = {f"weights/{v.path}": int(np.prod(v.shape)) for v in model.weights}
    sizes |= {f"gradients/{v.path}": int(np.prod(v.shape)) for v in model.trainable_weights}
    probe = cfg.diagnostics.probe_size
    for layer in model.layers:
        if layer.name in RELU:
            sizes[f"activations/{layer.name}"] = probe * int(np.prod(layer.output.shape[1:]))
    return sizes


def test_default_logs_per_layer_summaries_at_every_epoch_and_few_keys(digits_run: Run) -> None:
    layer_keys = set()
    for layer, relu in RELU.items():
        keys = [f"weights/norm/{layer}", f"gradients/grad_to_weight/{layer}"]
        keys += [f"outputs/dead_fraction/{layer}"] if relu else []
        for key in keys:
            assert steps(digits_run, key) == [0, 1, 2], key
        layer_keys |= set(keys)
    logged = set(digits_run.client.get_run(digits_run.run_id).data.metrics)
    diagnostics = {k for k in logged if k.split("/")[0] in METRIC_PREFIXES.values()}
    assert diagnostics == layer_keys  # every tensor's statistics stay in histograms.npz
    assert {"val_macro_precision", "val_macro_recall", "val_macro_f1"} <= logged
    assert not any(k.startswith(("val_precision/", "val_recall/")) for k in logged)
    assert len(logged) <= 40


def test_full_logs_every_statistic_of_every_tensor(tmp_path: Path) -> None:
    cfg = compose_into(tmp_path, "diagnostics=full")
    data = load_data(cfg.data, list(cfg.allowed_targets))
    model = dense_model(keras.layers.Dense(16, activation="relu", name="hidden"))
    run = fit_with_diagnostics(cfg, data, model, keras.optimizers.Adam(1e-3), epochs=2)
    for layer in ("hidden", "head"):
        for param in ("kernel", "bias"):
            for stat in (*STATS, "grad_to_weight"):
                history = run.client.get_metric_history(
                    run.run_id, f"gradients/{stat}/{layer}.{param}"
                )
                assert [m.step for m in history] == [0, 1], (layer, param, stat)
            for stat in STATS:
                assert (
                    len(
                        run.client.get_metric_history(run.run_id, f"weights/{stat}/{layer}.{param}")
                    )
                    == 2
                )
        assert (
            len(run.client.get_metric_history(run.run_id, f"gradients/grad_to_weight/{layer}")) == 2
        )
    for stat in STATS:
        assert len(run.client.get_metric_history(run.run_id, f"outputs/{stat}/flatten")) == 2


def test_one_histogram_picture_per_epoch_holding_every_kind(digits_run: Run) -> None:
    pictures = {}
    for path in (digits_run.artifacts / "diagnostics" / "histograms").iterdir():
        match = IMAGE_NAME.search(path.name)
        if match:
            pictures[int(match[1])] = path
    assert sorted(pictures) == [0, 1, 2]
    sections = len(KINDS) * (plotting.TITLE_BAND + plotting.PANEL_HEIGHT)
    with Image.open(pictures[0]) as picture:
        assert picture.height >= sections  # a title band and at least a row of panels per kind


def test_end_of_run_artifacts(digits_run: Run) -> None:
    files = {p.name for p in (digits_run.artifacts / "diagnostics").iterdir()}
    assert {"histograms.gif", *(f"{kind}_overview.png" for kind in KINDS)} <= files
    assert {"histograms.npz", "confusion_matrix.png", "worst_misclassified.png"} <= files
    assert "architecture.png" in files or {"architecture.txt", "architecture.dot"} <= files
    table = json.loads((digits_run.artifacts / "diagnostics" / "per_class.json").read_text())
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]  # log_table
    assert [row["class"] for row in rows] == [str(d) for d in range(10)]
    data = load_data(digits_run.cfg.data, list(digits_run.cfg.allowed_targets))
    assert sum(row["support"] for row in rows) == len(data.val)
    best = rows[0]["best_epoch"]
    best_metric = digits_run.client.get_run(digits_run.run_id).data.metrics["best_epoch"]
    assert best == best_metric  # evaluated with the best epoch's weights
    assert steps(digits_run, "val_macro_f1") == [best]
    macro = digits_run.client.get_metric_history(digits_run.run_id, "val_macro_recall")[0].value
    assert macro == pytest.approx(np.mean([row["recall"] for row in rows]))


def test_raw_histogram_counts_sum_to_the_number_of_values(digits_run: Run) -> None:
    raw = np.load(digits_run.artifacts / "diagnostics" / "histograms.npz")
    assert list(raw["epochs"]) == [0, 1, 2]
    sizes = tensor_sizes(digits_run.cfg)
    bins = digits_run.cfg.diagnostics.bins
    for tensor, size in sizes.items():
        counts, edges = raw[f"{tensor}/counts"], raw[f"{tensor}/edges"]
        assert counts.shape == (3, bins) and edges.shape == (3, bins + 1)
        assert (counts.sum(axis=1) == size).all(), tensor
        assert (np.diff(edges, axis=1) > 0).all()
    assert {k.rsplit("/", 1)[0] for k in raw.files if k != "epochs"} == set(sizes)


def test_images_are_valid_png_and_gif_files(digits_run: Run) -> None:
    pictures = [*(digits_run.artifacts / "diagnostics").glob("*.png")]
    diagram = (digits_run.artifacts / "diagnostics" / "architecture.png").exists()
    assert diagram == (shutil.which("dot") is not None)  # the PNG wherever Graphviz is installed
    assert len(pictures) == 3 + 2 + diagram  # overviews, evaluation and the diagram
    epoch_pictures = sorted((digits_run.artifacts / "diagnostics" / "histograms").iterdir())
    assert [p.name for p in epoch_pictures] == ["epoch_000.png", "epoch_001.png", "epoch_002.png"]
    for path in epoch_pictures:
        with Image.open(path) as image:
            assert image.width >= 800, path.name  # legible in the UI's full image view
    for path in pictures + epoch_pictures:
        with Image.open(path) as image:
            image.verify()  # raises on a truncated or corrupt file
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert 200 <= image.width <= 3000 and 100 <= image.height <= 3000, path.name
    with Image.open(digits_run.artifacts / "diagnostics" / "histograms.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
        assert gif.width >= 200 and gif.height >= 100


def small_digits(tmp: Path) -> tuple[DictConfig, ImageData]:
    cfg = compose_into(tmp)
    return cfg, load_data(cfg.data, list(cfg.allowed_targets))


def fit_with_diagnostics(
    cfg: DictConfig,
    data: ImageData,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    epochs: int,
    logged_through: int = -1,
) -> Run:
    """Fits `model` with the configured diagnostics callback inside an MLflow run of a tmp store."""
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    diagnostics = build(cfg.diagnostics, list(cfg.allowed_targets), _partial_=True)
    callbacks = diagnostics(data, logged_through=logged_through)
    mlflow.set_tracking_uri(cfg.tracking.uri)
    with mlflow.start_run():
        model.fit(
            data.train.images,
            data.train.labels,
            validation_data=(data.val.images, data.val.labels),
            epochs=epochs,
            batch_size=64,
            callbacks=callbacks,
            verbose=0,
        )
    tmp = Path(cfg.paths.output_dir).parent
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    [run] = client.search_runs(["0"])
    (tmp / "artifacts").mkdir()
    artifacts = Path(client.download_artifacts(run.info.run_id, "", str(tmp / "artifacts")))
    return Run(cfg, client, run.info.run_id, artifacts)


def dense_model(*hidden: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))  # 0..255 digits
    for layer in hidden:
        x = layer(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(x))


def test_a_dead_relu_layer_reports_dead_fraction_one(tmp_path: Path) -> None:
    cfg, data = small_digits(tmp_path)
    model = dense_model(
        keras.layers.Dense(32, activation="relu", name="alive"),
        keras.layers.Dense(
            16, activation="relu", bias_initializer=keras.initializers.Constant(-100.0), name="dead"
        ),
    )
    run = fit_with_diagnostics(cfg, data, model, keras.optimizers.Adam(1e-3), epochs=2)
    dead = run.client.get_metric_history(run.run_id, "outputs/dead_fraction/dead")
    alive = run.client.get_metric_history(run.run_id, "outputs/dead_fraction/alive")
    assert [m.value for m in dead] == [1.0, 1.0]
    assert all(m.value < 0.5 for m in alive)


def test_the_run_is_tagged_with_the_time_diagnostics_held_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = EpochRecorder.record

    def slow_record(self: EpochRecorder, *args: object) -> None:
        time.sleep(0.2)  # an epoch's recording that holds the training thread that long
        record(self, *args)

    monkeypatch.setattr(EpochRecorder, "record", slow_record)
    cfg, data = small_digits(tmp_path)
    model = dense_model(keras.layers.Dense(16, activation="relu", name="hidden"))
    run = fit_with_diagnostics(cfg, data, model, keras.optimizers.Adam(1e-3), epochs=3)
    info = run.client.get_run(run.run_id).info
    seconds = float(run.client.get_run(run.run_id).data.tags[SECONDS_TAG])
    assert 0.6 <= seconds < (info.end_time - info.start_time) / 1000


def test_a_resumed_run_records_only_the_epochs_not_recorded_before(tmp_path: Path) -> None:
    cfg, data = small_digits(tmp_path)
    model = dense_model(keras.layers.Dense(16, activation="relu", name="hidden"))
    optimizer = keras.optimizers.Adam(1e-3)
    run = fit_with_diagnostics(cfg, data, model, optimizer, epochs=3, logged_through=1)
    norms = run.client.get_metric_history(run.run_id, "weights/norm/hidden")
    assert [m.step for m in norms] == [2]  # epochs 0 and 1 were recorded before the cut
    pictures = (run.artifacts / "diagnostics" / "histograms").iterdir()
    assert [int(IMAGE_NAME.search(p.name).group(1)) for p in pictures] == [2]


def test_zero_learning_rate_keeps_weights_while_gradients_flow(tmp_path: Path) -> None:
    cfg, data = small_digits(tmp_path)
    model = dense_model(keras.layers.Dense(16, activation="relu", name="hidden"))
    run = fit_with_diagnostics(cfg, data, model, keras.optimizers.SGD(learning_rate=0.0), epochs=3)
    raw = np.load(run.artifacts / "diagnostics" / "histograms.npz")
    for path in ("hidden/kernel", "hidden/bias", "head/kernel", "head/bias"):
        counts, edges = raw[f"weights/{path}/counts"], raw[f"weights/{path}/edges"]
        assert (counts == counts[0]).all() and (edges == edges[0]).all(), path
        gradient_edges = raw[f"gradients/{path}/edges"]
        assert (np.abs(gradient_edges).max(axis=1) > 0).all(), path
    for layer in ("hidden", "head"):
        ratios = run.client.get_metric_history(run.run_id, f"gradients/grad_to_weight/{layer}")
        assert len(ratios) == 3 and all(m.value > 0 for m in ratios), layer


def test_without_graphviz_the_run_logs_summary_and_dot_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` executable anywhere on the PATH
    cfg, data = small_digits(tmp_path)
    model = dense_model(keras.layers.Dense(16, activation="relu", name="hidden"))
    with caplog.at_level(logging.WARNING):
        run = fit_with_diagnostics(cfg, data, model, keras.optimizers.Adam(1e-3), epochs=1)
    files = {p.name for p in (run.artifacts / "diagnostics").iterdir()}
    assert {"architecture.txt", "architecture.dot"} <= files
    assert "architecture.png" not in files
    summary = (run.artifacts / "diagnostics" / "architecture.txt").read_text()
    assert "hidden" in summary and "Param #" in summary
    assert "1,040" in summary  # the hidden layer's 64 x 16 + 16 parameters: the column is whole
    assert "digraph" in (run.artifacts / "diagnostics" / "architecture.dot").read_text()
    warnings = [r for r in caplog.records if "architecture" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert run.client.get_run(run.run_id).info.status == "FINISHED"


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz missing: the fallback test covers it"
)
def test_diagram_is_a_png_when_graphviz_is_installed(tmp_path: Path) -> None:
    model = dense_model(keras.layers.Dense(4, name="hidden"))
    assert ArchitectureDrawing(model, tmp_path, dpi=60).files() == [tmp_path / "architecture.png"]
    with Image.open(tmp_path / "architecture.png") as image:
        assert image.format == "PNG" and image.height > 100


@pytest.mark.parametrize(
    "broken",
    [
        (plotting.HistogramPanels, "render", None),  # a picture that cannot be drawn
        (MlflowClient, "log_artifact", "diagnostics/histograms"),  # a picture upload that fails
        (MlflowClient, "log_table", None),  # the end-of-run evaluation cannot be logged
    ],
    ids=["drawing", "image-upload", "evaluation-upload"],
)
def test_a_failure_inside_diagnostics_warns_once_and_the_run_finishes(
    broken: tuple[object, str, str | None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner, name, only_to = broken  # only_to: the artifact folder whose uploads fail, else all
    original = getattr(owner, name)

    def fail(*args: object, **kwargs: object) -> object:
        if only_to is None or only_to in (*map(str, args), *map(str, kwargs.values())):
            raise OSError("disk full")
        return original(*args, **kwargs)  # the run's own artifacts

    monkeypatch.setattr(owner, name, fail)  # reaches the recorder as it runs in this process
    cfg = compose_into(tmp_path, *SMALL_RUN)
    with caplog.at_level(logging.WARNING):
        train(cfg)
    warnings = [r.getMessage() for r in caplog.records if "diagnostics failed" in r.getMessage()]
    assert len(warnings) == 1 and "OSError: disk full" in warnings[0], warnings
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment_name)
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert (
        len(client.get_metric_history(run.info.run_id, epoch_metric_key("val_loss"))) == 3
    )  # every epoch trained
    assert "test_accuracy" in run.data.metrics


def test_the_recorder_process_imports_no_deep_learning_library() -> None:
    """Its imports are CPU taken from training: TensorFlow alone would be seconds of it."""
    heavy = ("tensorflow", "keras", "sklearn")
    code = (
        f"import sys, blueprint.diagnostics.worker; print([m for m in {heavy} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_recorder_process_that_dies_warns_once_and_the_run_finishes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = compose_into(tmp_path, "diagnostics.process=true")
    data = load_data(cfg.data, list(cfg.allowed_targets))
    model = dense_model(keras.layers.Dense(16, activation="relu", name="hidden"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    [diagnostics] = build(cfg.diagnostics, list(cfg.allowed_targets), _partial_=True)(data)

    def kill_recorder(epoch: int, logs: dict) -> None:
        if epoch == 0:
            os.kill(diagnostics.recorder.pid, signal.SIGKILL)
            diagnostics.recorder._process.wait()

    killer = keras.callbacks.LambdaCallback(on_epoch_end=kill_recorder)
    mlflow.set_tracking_uri(cfg.tracking.uri)
    with caplog.at_level(logging.WARNING), mlflow.start_run() as run:
        history = model.fit(
            data.train.images,
            data.train.labels,
            epochs=3,
            callbacks=[killer, diagnostics],
            verbose=0,
        )
    assert len(history.history["loss"]) == 3
    warnings = [r.getMessage() for r in caplog.records if "diagnostics failed" in r.getMessage()]
    assert len(warnings) == 1 and "recorder process" in warnings[0], warnings
    assert MlflowClient(cfg.tracking.uri).get_run(run.info.run_id).info.status == "FINISHED"


def test_off_adds_no_callback_and_full_extends_default(compose_cfg) -> None:
    off, full = compose_cfg("diagnostics=off"), compose_cfg("diagnostics=full")
    assert build(off.diagnostics, list(off.allowed_targets), _partial_=True)(data=None) == []
    default = compose_cfg().diagnostics
    assert full.diagnostics._target_ == default._target_
    assert full.diagnostics.bins > default.bins and full.diagnostics.weightless_activations


def test_an_unknown_metrics_choice_names_the_key(compose_cfg) -> None:
    cfg = compose_cfg("diagnostics.metrics=everything")
    with pytest.raises(ConfigError, match=r"diagnostics.metrics='everything'.*summary"):
        build(cfg.diagnostics, list(cfg.allowed_targets), _partial_=True)(data=None)


def test_histograms_count_every_value_and_dead_units_are_zero_everywhere() -> None:
    values = np.random.default_rng(0).normal(size=(3, 3, 4, 5)).astype("float32")
    stats, hist = describe(values, bins=7)
    assert hist.counts.sum() == values.size and len(hist.edges) == 8
    assert stats["min"] == hist.edges[0] and stats["max"] == pytest.approx(hist.edges[-1])
    assert stats["norm"] == pytest.approx(np.linalg.norm(values.astype("float64")), rel=1e-5)
    _, constant = describe(np.zeros(10), bins=4)
    assert constant.counts.sum() == 10
    outputs = np.ones((2, 4, 4, 3))  # (examples, h, w, channels)
    outputs[..., 1] = 0  # channel 1 is zero everywhere
    outputs[0, 0, 0, 2] = 0  # channel 2 is zero only somewhere
    assert dead_fraction(outputs) == pytest.approx(1 / 3)


def test_a_tensor_above_the_limit_is_histogrammed_from_an_even_sample_with_exact_statistics() -> (
    None
):
    rng = np.random.default_rng(1)
    small = rng.normal(size=(40, 25)).astype("float32")
    assert reduce(small, limit=1000) is small  # at the limit: every value, as before
    values = rng.normal(size=(300, 64)).astype("float32")
    values[:, 5] += 50.0  # one unit far from the others: a sample skipping units would miss it
    values[123, 7] = -40.0  # the minimum, a single value the sample need not hold
    reduced = reduce(values, limit=1000)
    assert isinstance(reduced, Sampled) and reduced.sample.size <= 1000
    stats, hist = describe(reduced, bins=9)
    exact, whole = describe(values, bins=9)
    assert stats == exact  # norm, mean, std, min, max of every value
    assert hist.counts.sum() == reduced.sample.size
    np.testing.assert_array_equal(hist.edges, whole.edges)  # the range of every value
    shares, whole_shares = hist.counts / hist.counts.sum(), whole.counts / whole.counts.sum()
    np.testing.assert_allclose(shares, whole_shares, atol=0.02)
    far = np.sum(reduced.sample > 25)  # unit 5's share, as the sample visits every unit evenly
    assert far == pytest.approx(reduced.sample.size / 64, rel=0.1)
    assert reduce(values, limit=1000).sample.tobytes() == reduced.sample.tobytes()  # each epoch


def test_panel_ranges_keep_narrow_ranges_apart() -> None:
    assert range_text(0.9996, 1.0004) == "0.9996, 1.0004"
    assert range_text(-0.35, 0.35) == "-0.35, 0.35"


def test_a_zoo_backbone_is_one_layer_to_summary_diagnostics() -> None:
    from blueprint.diagnostics.capture import (
        merge_nested,
        nested_models,
        read_weights,
        select_layers,
    )
    from blueprint.models.zoo import build_mobilenet_v2

    model = build_mobilenet_v2(alpha=0.35, input_shape=[32, 32, 3], num_classes=3)
    weighted, outputs = select_layers(model, ["*"], weightless=False)
    assert [layer.name for layer in weighted] == ["backbone", "head"]
    assert [layer.name for layer in outputs] == ["head"]  # a nested model's output is not ours
    backbone = model.get_layer("backbone")
    nested = nested_models(weighted)
    assert set(nested.values()) == {"backbone"} and len(nested) == len(backbone.weights)

    merged = merge_nested(read_weights(weighted), nested)
    assert list(merged) == ["backbone", "head/kernel", "head/bias"]
    assert merged["backbone"].size == backbone.count_params()
    assert merged["head/kernel"].shape == model.get_layer("head").kernel.shape


def test_a_models_capture_is_made_once_and_goes_with_the_model() -> None:
    import gc
    import weakref

    from blueprint.diagnostics.backends import capture_for
    from blueprint.diagnostics.capture import select_layers

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")])
    model.compile("adam", "mse")
    weighted, outputs = select_layers(model, ["*"], weightless=False)
    capture = capture_for(model, weighted, outputs)
    assert capture_for(model, weighted, outputs) is capture  # a later trial's, traced once
    captured = capture.capture(np.ones((2, 4), "float32"), np.zeros((2, 3), "float32"))
    assert set(captured.gradients) == {v.path for v in model.trainable_weights}
    kept = weakref.ref(model)
    del model, capture
    gc.collect()
    assert kept() is None, "the capture kept its model alive"
