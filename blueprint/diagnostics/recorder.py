"""One captured epoch -> MLflow metrics, one picture per kind and the run's histogram history.

It logs through an `MlflowClient` to an explicit run id, synchronously, on the training thread:
MLflow's async queue costs ~0.9 s to shut down per run, and a recording thread measured slower
(1.17x against 1.06x in process: its Python work, drawing and MLflow's own code, waits for the GIL
the training loop holds between TensorFlow calls, and stalls it in turn). It makes as few writes as
it can: one picture an epoch holding all three kinds, and the metrics of several epochs in one
batch, at most `FLUSH_SECONDS` apart and at the end.

The pictures are artifacts (diagnostics/histograms/epoch_NNN.png), not MLflow images
(`log_image`): MLflow 3's UI shows an image as a chart card whose text of the run's parameters
(some 80 here) covers the picture, and draws the card only when scrolled to or searched for; its
Artifacts tab shows a PNG at the panel's width and, on a click, full size.

Metrics are what a user reads in the run's charts: per layer, the weight norm, the gradient/weight
norm ratio and, for ReLU layers, the dead fraction. `all_metrics` (diagnostics=full) adds every
tensor's norm, mean, std, min and max; the histograms.npz artifact holds the full distributions.
"""

import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric

from blueprint.diagnostics import plotting
from blueprint.diagnostics.evaluation import SplitEvaluation
from blueprint.diagnostics.histograms import KINDS, EpochTensors, HistogramHistory, describe

# Metric prefix per kind. The MLflow UI orders a run's chart sections by prefix, alphabetically:
# each must sort after `epoch/` (the training curves), which "activations" would not.
METRIC_PREFIXES = {"weights": "weights", "gradients": "gradients", "activations": "outputs"}


def metric_key(kind: str, statistic: str, tensor: str) -> str:
    """`<prefix of kind>/<statistic>/<tensor>`, e.g. `weights/norm/conv0`: the MLflow UI makes a
    chart section of a key's parts before its last `/`, so each kind and statistic is one section
    holding a chart per layer. A variable path's `/` becomes `.` (`weights/std/conv0.kernel`),
    and characters MLflow refuses in metric names `_`."""
    name = re.sub(r"[^\w\-. ]", "_", tensor.replace("/", "."))
    return f"{METRIC_PREFIXES[kind]}/{statistic}/{name}"


ARTIFACT_DIR = "diagnostics"
IMAGE_KEY = "histograms"  # the per-epoch pictures' folder under ARTIFACT_DIR, and the GIF's name
FLUSH_SECONDS = 10.0  # metrics are logged in one batch per this many seconds, and at the end
MAX_METRICS_PER_BATCH = 1000  # MLflow's limit per log_batch call


@dataclass(frozen=True)
class RecorderSettings:
    """What a recorder needs, picklable so that it can be handed to the recorder process."""

    run_id: str
    tracking_uri: str
    bins: int
    all_metrics: bool  # every tensor's statistics as metrics, not only the per-layer summaries


class EpochRecorder:
    """Per epoch: summary metrics, a picture of small-multiples histograms (an artifact
    diagnostics/histograms/epoch_NNN.png, and a frame of the run's GIF) and the histograms; at
    the end, the GIF, overview heat-maps and the raw counts."""

    def __init__(self, settings: RecorderSettings) -> None:
        self.run_id = settings.run_id
        self.bins = settings.bins
        self.all_metrics = settings.all_metrics
        self.history = HistogramHistory()
        self._client = MlflowClient(settings.tracking_uri)
        self._panels: dict[str, plotting.HistogramPanels] = {}
        self._scratch = tempfile.TemporaryDirectory(prefix="blueprint-diagnostics-")
        self._gif = plotting.GifWriter(Path(self._scratch.name) / f"{IMAGE_KEY}.gif")
        self._pending: list[Metric] = []  # metrics not logged yet
        self._flushed_at = time.monotonic()

    def record(self, epoch: int, tensors: EpochTensors, dead: dict[str, float]) -> None:
        """`dead`: ReLU layer -> its dead fraction."""
        stats: dict[str, dict[str, dict[str, float]]] = {kind: {} for kind in KINDS}
        pictures = []
        for kind in KINDS:
            histograms = {}
            for name, values in tensors[kind].items():
                stats[kind][name], histograms[name] = describe(values, self.bins)
            if not histograms:
                continue
            self.history.add(epoch, kind, histograms)
            if kind not in self._panels:
                self._panels[kind] = plotting.HistogramPanels(kind, list(histograms))
            pictures.append(self._panels[kind].render(epoch, histograms))
        if pictures:  # one upload an epoch: each costs a tag write and a thumbnail besides
            picture = plotting.stack(pictures)
            self._gif.add(picture)
            path = Path(self._scratch.name) / f"epoch_{epoch:03d}.png"
            picture.save(path, compress_level=1)  # ~5 ms faster an epoch for ~1.5x the bytes
            self._client.log_artifact(self.run_id, str(path), f"{ARTIFACT_DIR}/{IMAGE_KEY}")
            path.unlink()
        metrics = self._layer_metrics(stats, dead)
        if self.all_metrics:
            for kind, by_name in stats.items():
                for name, values in by_name.items():
                    metrics.update({metric_key(kind, k, name): v for k, v in values.items()})
            for name, values in stats["gradients"].items():
                ratio = values["norm"] / max(stats["weights"][name]["norm"], 1e-12)
                metrics[metric_key("gradients", "grad_to_weight", name)] = ratio
        now = int(time.time() * 1000)
        self._pending.extend(Metric(key, value, now, epoch) for key, value in metrics.items())
        if time.monotonic() - self._flushed_at >= FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        """Logs the metrics of the epochs recorded since the last flush, in one batch."""
        for start in range(0, len(self._pending), MAX_METRICS_PER_BATCH):
            batch = self._pending[start : start + MAX_METRICS_PER_BATCH]
            self._client.log_batch(self.run_id, metrics=batch)
        self._pending = []
        self._flushed_at = time.monotonic()

    def _layer_metrics(
        self, stats: dict[str, dict[str, dict[str, float]]], dead: dict[str, float]
    ) -> dict[str, float]:
        """weights/norm/<layer>, gradients/grad_to_weight/<layer> and, for ReLU layers,
        outputs/dead_fraction/<layer>. A layer's norm is that of its variables together.
        """
        metrics = {}
        weights, gradients = _layer_norms(stats["weights"]), _layer_norms(stats["gradients"])
        for layer, norm in weights.items():
            metrics[metric_key("weights", "norm", layer)] = norm
            if layer in gradients:
                ratio = gradients[layer] / max(norm, 1e-12)
                metrics[metric_key("gradients", "grad_to_weight", layer)] = ratio
        for name, fraction in dead.items():
            metrics[metric_key("activations", "dead_fraction", name)] = fraction
        return metrics

    def finish(self, evaluation: SplitEvaluation | None) -> None:
        """The end-of-run artifacts under diagnostics/: `write`'s, and the evaluation's if any."""
        self._flush()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp)
                if evaluation is not None:
                    evaluation.log(self._client, self.run_id, out)
                self.write(out)
                self._client.log_artifacts(self.run_id, tmp, ARTIFACT_DIR)
        finally:
            self.close()

    def close(self) -> None:
        """Removes the GIF being written; `RecorderProcess.close` also ends its child."""
        self._gif.close()
        self._scratch.cleanup()

    def write(self, directory: Path) -> None:
        """histograms.gif, <kind>_overview.png and histograms.npz (counts and edges per epoch)."""
        self._gif.close()
        if self._gif.frames:
            shutil.move(self._gif.path, directory / self._gif.path.name)
        for kind in KINDS:
            series = self.history.series[kind]
            if not series:
                continue
            picture = plotting.overview(kind, self.history.epochs, series, self.bins)
            picture.save(directory / f"{kind}_overview.png")
        np.savez_compressed(directory / "histograms.npz", **self.history.arrays())


def _layer_norms(by_variable: dict[str, dict[str, float]]) -> dict[str, float]:
    """Layer name -> the norm of its variables together, from variable paths "<layer>/<name>"."""
    squares: dict[str, float] = {}
    for path, values in by_variable.items():
        layer = path.rsplit("/", 1)[0]
        squares[layer] = squares.get(layer, 0.0) + values["norm"] ** 2
    return {layer: total**0.5 for layer, total in squares.items()}
