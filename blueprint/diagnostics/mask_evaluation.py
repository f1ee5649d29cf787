"""Segmentation evaluation of a split: per-class IoU and Dice from the pixel confusion matrix,
their means, and overlays of the images segmented worst (true mask beside predicted mask)."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric

from blueprint.diagnostics import evaluation_pictures

# Masks are drawn in matplotlib's tab10 colours, here and on the app's Try page; by name, for
# legends.
TAB10 = {
    "blue": (31, 119, 180),
    "orange": (255, 127, 14),
    "green": (44, 160, 44),
    "red": (214, 39, 40),
    "purple": (148, 103, 189),
    "brown": (140, 86, 75),
    "pink": (227, 119, 194),
    "grey": (127, 127, 127),
    "olive": (188, 189, 34),
    "cyan": (23, 190, 207),
}
# Overlay colours of classes 1.. (class 0, the background, is left uncoloured).
COLOURS = (
    np.array([TAB10[c] for c in ("red", "blue", "green", "orange", "purple")], "float32") / 255
)
OPACITY = 0.45


@dataclass(frozen=True)
class MaskEvaluation:
    epoch: int  # the best epoch, whose weights were evaluated
    class_names: list[str]
    matrix: np.ndarray  # (classes, classes) pixel counts: true class on rows, predicted on columns
    overlays: np.ndarray  # (k, h, 2w + gap, 3): true mask | predicted mask over each image
    overlay_titles: list[str]  # the image's IoU
    split: str = "val"

    def per_class(self) -> dict[str, dict[str, float]]:
        """IoU tp/(tp+fp+fn) and Dice 2tp/(2tp+fp+fn) per class; NaN for a class in neither the
        truth nor the prediction, which the means leave out (as Keras' MeanIoU does)."""
        tp = np.diag(self.matrix).astype("float64")
        union = self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - tp  # tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            iou, dice = tp / union, 2 * tp / (union + tp)
        return {
            name: {"iou": float(i), "dice": float(d), "pixels": int(s)}
            for name, i, d, s in zip(
                self.class_names, iou, dice, self.matrix.sum(axis=1), strict=True
            )
        }

    def metrics(self) -> dict[str, float]:
        """<split>_{iou,dice}: the per-class figures averaged over the classes that occur."""
        rows = self.per_class().values()
        return {
            f"{self.split}_{k}": float(np.nanmean([row[k] for row in rows]))
            for k in ("iou", "dice")
        }

    def log(
        self, client: MlflowClient, run_id: str, out: Path, artifact_dir: str = "diagnostics"
    ) -> None:
        """The test split's means at step = best epoch (validation's are Keras' epoch metrics),
        per-class IoU and Dice as <artifact_dir>/per_class.json, worst_segmented.png in `out`."""
        if self.split != "val":
            now = int(time.time() * 1000)
            metrics = [Metric(k, v, now, self.epoch) for k, v in self.metrics().items()]
            client.log_batch(run_id, metrics)
        rows = self.per_class()
        table = {"class": list(rows), "best_epoch": [self.epoch] * len(rows)}
        table |= {k: [row[k] for row in rows.values()] for k in ("iou", "dice", "pixels")}
        client.log_table(run_id, table, f"{artifact_dir}/per_class.json")
        if len(self.overlay_titles):
            title = evaluation_pictures.SPLIT_TITLES[self.split]
            heading = f"worst-segmented {title} images: true mask | predicted mask"
            grid = evaluation_pictures.image_grid(self.overlays, self.overlay_titles, heading)
            grid.save(out / "worst_segmented.png")


def evaluate(
    outputs: np.ndarray,
    masks: np.ndarray,
    read_images: Callable[[np.ndarray], np.ndarray],
    class_names: Sequence[str],
    epoch: int,
    worst: int,
    split: str = "val",
) -> MaskEvaluation:
    count = len(class_names)
    predicted = outputs.argmax(axis=-1)
    masks = masks.reshape(predicted.shape).astype("int64")
    matrix = np.bincount((masks * count + predicted).ravel(), minlength=count * count).reshape(
        count, count
    )
    scores = np.array([image_iou(m, p, count) for m, p in zip(masks, predicted, strict=True)])
    chosen = np.argsort(scores, kind="stable")[:worst]
    images = read_images(chosen)
    return MaskEvaluation(
        epoch=epoch,
        class_names=list(class_names),
        matrix=matrix,
        overlays=np.stack(
            [side_by_side(images[k], masks[i], predicted[i]) for k, i in enumerate(chosen)]
        )
        if len(chosen)
        else np.zeros((0, 1, 1, 3)),
        overlay_titles=[f"IoU {scores[i]:.2f}" for i in chosen],
        split=split,
    )


def image_iou(mask: np.ndarray, predicted: np.ndarray, count: int) -> float:
    """Mean IoU over the classes present in the image's truth or prediction."""
    ious = []
    for c in range(count):
        truth, guess = mask == c, predicted == c
        union = np.count_nonzero(truth | guess)
        if union:
            ious.append(np.count_nonzero(truth & guess) / union)
    return float(np.mean(ious))


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(h, w, 3) in 0..1: the image in grey (or colour), classes 1.. tinted in their colours."""
    pixels = image.astype("float32") / max(float(image.max()), 1e-12)
    rgb = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels
    tinted = mask > 0
    colours = COLOURS[(mask[tinted] - 1) % len(COLOURS)]
    rgb[tinted] = (1 - OPACITY) * rgb[tinted] + OPACITY * colours
    return rgb


def side_by_side(image: np.ndarray, mask: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The true mask's overlay, a white gap, then the predicted mask's."""
    gap = np.ones((image.shape[0], 2, 3), dtype="float32")
    return np.concatenate([overlay(image, mask), gap, overlay(image, predicted)], axis=1)
