"""One captured epoch -> MLflow metrics, one picture per kind and the run's histogram history.

It logs through an `MlflowClient` to an explicit run id, synchronously like the per-epoch Keras
metrics: one batched write is cheap, and MLflow's async queue costs ~0.9 s to shut down per run.
"""

import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric

from blueprint.diagnostics import plotting
from blueprint.diagnostics.histograms import KINDS, HistogramHistory, dead_fraction, describe


def metric_key(*parts: str) -> str:
    """Joins parts with "/", replacing characters MLflow refuses in metric names."""
    return "/".join(re.sub(r"[^\w\-. /]", "_", part) for part in parts)


class EpochRecorder:
    """Per epoch: summary metrics, a small-multiples histogram picture per kind (MLflow image with
    step = epoch) and the histograms; at the end, GIFs, overview heat-maps and the raw counts."""

    def __init__(self, run_id: str, bins: int, dpi: int, relu_layers: Sequence[str]) -> None:
        self.run_id = run_id
        self.bins = bins
        self.dpi = dpi
        self.relu_layers = list(relu_layers)
        self.history = HistogramHistory()
        self._client = MlflowClient()
        self._panels: dict[str, plotting.HistogramPanels] = {}
        self._frames = {kind: plotting.GifFrames() for kind in KINDS}

    def record(self, epoch: int, tensors: dict[str, dict[str, np.ndarray]]) -> None:
        """`tensors`: kind -> tensor name -> values (weights and gradients by variable path)."""
        metrics: dict[str, float] = {}
        for kind in KINDS:
            histograms = {}
            for name, values in tensors[kind].items():
                stats, histograms[name] = describe(values, self.bins)
                metrics.update({metric_key(kind, name, k): v for k, v in stats.items()})
            if not histograms:
                continue
            self.history.add(epoch, kind, histograms)
            if kind not in self._panels:
                self._panels[kind] = plotting.HistogramPanels(kind, list(histograms), self.dpi)
            image = self._panels[kind].render(epoch, histograms)
            self._client.log_image(self.run_id, image, key=f"histograms/{kind}", step=epoch)
            self._frames[kind].add(image)
        for name in tensors["gradients"]:
            ratio = metrics[metric_key("gradients", name, "norm")] / max(
                metrics[metric_key("weights", name, "norm")], 1e-12
            )
            metrics[metric_key("gradients", name, "grad_to_weight")] = ratio
        for name in self.relu_layers:
            fraction = dead_fraction(tensors["activations"][name])
            metrics[metric_key("activations", name, "dead_fraction")] = fraction
        now = int(time.time() * 1000)
        batch = [Metric(key, value, now, epoch) for key, value in metrics.items()]
        self._client.log_batch(self.run_id, metrics=batch)

    def write(self, directory: Path) -> None:
        """<kind>.gif, <kind>_overview.png and histograms.npz (counts and edges per epoch)."""
        for kind in KINDS:
            series = self.history.series[kind]
            if not series:
                continue
            self._frames[kind].save(directory / f"{kind}.gif")
            figure = plotting.overview(kind, self.history.epochs, series, self.bins, self.dpi)
            figure.savefig(directory / f"{kind}_overview.png")
        np.savez_compressed(directory / "histograms.npz", **self.history.arrays())
