"""The sweep's parent MLflow run: settings, search space, best result and Optuna's plots.

Driven through MlflowClient, never the fluent API: trials running in the sweeper's own process
start their fluent runs nested under it, which an active fluent parent run would forbid.
"""

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig
from optuna.trial import FrozenTrial

from blueprint.sweeps.contract import (
    INTERRUPTED_TAG,
    PARENT_ATTR,
    REPEATS_ATTR,
    REUSED_ATTR,
    REUSED_TAG,
    ROLE_TAG,
    RUN_ATTR,
    STUDY_TAG,
    TRIAL_STATE_TAG,
    TRIAL_TAG,
)
from blueprint.sweeps.repeats import shown_value
from blueprint.sweeps.search_space import spelled
from blueprint.sweeps.trial import trial_run_name
from blueprint.tracking.mlflow_run import open_experiment
from blueprint.tracking.provenance import mlflow_source_tags, provenance_tags
from blueprint.ui import RUN_VIEW

log = logging.getLogger(__name__)

NOTE_TAG = "mlflow.note.content"  # MLflow's run description, shown as markdown on its page
PLOTS = ("optimization_history", "param_importances", "parallel_coordinate")
# Drawing them costs about half a second: while the sweep runs, redraw at most this often (short
# trials would otherwise spend as long on plots as on training); the sweep's end always redraws.
PLOTS_EVERY_S = 30.0


class SweepRun:
    """One parent run per study: a resumed sweep reopens it, so all its trials nest together."""

    def __init__(self, cfg: DictConfig, study: optuna.Study, settings: dict[str, str]) -> None:
        self.experiment_id = open_experiment(cfg.tracking)
        self.client = MlflowClient(cfg.tracking.uri)
        self.study = study
        run_id = study.user_attrs.get(PARENT_ATTR)
        if run_id and self._exists(run_id):
            self.client.update_run(run_id, status="RUNNING")
        else:
            run = self.client.create_run(self.experiment_id, run_name=f"sweep-{study.study_name}")
            run_id = run.info.run_id
            study.set_user_attr(PARENT_ATTR, run_id)
        self.run_id: str = run_id
        self.metric: str = cfg.objective.metric
        self._noted: str | None = None  # the best trial's run the description links to
        self._plotted: tuple[int, float] = (0, -PLOTS_EVERY_S)  # ended trials, monotonic time
        # the same provenance its children carry: MLflow's source/user/git tags, then ours
        provenance = provenance_tags(Path(cfg.paths.root_dir))
        tags = mlflow_source_tags(provenance) | provenance
        tags |= {ROLE_TAG: "parent", STUDY_TAG: study.study_name}
        tags |= {f"sweep.{key}": value for key, value in settings.items()}
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def _exists(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except MlflowException:
            return False
        return True

    def log_search_space(
        self, space: dict[str, Any], fixed: dict[str, Any], locations: dict[str, Any]
    ) -> None:
        """The space and fixed overrides as params: immutable in MLflow, and the study name
        pins them, so re-logging is safe. Where outputs go (`locations`: stores, folders) may
        change between sessions of one study: tags."""
        params = {f"space.{name}": spelled(dist) for name, dist in space.items()}  # as typed
        params |= {f"fixed.{name}": str(value) for name, value in fixed.items()}
        for key, value in params.items():
            self.client.log_param(self.run_id, key, value[:6000])
        for name, value in locations.items():
            self.client.set_tag(self.run_id, f"fixed.{name}", str(value)[:5000])

    def child_runs(self) -> list[Any]:
        filter_string = f"tags.mlflow.parentRunId = '{self.run_id}'"
        return self.client.search_runs([self.experiment_id], filter_string, max_results=10000)

    def adopt(self, trials: list[FrozenTrial]) -> None:
        """Nests the runs of the points an earlier version of the grid ended (`trials`, copied
        into this study) under this sweep, numbered as this study's trials: the sweep's table in
        the UI shows the whole grid. The earlier sweep's run keeps the points this one dropped."""
        for trial in trials:
            try:
                run = self.client.get_run(trial.user_attrs[RUN_ATTR])
            except (KeyError, MlflowException):  # failed before its run started, or deleted
                continue
            if run.data.tags.get("mlflow.parentRunId") == self.run_id:
                continue
            tags = {
                "mlflow.parentRunId": self.run_id,
                STUDY_TAG: self.study.study_name,
                TRIAL_TAG: str(trial.number),
                REUSED_TAG: trial.user_attrs[REUSED_ATTR],
            }
            for key, value in tags.items():
                self.client.set_tag(run.info.run_id, key, value)

    def mark_interrupted(self, numbers: set[int]) -> None:
        """Ends the runs a dead sweep left RUNNING for these trials as KILLED and tags them.

        Opening the store may already have ended them KILLED (their process is gone): they are
        tagged all the same.
        """
        for run in self.child_runs():
            if run.info.status not in ("RUNNING", "KILLED"):
                continue
            if int(run.data.tags.get(TRIAL_TAG, -1)) in numbers:
                self.client.set_tag(run.info.run_id, TRIAL_STATE_TAG, "FAIL")
                self.client.set_tag(run.info.run_id, INTERRUPTED_TAG, "true")
                if run.info.status == "RUNNING":
                    self.client.set_terminated(run.info.run_id, "KILLED")

    def record(self, trials: list[FrozenTrial], errors: dict[int, str]) -> None:
        """Tags each finished trial's run with its Optuna state; a trial that failed before its
        run started gets a FAILED child run carrying the error, so every trial shows in MLflow.
        """
        for trial in trials:
            run_id = trial.user_attrs.get(RUN_ATTR)
            if run_id is None:
                run = self.client.create_run(
                    self.experiment_id,
                    run_name=trial_run_name(trial.number, trial.params),
                    tags={
                        "mlflow.parentRunId": self.run_id,
                        STUDY_TAG: self.study.study_name,
                        TRIAL_TAG: str(trial.number),
                    },
                )
                run_id = run.info.run_id
                for name, value in trial.params.items():
                    self.client.log_param(run_id, name, str(value))
                if trial.number in errors:
                    self.client.set_tag(run_id, "error", errors[trial.number][:5000])
                self.client.set_terminated(run_id, "FAILED")
            self.client.set_tag(run_id, TRIAL_STATE_TAG, trial.state.name)

    def summarize(self, plots: bool, final: bool = False) -> None:
        """Counts, best value and parameters (a point trained over seeds: `best_value_std` and
        the tag `best.value`, `mean ± std`), and (with `plots`) Optuna's plots, refreshed every
        PLOTS_EVERY_S while the sweep runs and when it ends (`final`)."""
        trials = self.study.get_trials(deepcopy=False)
        counts = {state: 0 for state in ("COMPLETE", "PRUNED", "FAIL")}
        for trial in trials:
            if trial.state.name in counts:
                counts[trial.state.name] += 1
        step, now = sum(counts.values()), int(time.time() * 1000)
        metrics = [Metric(f"trials_{s.lower()}", n, now, step) for s, n in counts.items()]
        tags = []
        has_best = counts["COMPLETE"] > 0 and len(self.study.directions) == 1
        if has_best:
            best = self.study.best_trial
            metrics.append(Metric("best_value", float(best.value), now, step))
            tags = [RunTag("best.trial", str(best.number))]
            if RUN_ATTR in best.user_attrs:  # the winning child run, one search away in the UI
                tags.append(RunTag("best.run_id", best.user_attrs[RUN_ATTR]))
            tags += [RunTag(f"best.{name}", str(value)) for name, value in best.params.items()]
            if REPEATS_ATTR in best.user_attrs:  # a point trained over seeds: its spread too
                std = best.user_attrs[REPEATS_ATTR]["std"]
                metrics.append(Metric("best_value_std", float(std), now, step))
                tags.append(RunTag("best.value", shown_value(best.value, best.user_attrs)))
        if has_best and best.user_attrs.get(RUN_ATTR, self._noted) != self._noted:
            tags.append(RunTag(NOTE_TAG, self._best_note(best)))
            self._noted = best.user_attrs[RUN_ATTR]
        self.client.log_batch(self.run_id, metrics=metrics, tags=tags)  # one write a trial
        if not has_best:
            return
        last_step, last_time = self._plotted
        due = final or time.monotonic() - last_time >= PLOTS_EVERY_S
        if plots and counts["COMPLETE"] >= 2 and step != last_step and due:
            self._log_plots()
            self._plotted = (step, time.monotonic())

    def _best_note(self, best: FrozenTrial) -> str:
        """The run's description (markdown): the best trial, linked to its run, and its value."""
        run = self.client.get_run(best.user_attrs[RUN_ATTR])
        view = RUN_VIEW.format(experiment=self.experiment_id, run=run.info.run_id)
        value = shown_value(best.value, best.user_attrs)
        return f"**Best**: [{run.info.run_name}]({view}), {self.metric} = {value}"

    def _log_plots(self) -> None:
        import matplotlib.pyplot as plt

        for name, figure in study_plots(self.study).items():
            self.client.log_figure(
                self.run_id, figure, f"plots/{name}.png", save_kwargs={"bbox_inches": "tight"}
            )
            plt.close(figure)

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status)


def study_plots(study: optuna.Study) -> dict[str, Any]:
    """Optuna's plots of the study as the parent run logs them: name -> matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as vis

    figures = {}
    for name in PLOTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the plots are marked experimental
            try:
                ax = getattr(vis, f"plot_{name}")(study)
            except Exception as err:  # a plot the study cannot draw yet must not stop it
                log.debug("skipped the %s plot: %s", name, err)
                continue
        if name == "parallel_coordinate":
            recolour_lines(ax)
        figure = ax.figure
        figure.set_size_inches(10, 6)
        figure.tight_layout()  # room for the axis labels, which long param names overflow
        figures[name] = figure
    return figures


def recolour_lines(ax: Any) -> None:
    """Optuna draws a parallel-coordinate plot's trials in Blues, whose low end is white on
    the plot's grey: the lines (and their colour bar) get viridis cut short of its pale green and
    yellow, each end visible, the better trials still the darker."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap

    for lines in ax.collections:
        if isinstance(lines, LineCollection) and lines.get_array() is not None:
            colours = colormaps["viridis"](np.linspace(0.0, 0.7, 256))
            if not lines.get_cmap().name.endswith("_r"):  # Blues: the higher, the darker
                colours = colours[::-1]
            lines.set_cmap(ListedColormap(colours))
