"""The MLflow UI as a user meets it, in headless Chromium: the address `make ui` prints lands on the
runs table (the run with its dataset, and the sweep with its children), a run's metric charts open
on its own training curves followed by one section per diagnostic statistic, and its per-epoch
histogram pictures show legibly in its Artifacts tab and full size on a click. Screenshots land in
the test's tmp dir."""

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, run_train, write_image_folder

pytestmark = pytest.mark.slow  # trains a run and a 2-trial sweep, then drives a browser

TINY = ["model=mlp", "model.hidden_units=[16]", "trainer.epochs=2", "tracking.log_model=false"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One single run on an image folder (with diagnostics, whose charts must not come first)
    and a 2-point sweep on the digits."""
    tmp = tmp_path_factory.mktemp("ui")
    photos = write_image_folder(tmp / "photos", {"cats": 15, "dogs": 15}, size=(16, 16))
    single = run_train(
        tmp,
        *TINY,
        "data=folder",
        f"data.path={photos}",
        "data.image_size=[16,16]",
        "experiment_name=ui",
        "tracking.run_name=single",
    )
    assert single.returncode == 0, single.stderr
    sweep = run_train(
        tmp,
        "--multirun",
        "hparams_search=grid",
        'hydra.sweeper.params={optimizer.lr:"1e-3,2e-3"}',
        f"hydra.sweeper.storage=sqlite:///{tmp}/optuna.db",
        *TINY,
        "diagnostics=off",
        "experiment_name=ui",
    )
    assert sweep.returncode == 0, sweep.stderr
    return tmp


def runs_in(store: Path) -> list:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    return mlflow.search_runs(experiment_names=["ui"], output_format="list")


@pytest.fixture(scope="module")
def ui_url(store: Path):
    """Starts `python -m blueprint.ui` (what `make ui` runs) and yields the address it prints."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "blueprint.ui", "--store", str(store), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = server.stdout.readline().split()[2]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_the_printed_address_lists_the_run_and_the_sweep_with_its_children(
    store, ui_url, page, tmp_path
) -> None:
    page.goto(ui_url)
    parent = page.locator("[role=gridcell]", has_text="sweep-ui-")
    parent.first.wait_for(timeout=60_000)
    page.get_by_text("single", exact=True).wait_for()
    # the Dataset column: the folder's name and digest for the single run
    (single,) = [r for r in runs_in(store) if r.info.run_name == "single"]
    digest = single.inputs.dataset_inputs[0].dataset.digest
    page.locator("[role=gridcell]", has_text=f"photos ({digest})").wait_for(timeout=20_000)
    page.screenshot(path=tmp_path / "runs.png")
    children = [r.info.run_name for r in runs_in(store) if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    assert not page.get_by_text(children[0]).is_visible()  # nested under the collapsed parent
    parent.locator("button").first.click()  # the parent's expander
    for name in children:
        page.get_by_text(name).wait_for(timeout=20_000)
    page.screenshot(path=tmp_path / "runs_expanded.png")


def test_a_runs_metric_charts_open_on_its_training_curves(store, ui_url, page, tmp_path) -> None:
    (run,) = [r for r in runs_in(store) if r.info.run_name == "single"]
    assert any(key.startswith("weights/") for key in run.data.metrics)  # diagnostics are there
    page.goto(ui_url.replace("/runs?", f"/runs/{run.info.run_id}/model-metrics?"))
    add_chart = page.get_by_role("button", name="Add chart")  # one per chart section
    add_chart.first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)  # let the first charts draw
    page.screenshot(path=tmp_path / "model_metrics.png")
    header = add_chart.first.locator("xpath=ancestor::*[3]")
    assert header.inner_text().split("\n")[0] == "epoch"
    titles = page.locator("[role=heading], h1, h2, h3, h4, h5")
    charts = [titles.nth(i).inner_text() for i in range(1, 6)]  # after the page's own title
    assert charts == ["accuracy", "loss", "lr", "val_accuracy", "val_loss"]


def test_a_runs_diagnostics_are_a_section_per_statistic_after_its_curves(
    store, ui_url, page, tmp_path
) -> None:
    """Not a section per layer: MLflow makes one of each key's parts before its last `/`."""
    (run,) = [r for r in runs_in(store) if r.info.run_name == "single"]
    page.goto(ui_url.replace("/runs?", f"/runs/{run.info.run_id}/model-metrics?"))
    add_chart = page.get_by_role("button", name="Add chart")  # one per chart section
    add_chart.first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)  # let every section come
    headers = [add_chart.nth(i).locator("xpath=ancestor::*[3]") for i in range(add_chart.count())]
    sections = [header.inner_text().split("\n")[0] for header in headers]
    page.screenshot(path=tmp_path / "model_metrics_sections.png")
    diagnostics = ["gradients/grad_to_weight", "outputs/dead_fraction", "weights/norm"]
    assert sections == ["epoch", *diagnostics, "Model metrics"]


def test_a_runs_histogram_pictures_show_legibly_in_its_artifacts(
    store, ui_url, page, tmp_path
) -> None:
    """Where the docs send a user (diagnostics.md): the run's Artifacts tab,
    diagnostics/histograms/, a picture per epoch at the panel's width, full size on a click."""
    (run,) = [r for r in runs_in(store) if r.info.run_name == "single"]
    page.goto(ui_url.replace("/runs?", f"/runs/{run.info.run_id}?"))
    page.get_by_role("tab", name="Artifacts").click(timeout=60_000)
    page.get_by_text("diagnostics", exact=True).click(timeout=30_000)
    page.get_by_text("histograms", exact=True).click(timeout=30_000)
    for epoch in (0, 1):  # the fixture's run trains two epochs
        page.get_by_text(f"epoch_{epoch:03d}.png", exact=True).wait_for(timeout=30_000)
    page.get_by_text("epoch_001.png", exact=True).click()
    shown = page.locator("img[src^='blob:']").first  # the artifact viewer's picture
    shown.wait_for(timeout=30_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=shown.element_handle()
    )
    page.screenshot(path=tmp_path / "histograms_artifact.png")
    assert shown.evaluate("img => img.naturalWidth") >= 800  # drawn legibly
    assert shown.bounding_box()["width"] >= 500  # and shown at the panel's width, no thumbnail
    shown.click()
    full = page.locator("img[src^='blob:']").last  # the full view it opens
    page.wait_for_function(
        "img => img.getBoundingClientRect().width >= 800", arg=full.element_handle()
    )
    page.screenshot(path=tmp_path / "histograms_full_view.png")
