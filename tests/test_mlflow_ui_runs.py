"""Runs as the MLflow UI shows them, in headless Chromium: every run blueprint starts opens as a
training run (not a GenAI evaluation), a sweep's parent shows its space as written and links
its best trial, its parallel-coordinate plot draws every trial visibly, and run names tell
runs apart within the width the runs table shows. Screenshots land in the test's tmp dir."""

from pathlib import Path

import pytest

from blueprint.ui import RUN_VIEW
from tests.helpers import TINY, run_train
from tests.servers import mlflow_server

pytestmark = pytest.mark.slow  # trains two runs and a 4-trial sweep, then drives a browser

SINGLE = [*TINY, "experiment_name=ui"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Two single runs of one model and lr, and a 2x2 grid over lr and dropout."""
    tmp = tmp_path_factory.mktemp("ui_runs")
    for number in range(2):
        single = run_train(tmp, *SINGLE, f"hydra.run.dir={tmp}/run{number}")
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


@pytest.fixture(scope="module")
def ui(store: Path):
    with mlflow_server(store) as url:
        yield url


def runs_in(store: Path) -> list:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    return mlflow.search_runs(experiment_names=["ui"], output_format="list")


def parent_of(store: Path):
    (parent,) = [r for r in runs_in(store) if r.data.tags.get("sweep.role") == "parent"]
    return parent


def runs_table(ui: str, run) -> str:
    """The address `make ui` prints: the experiment's runs table."""
    return f"{ui}/#/experiments/{run.info.experiment_id}/runs?workflowType=machine_learning"


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
