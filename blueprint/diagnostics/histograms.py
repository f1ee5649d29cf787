"""Summary statistics and fixed-bin histograms of captured tensors, in numpy.

A tensor of more than `SAMPLE_SIZE` values (an MLP's first kernel on photos: 38.5M) is reduced
where it is captured to its exact statistics and an evenly spread sample of `SAMPLE_SIZE` values
(`reduce`), whose histogram spans the exact range: its cost and what travels to the recorder stay
bounded whatever a layer's size. A smaller tensor is histogrammed whole, every value counted.
"""

import math
from dataclasses import dataclass, field

import numpy as np

KINDS = ("weights", "gradients", "activations")
# Values a histogram counts at most: 2**20 bins a 38.5M-value kernel in ~8 ms (all of them: 0.3 s)
# with counts within ~1% of the whole tensor's in its populated bins.
SAMPLE_SIZE = 2**20


@dataclass(frozen=True)
class Histogram:
    counts: np.ndarray  # (bins,) int64; sums to the number of values
    edges: np.ndarray  # (bins + 1,) in the tensor's float type, equal-width over [min, max]


@dataclass(frozen=True)
class Sampled:
    """A large tensor as the recorder receives it: its exact statistics and a sample."""

    stats: dict[str, float]  # norm, mean, std, min, max of every value
    sample: np.ndarray  # 1-D, at most SAMPLE_SIZE values evenly spread over the tensor


# One epoch's tensors as a recorder receives them: kind (KINDS) -> tensor name -> its values
# (weights and gradients by variable path), a large one as `reduce` makes it.
EpochTensors = dict[str, dict[str, np.ndarray | Sampled]]


def reduce(values: np.ndarray, limit: int = SAMPLE_SIZE) -> np.ndarray | Sampled:
    """`values` itself up to `limit` values, else its statistics and every `step`-th value.

    `step` is coprime with the last axis (a kernel's units, a conv's channels), so the sample
    visits every unit in turn rather than some only; it is the same for every epoch.
    """
    if values.size <= limit:
        return values
    flat = values.ravel()
    step = math.ceil(flat.size / limit)
    while math.gcd(step, values.shape[-1]) != 1:
        step += 1
    return Sampled(_stats(flat), np.ascontiguousarray(flat[::step]))


def _stats(flat: np.ndarray) -> dict[str, float]:
    """Norm, mean, std, min and max in four passes, in the tensor's dtype (no float64 copy)."""
    low, high = float(flat.min()), float(flat.max())
    norm, mean = float(np.sqrt(np.dot(flat, flat))), float(flat.mean())
    variance = max(norm * norm / flat.size - mean * mean, 0.0)  # no pass for (x - mean)
    return {"norm": norm, "mean": mean, "std": variance**0.5, "min": low, "max": high}


def describe(values: np.ndarray | Sampled, bins: int) -> tuple[dict[str, float], Histogram]:
    """Summary statistics (norm, mean, std, min, max) and a histogram, sharing one min/max pass;
    of a `Sampled` tensor, its exact statistics and its sample's histogram over its exact range.

    The `bins` equal-width bins span this epoch's own range, so every value is counted: a fixed
    range would clip gradients, whose scale shrinks by orders of magnitude during training. The
    edges are kept with the counts; the overview re-bins onto a common axis. Statistics stay in
    the tensor's dtype (no float64 copy of a large kernel), and the histogram is a bincount of
    scaled values: five passes, where `np.histogram` takes twice as many.
    """
    if isinstance(values, Sampled):
        stats, flat = values.stats, values.sample
    else:
        flat = values.ravel()
        stats = _stats(flat)
    low, high = stats["min"], stats["max"]
    if not np.isfinite(low + high):  # NaN or inf (a diverging run): histogram the finite values
        flat = flat[np.isfinite(flat)]
        low, high = (float(flat.min()), float(flat.max())) if flat.size else (0.0, 0.0)
    if low == high:  # a constant tensor (e.g. a zero-initialised bias): one bin around the value
        low, high = low - 0.5, high + 0.5
    dtype = np.result_type(flat.dtype, np.float32)  # float32, or float64 for float64 tensors
    scaled = np.subtract(flat, low, dtype=dtype)  # a new array, scaled in place below
    scaled *= dtype.type(bins / (high - low))
    index = scaled.astype(np.intp)
    np.minimum(index, bins - 1, out=index)  # the maximum itself goes in the last bin
    counts = np.bincount(index, minlength=bins).astype("int64")
    return stats, Histogram(counts, np.linspace(low, high, bins + 1, dtype=dtype))


def dead_fraction(activations: np.ndarray) -> float:
    """Share of units (last axis: Dense units or conv channels) that are zero for every example.

    A conv channel counts as dead only if it is zero at every position of every probe example.
    """
    per_unit = activations.reshape(-1, activations.shape[-1])
    return float(np.mean(np.all(per_unit <= 0, axis=0)))


@dataclass
class HistogramHistory:
    """Every captured histogram, by kind and tensor name, in epoch order: GIFs, overviews, npz."""

    epochs: list[int] = field(default_factory=list)
    series: dict[str, dict[str, list[Histogram]]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )

    def add(self, epoch: int, kind: str, histograms: dict[str, Histogram]) -> None:
        if not self.epochs or self.epochs[-1] != epoch:
            self.epochs.append(epoch)
        for name, hist in histograms.items():
            self.series[kind].setdefault(name, []).append(hist)

    def arrays(self) -> dict[str, np.ndarray]:
        """`<kind>/<tensor>/counts|edges` arrays (epochs x bins) plus `epochs`, for np.savez."""
        out: dict[str, np.ndarray] = {"epochs": np.asarray(self.epochs, dtype="int64")}
        for kind, tensors in self.series.items():
            for name, hists in tensors.items():
                out[f"{kind}/{name}/counts"] = np.stack([h.counts for h in hists])
                out[f"{kind}/{name}/edges"] = np.stack([h.edges for h in hists])
        return out
