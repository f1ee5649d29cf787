"""The MLflow UI as a user meets it, in headless Chromium. The address `make ui` prints lands on the
runs table (a run with its dataset, and the sweep with its children); every run blueprint starts
opens as a training run (not a GenAI evaluation); a run's metric charts open on its own training
curves followed by one section per diagnostic statistic, and its per-epoch histogram pictures show
legibly in its Artifacts tab and full size on a click; a sweep's parent shows its space as written
and links its best trial, its parallel-coordinate plot draws every trial visibly, and run names
tell runs apart within the width the runs table shows. One store and one server serve them all.
Screenshots land in each test's tmp dir."""

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from blueprint.ui import RUN_VIEW
from tests.helpers import ROOT, TINY, free_port, run_train, ui_cmd, write_image_folder

pytestmark = pytest.mark.slow  # trains three runs and a 4-trial sweep, then drives a browser

SINGLE = [*TINY, "experiment_name=ui"]
PHOTOS_RUN = "photos-with-diagnostics"  # the run on an image folder, named to be found


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """On the digits, two runs of one model and lr and a 2x2 grid over lr and dropout; and a run
    on an image folder with diagnostics, whose charts must not come first."""
    tmp = tmp_path_factory.mktemp("ui")
    for number in range(2):
        single = run_train(tmp, *SINGLE, f"hydra.run.dir={tmp}/run{number}")
        assert single.returncode == 0, single.stderr
    photos = write_image_folder(tmp / "photos", {"cats": 15, "dogs": 15}, size=(16, 16))
    on_photos = [*SINGLE, "diagnostics=default", "data=folder", f"data.path={photos}"]
    on_photos += ["data.image_size=[16,16]", f"tracking.run_name={PHOTOS_RUN}"]
    single = run_train(tmp, *on_photos, f"hydra.run.dir={tmp}/photos_run")
    assert single.returncode == 0, single.stderr
    sweep = run_train(
        tmp,
        "--multirun",
        "hparams_search=grid",
        'hydra.sweeper.params={optimizer.lr:"1e-3,2e-3",model:mlp}',
        "model.dropout=0.1,0.3",
        f"hydra.sweeper.storage=sqlite:///{tmp}/optuna.db",
        *SINGLE,
    )
    assert sweep.returncode == 0, sweep.stderr
    return tmp


def runs_in(store: Path) -> list:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    return mlflow.search_runs(experiment_names=["ui"], output_format="list")


def parent_of(store: Path):
    (parent,) = [r for r in runs_in(store) if r.data.tags.get("sweep.role") == "parent"]
    return parent


def photos_run(store: Path):
    (run,) = [r for r in runs_in(store) if r.info.run_name == PHOTOS_RUN]
    return run


@pytest.fixture(scope="module")
def ui_url(store: Path):
    """Starts `python -m blueprint.ui` (what `make ui` runs) and yields the address it prints."""
    port = free_port()
    server = subprocess.Popen(
        ui_cmd(store, port),
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


@pytest.fixture(scope="module")
def ui(ui_url: str) -> str:
    """The server's own address, for addresses of its pages."""
    return ui_url.split("/#", 1)[0]


def runs_table(ui: str, run) -> str:
    """The address `make ui` prints: the experiment's runs table."""
    return f"{ui}/#/experiments/{run.info.experiment_id}/runs?workflowType=machine_learning"


def test_the_printed_address_lists_the_run_and_the_sweep_with_its_children(
    store, ui_url, page, tmp_path
) -> None:
    page.goto(ui_url)
    parent = page.locator("[role=gridcell]", has_text="sweep-ui-")
    parent.first.wait_for(timeout=60_000)
    page.get_by_text(PHOTOS_RUN, exact=True).wait_for()
    # the Dataset column: the folder's name and digest for the run on it
    digest = photos_run(store).inputs.dataset_inputs[0].dataset.digest
    page.locator("[role=gridcell]", has_text=f"photos ({digest})").wait_for(timeout=20_000)
    page.screenshot(path=tmp_path / "runs.png")
    children = [r.info.run_name for r in runs_in(store) if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 4
    assert not page.get_by_text(children[0]).is_visible()  # nested under the collapsed parent
    parent.locator("button").first.click()  # the parent's expander
    for name in children:
        page.get_by_text(name).wait_for(timeout=20_000)
    page.screenshot(path=tmp_path / "runs_expanded.png")


def test_a_runs_metric_charts_open_on_its_training_curves(store, ui_url, page, tmp_path) -> None:
    run = photos_run(store)
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
    run = photos_run(store)
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
    run = photos_run(store)
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


def test_runs_open_as_training_runs_not_genai_evaluations(store, ui, page, tmp_path) -> None:
    parent = parent_of(store)
    page.goto(runs_table(ui, parent))
    page.get_by_role("link", name=parent.info.run_name).click()  # the link drops workflowType
    page.get_by_role("heading", name=parent.info.run_name).wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=tmp_path / "parent_from_table.png")
    breadcrumb = page.get_by_test_id("experiment-observatory-link-runs")
    assert breadcrumb.inner_text() == "Runs"
    assert not page.get_by_text("Evaluation runs").is_visible()  # the GenAI sidebar's
    # a trial and a single run, opened by their bare address in a fresh page
    for run in [r for r in runs_in(store) if r.info.run_id != parent.info.run_id][:2]:
        page.goto(f"{ui}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
        page.get_by_role("heading", name=run.info.run_name).wait_for(timeout=60_000)
        assert breadcrumb.inner_text() == "Runs"


def test_the_sweeps_parent_shows_its_space_as_written_and_links_its_best_trial(
    store, ui, page, tmp_path
) -> None:
    parent = parent_of(store)
    view = RUN_VIEW.format(experiment=parent.info.experiment_id, run=parent.info.run_id)
    page.goto(f"{ui}/{view}")
    page.get_by_text("choice(0.001,0.002)").first.wait_for(timeout=60_000)
    page.get_by_text("choice(0.1,0.3)").first.wait_for()
    best = next(r for r in runs_in(store) if r.info.run_id == parent.data.tags["best.run_id"])
    description = page.get_by_test_id("note-editor-preview-content")
    link = description.get_by_role("link", name=best.info.run_name, exact=True)
    link.scroll_into_view_if_needed()
    value = float(description.inner_text().rsplit("= ", 1)[1])
    assert value == pytest.approx(parent.data.metrics["best_value"], rel=1e-3)
    page.screenshot(path=tmp_path / "parent_description.png")
    with page.context.expect_page() as opened:  # MLflow opens a description's links in a tab
        link.click()
    best_page = opened.value
    best_page.get_by_role("heading", name=best.info.run_name).wait_for(timeout=30_000)
    assert best.info.run_id in best_page.url


def test_the_parallel_coordinate_plot_draws_every_trial_visibly(store, ui, page, tmp_path):
    import optuna
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgb

    from blueprint.sweeps.parent_run import study_plots

    parent = parent_of(store)
    storage = f"sqlite:///{store}/optuna.db"
    study = optuna.load_study(study_name=parent.data.tags["sweep.study"], storage=storage)
    (ax, *_) = study_plots(study)["parallel_coordinate"].axes  # as the parent run logs it
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    colours = lines.to_rgba(lines.get_array())[:, :3]
    background = to_rgb(ax.get_facecolor())

    def luminance(rgb) -> float:
        return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]

    assert len(colours) == 4
    assert max(luminance(c) for c in colours) < luminance(background) - 0.2  # none near white
    # the logged plot, as the run's Artifacts tab shows it
    view = RUN_VIEW.format(experiment=parent.info.experiment_id, run=parent.info.run_id)
    page.goto(f"{ui}/{view.replace('?', '/artifacts/plots/parallel_coordinate.png?')}")
    image = page.locator("img[src^='blob:']").first  # the artifact viewer's
    image.wait_for(timeout=60_000)
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=image.element_handle())
    image.screenshot(path=tmp_path / "parallel_coordinate.png")


VISIBLE = """a => {  // the characters of the name shown before the ellipsis cuts it
    for (let e = a, up = 0; e && up < 4; e = e.parentElement, up++) {
        if (e.scrollWidth > e.clientWidth + 1) {
            return Math.floor(a.textContent.length * e.clientWidth / e.scrollWidth) - 1;
        }
    }
    return a.textContent.length;
}"""


def test_run_names_tell_runs_apart_within_what_the_table_shows(store, ui, page, tmp_path):
    runs = runs_in(store)
    parent = parent_of(store)
    page.goto(runs_table(ui, parent))
    page.get_by_role("link", name=parent.info.run_name).wait_for(timeout=60_000)
    page.locator("[role=gridcell]", has_text=parent.info.run_name).locator("button").first.click()
    shown = {}
    for run in runs:
        link = page.locator("[role=gridcell]").get_by_role("link", name=run.info.run_name)
        link.wait_for(timeout=20_000)
        shown[run.info.run_id] = run.info.run_name[: link.evaluate(VISIBLE)]
    page.screenshot(path=tmp_path / "run_names.png")
    assert min(len(prefix) for prefix in shown.values()) >= 10, shown  # the table's width
    children = [shown[r.info.run_id] for r in runs if r.info.run_id != parent.info.run_id]
    assert len(set(children)) == len(children), shown  # the visible parts differ
    for trial in [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]:
        name = trial.info.run_name  # its number, then its swept values
        assert shown[trial.info.run_id].startswith(f"t{trial.data.tags['sweep.trial_number']}-")
        assert f"lr{float(trial.data.params['optimizer.lr']):.3g}" in name, name
        assert f"dropout{float(trial.data.params['model.dropout']):.3g}" in name, name
