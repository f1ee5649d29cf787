"""The trainer app (`make app`): each page driven by Streamlit's AppTest against temporary stores,
and the Train page in headless Chromium, which takes the screenshots the README shows."""

import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from streamlit.testing.v1 import AppTest

from blueprint.app.job import TrainingJob
from blueprint.models.cnn import build_cnn
from blueprint.models.heads import adapt_targets
from blueprint.models.unet import build_unet
from tests.helpers import APP, run_sweep, run_train, store_overrides, write_shapes_files
from tests.servers import app_server

QUICK = "model.hidden_units=[16] trainer.verbose=0 diagnostics=off"  # the extra overrides field


def app_on(tmp: Path, monkeypatch: pytest.MonkeyPatch, *overrides: str) -> AppTest:
    """The app as `streamlit run main.py -- <overrides>` starts it, its stores in `tmp`."""
    monkeypatch.setattr(sys, "argv", ["main.py", *store_overrides(tmp), *overrides])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def labelled(elements, label: str):
    (element,) = [e for e in elements if e.label == label]
    return element


def run_until(at: AppTest, done, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not done(at):
        assert time.monotonic() < deadline, [e.value for e in at.error]
        time.sleep(1)
        at.run()


def test_train_page_runs_a_short_run_to_its_best_value(tmp_path, monkeypatch):
    at = app_on(tmp_path, monkeypatch)
    assert labelled(at.selectbox, "model").options[0] == "cnn"  # conf/'s options, default first
    assert "mlp" in labelled(at.selectbox, "model").options
    labelled(at.selectbox, "model").set_value("mlp")
    labelled(at.number_input, "trainer.epochs").set_value(2)
    labelled(at.text_input, "extra overrides (Hydra syntax, space-separated)").set_value(QUICK)
    at.run()
    assert "hidden_units:\n  - 16" in at.code[0].value  # the composed config, before starting
    at.button[0].click().run()
    run_until(at, lambda at: at.success or at.error)
    assert not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith("finished: best val_accuracy = ")
    assert at.get("progress")[0].value == 100
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("app-")
    assert len(client.get_metric_history(run.info.run_id, "epoch/loss")) == 2


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            "trainer.epochs=0",
            "trainer.epochs=0 is invalid: it should be greater than or equal to 1",
        ),
        ("trainer.nope=1", "Could not override 'trainer.nope'."),
    ],
)
def test_a_bad_override_shows_its_one_line_error_and_starts_nothing(
    tmp_path, monkeypatch, extra, line
):
    at = app_on(tmp_path, monkeypatch)
    labelled(at.text_input, "extra overrides (Hydra syntax, space-separated)").set_value(extra)
    at.run()
    (error,) = at.error
    assert error.value.startswith(line) and "\n" not in error.value
    assert at.button[0].disabled  # Train
    assert not (tmp_path / "mlflow.db").exists()


def test_a_run_that_fails_as_it_starts_gives_its_one_line_and_leaves_no_file(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"  # where the app's own temporary files go
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    bad = tmp_path / "bad.npz"
    bad.write_text("not an archive")
    job = TrainingJob.start([*store_overrides(tmp_path), "data=npz", f"data.path={bad}"])
    job.process.wait(timeout=120)
    assert job.error().startswith(f"data.path={bad} is not a readable .npz file"), job.printed()
    assert not list(scratch.iterdir()), "the run's output was left behind"


@pytest.mark.slow  # a run it stops after its first epoch
def test_stop_ends_the_run_killed(tmp_path, monkeypatch):
    at = app_on(tmp_path, monkeypatch)
    labelled(at.selectbox, "model").set_value("mlp")
    labelled(at.number_input, "trainer.epochs").set_value(500)
    # without early stopping, which would end these epochs before Stop is clicked
    no_early_stop = f"{QUICK} ~callbacks.early_stopping"
    labelled(at.text_input, "extra overrides (Hydra syntax, space-separated)").set_value(
        no_early_stop
    )
    at.run()
    at.button[0].click().run()
    run_until(
        at, lambda at: at.get("progress") and "epoch 0 " not in at.get("progress")[0].proto.text
    )
    at.button[0].click().run()  # a second Train while it runs is refused
    assert "is still training" in at.warning[0].value
    at.button[1].click().run()  # Stop: returns once the run's process has ended
    job = at.session_state["job"]
    assert job.stopped, job.printed()[-3000:]
    at.run()
    assert any("stopped" in w.value for w in at.warning), [w.value for w in at.warning]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    assert run.info.status == "KILLED"


def write_digit(folder: Path, digit: int) -> Path:
    """The first image of `digit` in the bundled digits, as an 8x8 PNG."""
    digits = load_digits()
    path = folder / f"digit-{digit}.png"
    pixels = digits.images[np.flatnonzero(digits.target == digit)[0]]
    Image.fromarray(np.round(pixels * 255 / 16).astype("uint8")).save(path)  # an ordinary PNG
    return path


def test_try_shows_an_image_as_bright_as_the_model_reads_it(tmp_path):
    """The preview is the model's 0..255 input as it is, not stretched: an image of the digits'
    0..16 counts shows dark, the same digit as an ordinary PNG shows as the file holds it."""
    from blueprint.app.prediction import predict_image
    from blueprint.models.mlp import build_mlp

    build_mlp([8, 8, 1], num_classes=10, hidden_units=[4], dropout=0).save(tmp_path / "m.keras")
    ordinary = write_digit(tmp_path, 3)
    counts = tmp_path / "counts.png"
    dark = load_digits().images[3].astype("uint8")  # a 3, at most 16
    Image.fromarray(dark).save(counts)
    model, uri = str(tmp_path / "m.keras"), f"sqlite:///{tmp_path}/mlflow.db"
    seen = {p.name: predict_image(model, uri, p).seen for p in (ordinary, counts)}
    factor = seen[ordinary.name].shape[0] // 8  # enlarged by whole pixels
    np.testing.assert_array_equal(seen[ordinary.name][::factor, ::factor], Image.open(ordinary))
    assert seen[counts.name].max() == dark.max() <= 16


def test_try_page_predicts_a_digit_from_a_finished_run(tmp_path, monkeypatch):
    trained = run_train(tmp_path, "model=mlp", "trainer.epochs=15", "diagnostics=off")
    assert trained.returncode == 0, trained.stderr[-2000:]
    image = write_digit(tmp_path, 7)
    at = app_on(tmp_path, monkeypatch)
    at.switch_page("pages/try_model.py").run()
    labelled(at.text_input, "or a path to an image").set_value(str(image))
    at.run()
    assert not at.error, [e.value for e in at.error]
    (predicted,) = at.metric
    assert predicted.value == "7"
    assert len(at.get("vega_lite_chart")) == 1  # every class's probability
    assert at.get("image"), "the image as the model sees it"
    scratch = tmp_path / "scratch"  # where the app's own temporary files go
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    labelled(at.text_input, "or a path to an image").set_value("")
    at.file_uploader[0].set_value(("seven.png", image.read_bytes(), "image/png")).run()
    assert not at.error, [e.value for e in at.error]
    assert [m.value for m in at.metric] == ["7"]
    assert not list(scratch.iterdir()), "the uploaded image was left behind"


def test_try_page_shows_a_regression_value_and_a_segmentation_mask(tmp_path, monkeypatch):
    """Saved `.keras` models named in the page's text field, on a generated shapes image: a
    regression CNN, then a U-Net saved over it at the same path."""
    root = write_shapes_files(tmp_path / "shapes", count=2, size=16)
    image = next((root / "images").iterdir())
    regression = build_cnn([16, 16, 1], None, task="regression", filters=[8], dense_units=[8])
    regression.set_weights([np.zeros_like(w) for w in regression.get_weights()])  # outputs 0
    adapt_targets(regression, np.array([10.0, 30.0]))  # ... in the targets' units: their mean
    segmentation = build_unet([16, 16, 1], 4, filters=[8, 16])
    at = app_on(tmp_path, monkeypatch)
    at.switch_page("pages/try_model.py").run()
    shown = {}
    for name, model in (("values", regression), ("masks", segmentation)):
        model.save(tmp_path / "model.keras")  # one path: a model saved again is loaded again
        (model_field,) = [t for t in at.text_input if t.label.startswith("or a registered model")]
        model_field.set_value(str(tmp_path / "model.keras")).run()  # the image field follows
        labelled(at.text_input, "or a path to an image").set_value(str(image)).run()
        assert not at.error, [e.value for e in at.error]
        (metric,) = at.metric
        shown[name] = (metric.label, metric.value, len(at.get("image")))
    label, value, images = shown["values"]
    assert (label, value, images) == ("predicted value", "20", 1)
    label, value, images = shown["masks"]
    assert label == "most pixels" and value in {"0", "1", "2", "3"} and images == 2  # and the mask


def test_sweeps_page_lists_the_studies_with_their_parent_runs(tmp_path, monkeypatch):
    swept = run_sweep(tmp_path, "optimizer.lr=1e-3,1e-2", "trainer.epochs=1")
    assert swept.returncode == 0, swept.stderr[-2000:]
    at = app_on(tmp_path, monkeypatch, f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db")
    at.switch_page("pages/sweeps.py").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["complete"]) == ["2"]
    assert table["parent run"][0].startswith("http://127.0.0.1:5000/#/experiments/")


@pytest.mark.slow  # starts the app and drives it in a browser
def test_the_app_trains_from_the_browser(tmp_path, page):
    """Trains (4 epochs of the CNN) from the Train page, predicts a digit with that run on the
    Try page, lists a sweep on the Sweeps page; each page's screenshot (the README's) lands in
    tmp_path."""
    swept = run_sweep(tmp_path, "optimizer.lr=1e-3,1e-2", "trainer.epochs=1")
    assert swept.returncode == 0, swept.stderr[-2000:]
    image = write_digit(tmp_path, 7)
    stores = [*store_overrides(tmp_path), f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db"]
    with app_server(*stores, "trainer.epochs=4") as url:
        page.goto(url)
        page.get_by_role("button", name="Train").click(timeout=60_000)
        page.get_by_text("epoch 4 of 4").wait_for(timeout=180_000)
        finished = page.get_by_text("finished: best val_accuracy")
        finished.wait_for(timeout=60_000)
        finished.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)  # let the charts draw
        page.screenshot(path=tmp_path / "app-train.png")

        page.goto(f"{url}/try_model")
        page.get_by_label("or a path to an image").fill(str(image))
        page.keyboard.press("Enter")
        page.get_by_text("predicted class").wait_for(timeout=60_000)
        assert page.locator("[data-testid=stMetricValue]").inner_text() == "7"
        page.wait_for_timeout(1500)
        page.screenshot(path=tmp_path / "app-try.png")

        page.goto(f"{url}/sweeps")
        page.locator("[data-testid=stDataFrame]").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=tmp_path / "app-sweeps.png")
