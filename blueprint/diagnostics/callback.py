"""The Keras callback that ties capture, recording and evaluation to the active MLflow run.

Per captured epoch: one extra forward and backward pass on a fixed probe batch on the training
thread, then statistics, pictures and logging by the recorder: in this process by default, or in
a child process with `diagnostics.process=true` (`worker`). At the end of training: the
architecture diagram (Graphviz draws it in its own process meanwhile), the validation predictions
at the best epoch here, then GIFs, overviews, evaluation pictures and raw histograms by the
recorder, all under the run's `diagnostics/` artifacts, logged before `fit` returns.

A failure inside diagnostics (a picture that cannot be drawn, an upload refused) logs one warning
and switches diagnostics off for the rest of the run: it is never the reason a training run fails,
as with MLflow's own Keras callback. Only a misconfiguration (ConfigError) stops the run.
"""

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import mlflow
import numpy as np

from blueprint.data.pipeline import images_at, targets_at
from blueprint.data.splits import ImageData
from blueprint.diagnostics.architecture import ArchitectureDrawing
from blueprint.diagnostics.backends import capture_for
from blueprint.diagnostics.capture import (
    is_relu_family,
    merge_nested,
    nested_models,
    read_weights,
    select_layers,
)
from blueprint.diagnostics.evaluation import SplitEvaluation
from blueprint.diagnostics.histograms import dead_fraction, reduce
from blueprint.diagnostics.recorder import ARTIFACT_DIR, EpochRecorder, RecorderSettings
from blueprint.diagnostics.split_evaluation import evaluate_split, predict_split
from blueprint.diagnostics.worker import RecorderProcess
from blueprint.errors import ConfigError, first_line
from blueprint.never_fatal import NeverFatal

log = logging.getLogger(__name__)
METRICS = ("summary", "all")  # diagnostics.metrics: per-layer summaries, or every statistic too
SWEEP_EVALUATIONS = ("improving", "every")  # diagnostics.sweep_evaluation
# Run tag: why a run has no evaluation pictures although diagnostics.evaluation is on.
EVALUATION_TAG = "diagnostics.evaluation"
# Run tag: seconds the callback held the training thread (this session of the run), which is what
# diagnostics add to a run's time (with `process`, not the child's CPU); read without the noise of
# timing two whole runs. Written as training ends; a `fit` that raises leaves none.
SECONDS_TAG = "diagnostics.seconds"


@dataclass(frozen=True)
class Options:
    """The `diagnostics` config group's keys; conf/diagnostics/default.yaml documents each."""

    every_n_epochs: int
    layers: Sequence[str]
    weightless_activations: bool
    probe_size: int
    probe_seed: int
    bins: int
    dpi: int
    diagram: bool
    evaluation: bool
    sweep_evaluation: str
    worst_images: int
    monitor: str
    direction: str
    metrics: str
    process: bool

    def __post_init__(self) -> None:
        for key, allowed in (("metrics", METRICS), ("sweep_evaluation", SWEEP_EVALUATIONS)):
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"diagnostics.{key}={getattr(self, key)!r} is invalid: it must be one of "
                    f"{allowed}"
                )
        for key, minimum in (("every_n_epochs", 1), ("probe_size", 1), ("bins", 2)):
            value = getattr(self, key)
            if not isinstance(value, int) or value < minimum:
                raise ConfigError(
                    f"diagnostics.{key}={value!r} is invalid: it must be an integer >= {minimum}"
                )


class DiagnosticsCallback(keras.callbacks.Callback):
    """Weight, gradient and activation histograms per epoch; diagram and evaluation per run.

    The evaluation uses the best epoch's weights, which the callback snapshots itself at each
    improvement of `monitor`, so it does not depend on EarlyStopping restoring them.
    """

    def __init__(
        self,
        data: ImageData,
        options: Options,
        logged_through: int = -1,
        beats_best: Callable[[float], bool] = lambda value: True,
    ) -> None:
        """`logged_through`: in a resumed run, the last epoch already recorded; an epoch trained
        again after the cut keeps its first pictures and metrics, as the training curves do.
        `beats_best`: whether the run's best value beats its sweep's best so far (always, for a
        single run); with `sweep_evaluation=improving` only such a run draws its evaluation."""
        super().__init__()
        self.data = data
        self.options = options
        self.logged_through = logged_through
        self.beats_best = beats_best
        rng = np.random.default_rng(options.probe_seed)
        size = min(options.probe_size, len(data.train))
        chosen = np.sort(rng.choice(len(data.train), size=size, replace=False))
        self.probe_x = images_at(data.train, chosen)  # reads only the probe's images
        self.probe_y = targets_at(data.train, chosen)
        self._best: tuple[int, float, list[np.ndarray]] | None = None
        self._safely = NeverFatal("diagnostics", self._close_recorder).run
        self._seconds = 0.0  # see SECONDS_TAG
        self._end_tags: dict[str, str] = {}  # set with SECONDS_TAG as training ends

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._seconds += time.perf_counter() - start

    def _close_recorder(self, err: Exception) -> None:
        if hasattr(self, "recorder"):
            self.recorder.close()

    def on_train_begin(self, logs: dict | None = None) -> None:
        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("DiagnosticsCallback logs to the active MLflow run; start one first")
        with self._timed():
            self._safely("the start of training", lambda: self._begin(run.info.run_id))

    def _begin(self, run_id: str) -> None:
        weighted, outputs = select_layers(
            self.model, self.options.layers, self.options.weightless_activations
        )
        if not weighted:
            log.warning("diagnostics.layers=%s matches no layer with weights", self.options.layers)
        self._weighted = weighted
        self._nested = nested_models(weighted)
        self._capture = capture_for(self.model, weighted, outputs)
        self._relu = [layer.name for layer in outputs if is_relu_family(layer)]
        settings = RecorderSettings(
            run_id=run_id,
            tracking_uri=mlflow.get_tracking_uri(),
            bins=self.options.bins,
            all_metrics=self.options.metrics == "all",
        )
        self.recorder = (RecorderProcess if self.options.process else EpochRecorder)(settings)
        if self.options.diagram:  # drawn while training runs, logged at its end
            self._diagram_dir = tempfile.TemporaryDirectory(prefix="blueprint-architecture-")
            self._diagram = ArchitectureDrawing(
                self.model, Path(self._diagram_dir.name), self.options.dpi
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        with self._timed():
            self._epoch_end(epoch, logs)

    def _epoch_end(self, epoch: int, logs: dict | None) -> None:
        if self.options.evaluation:
            self._remember_if_best(epoch, (logs or {}).get(self.options.monitor))
        last = epoch == self.params.get("epochs", 0) - 1
        if epoch <= self.logged_through:
            return
        if epoch % self.options.every_n_epochs == 0 or last:
            self._safely(f"epoch {epoch}", lambda: self._record(epoch))

    def _record(self, epoch: int) -> None:
        captured = self._capture.capture(self.probe_x, self.probe_y)
        weights, gradients = read_weights(self._weighted), captured.gradients
        if self.options.metrics != "all":  # a nested model (zoo backbone) is one layer here
            weights, gradients = (merge_nested(t, self._nested) for t in (weights, gradients))
        activations = captured.activations
        dead = {name: dead_fraction(activations[name]) for name in self._relu}
        tensors = {
            kind: {name: reduce(values) for name, values in by_name.items()}
            for kind, by_name in (
                ("weights", weights),
                ("gradients", gradients),
                ("activations", activations),
            )
        }  # a large tensor travels to the recorder as its statistics and a sample (histograms)
        self.recorder.record(epoch, tensors, dead)  # the tensors are dropped when it returns

    def _remember_if_best(self, epoch: int, value: float | None) -> None:
        if value is None or not np.isfinite(value):
            return
        if self._best is not None:
            best = self._best[1]
            if value <= best if self.options.direction == "maximize" else value >= best:
                return
        self._best = (epoch, float(value), self.model.get_weights())

    def on_train_end(self, logs: dict | None = None) -> None:
        with self._timed():
            self._safely("the end of training", self._finish)
        try:  # also after a failure inside diagnostics: the time they held until then
            mlflow.set_tags({**self._end_tags, SECONDS_TAG: f"{self._seconds:.3f}"})  # one write
        except Exception as err:  # a tag is no reason to fail a run
            log.warning("the run has no %s tag: %s", SECONDS_TAG, first_line(err))

    def _finish(self) -> None:
        if self.options.diagram:
            self._diagram.files()
            mlflow.log_artifacts(self._diagram_dir.name, ARTIFACT_DIR)
            self._diagram_dir.cleanup()
        self.recorder.finish(self._evaluate() if self._worth_evaluating() else None)

    def _worth_evaluating(self) -> bool:
        """The evaluation pictures take most of what diagnostics cost a short sweep trial (0.16 s
        of 0.22 s a 1-epoch MLP): with `sweep_evaluation=improving`, a trial that does not beat
        its study's best so far skips them and says so in a tag. The winner always has them."""
        if not self.options.evaluation:
            return False
        value = self._best[1] if self._best is not None else float("nan")
        if self.options.sweep_evaluation == "every" or self.beats_best(value):
            return True
        self._end_tags[EVALUATION_TAG] = (
            "skipped: the trial did not beat its study's best so far "
            "(diagnostics.sweep_evaluation=improving; `every` draws it for each trial)"
        )
        return False

    def _evaluate(self) -> SplitEvaluation:
        """The validation split under the best epoch's weights; the current ones are put back."""
        if self._best is None:  # the monitored metric never appeared: evaluate the final weights
            log.warning("diagnostics.monitor=%s not in the epoch logs", self.options.monitor)
            self._best = (self.params.get("epochs", 1) - 1, float("nan"), self.model.get_weights())
        epoch, _, best_weights = self._best
        current = self.model.get_weights()
        self.model.set_weights(best_weights)
        try:
            outputs, targets = predict_split(self.model, self.data.val)
        finally:
            self.model.set_weights(current)
        val = self.data.val
        return evaluate_split(
            self.data.targets,
            outputs,
            targets,
            lambda indices: images_at(val, indices),
            self.data.class_names,
            epoch,
            self.options.worst_images,
        )
