"""The Try page's prediction: `blueprint.predict`'s loading and prediction code, on one image."""

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from blueprint.errors import ConfigError
from blueprint.serving.reference import TrainedModel, load_trained


@functools.lru_cache(maxsize=4)
def _trained(reference: str, tracking_uri: str) -> TrainedModel:
    return load_trained(reference, tracking_uri)


def predict_image(reference: str, tracking_uri: str, path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """`reference`: a run id or registered model, as `python -m blueprint.predict model=` takes.
    The image as the model sees it (read at its input size, as predict reads it) and every
    class with its probability, most likely first. ConfigError for an unreadable image or a
    model that does not classify."""
    from blueprint.data.decoding import read_images
    from blueprint.diagnostics.evaluation import class_probabilities
    from blueprint.serving.predictions import predict_files

    trained = _trained(reference, tracking_uri)
    if trained.task != "classification":
        raise ConfigError(f"the run's model predicts {trained.task}; the Try page shows classes")
    (prediction,) = predict_files(trained.model, [path], batch_size=1)
    if prediction.output is None:
        raise ConfigError(f"{path}: {prediction.error or 'not an image the model can read'}")
    probabilities = class_probabilities(prediction.output[None])[0]
    height, width, channels = trained.model.inputs[0].shape[1:]
    seen = read_images([str(path)], (height, width), channels)[0]
    table = pd.DataFrame({"class": trained.class_names, "probability": probabilities.astype(float)})
    return _displayable(seen), table.sort_values("probability", ascending=False, ignore_index=True)


def _displayable(image: np.ndarray, side: int = 240) -> np.ndarray:
    """Raw pixels of any range as 8-bit grey or RGB, enlarged to about `side` pixels by whole
    pixels (a browser would blur a small input such as 8x8 digits)."""
    scaled = (image - image.min()) / max(float(image.max() - image.min()), 1e-9)
    pixels = (scaled * 255).astype("uint8")
    factor = max(1, side // max(pixels.shape[:2]))
    pixels = pixels.repeat(factor, axis=0).repeat(factor, axis=1)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels
