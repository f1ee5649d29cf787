"""The Try page's prediction: `blueprint.predict`'s loading and prediction code, on one image,
for any task: the classes with their probabilities, the value, or the mask."""

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from blueprint.data.splits import MAX_PIXEL_VALUE
from blueprint.diagnostics.mask_evaluation import TAB10
from blueprint.errors import ConfigError
from blueprint.serving.reference import CHECKPOINT, TrainedModel, load_trained


@dataclass(frozen=True)
class Tried:
    """What the Try page shows of one prediction."""

    seen: np.ndarray  # the image as the model sees it (its input size), enlarged for display
    label: str  # what `value` is: "predicted class", "predicted value" or "most pixels"
    value: str
    caption: str  # under the value: its probability, or what the chart shows
    chart: pd.Series | None  # by class: the probability, or the share of the mask's pixels
    mask: np.ndarray | None  # segmentation: the predicted mask, a colour per class, enlarged
    legend: str = ""  # segmentation: which colour is which class


@functools.lru_cache(maxsize=4)
def _trained(reference: str, tracking_uri: str, saved_at: int | None) -> TrainedModel:
    """`saved_at`: see `_saved_at`; part of the cache key only."""
    return load_trained(reference, tracking_uri)


def _saved_at(reference: str) -> int | None:
    """When the model file a path names (a `.keras` file, a run directory's checkpoint) was
    written, so that one saved again at the same path is loaded again; None for a run id or a
    registered model."""
    path = Path(reference).expanduser()
    file = path / CHECKPOINT if path.is_dir() else path
    return file.stat().st_mtime_ns if file.is_file() else None


def predict_image(reference: str, tracking_uri: str, path: Path) -> Tried:
    """`reference`: a run id, registered model or `.keras` file, as `python -m blueprint.predict
    model=` takes. ConfigError for a model that cannot be loaded or an unreadable image."""
    from blueprint.data.decoding import read_images
    from blueprint.models.heads import class_probabilities
    from blueprint.serving.predictions import predict_files

    trained = _trained(reference, tracking_uri, _saved_at(reference))
    (prediction,) = predict_files(trained.model, [path], batch_size=1)
    if prediction.output is None:
        raise ConfigError(f"{path}: {prediction.error or 'not an image the model can read'}")
    height, width, channels = trained.model.inputs[0].shape[1:]
    seen = _enlarged(_grey_or_rgb(read_images([str(path)], (height, width), channels)[0]))
    names = trained.class_names
    if trained.task == "regression":
        value = f"{float(prediction.output[0]):.4g}"
        return Tried(seen, "predicted value", value, "in the training targets' units", None, None)
    if trained.task == "segmentation":
        ids = prediction.output.argmax(axis=-1)
        shares = np.bincount(ids.ravel(), minlength=len(names)) / ids.size
        chart = pd.Series(shares, index=pd.Index(names, name="class"), name="share of pixels")
        top = int(shares.argmax())
        caption = f"{shares[top]:.1%} of the pixels; the chart: each class's share"
        colours = list(TAB10)  # by class id, cycled for more classes
        mask = _enlarged(np.array(list(TAB10.values()), "uint8")[ids % len(colours)])
        legend = ", ".join(f"{name} {colours[i % len(colours)]}" for i, name in enumerate(names))
        return Tried(seen, "most pixels", str(names[top]), caption, chart, mask, legend)
    probabilities = class_probabilities(prediction.output[None])[0].astype(float)
    chart = pd.Series(probabilities, index=pd.Index(names, name="class"), name="probability")
    chart = chart.sort_values(ascending=False)
    caption = f"probability {chart.iloc[0]:.1%}"
    return Tried(seen, "predicted class", str(chart.index[0]), caption, chart, None)


def _grey_or_rgb(image: np.ndarray) -> np.ndarray:
    """The model's 0..255 input pixels as 8-bit grey or RGB, not stretched: a dark image is shown
    as dark as the model reads it."""
    pixels = np.clip(np.round(image), 0, MAX_PIXEL_VALUE).astype("uint8")
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def _enlarged(pixels: np.ndarray, side: int = 240) -> np.ndarray:
    """Enlarged to about `side` pixels by whole pixels (a browser would blur a small input such
    as 8x8 digits)."""
    factor = max(1, side // max(pixels.shape[:2]))
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)
