"""The evaluation of a split (validation in training, test in `blueprint.evaluate`), per task.

Classes: confusion matrix, per-class precision and recall (one table), their macro averages
(metrics), and the most confident mistakes. Values (regression) and masks (segmentation) have
their own modules. `evaluate_split` runs where the model is (the training process) and keeps only
what the pictures need; the result's `log` draws and logs it, wherever the recorder runs.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from blueprint.data.pipeline import to_dataset
from blueprint.data.splits import Split
from blueprint.diagnostics import evaluation_pictures, mask_evaluation, value_evaluation

STATS = ("precision", "recall", "f1")


@dataclass(frozen=True)
class Evaluation:
    epoch: int  # the best epoch, whose weights were evaluated
    class_names: list[str]
    matrix: np.ndarray  # (classes, classes): true class on rows, predicted on columns
    per_class: dict[str, dict[str, float]]  # class name -> precision, recall, f1, support
    worst_images: np.ndarray  # misclassified examples, most confident mistake first
    worst_titles: list[str]  # "true -> predicted (p)" for each
    split: str = "val"  # the split evaluated: names the metrics and titles the pictures

    def metrics(self) -> dict[str, float]:
        """<split>_macro_{precision,recall,f1}: the per-class figures averaged, every class
        alike."""
        rows = self.per_class.values()
        return {f"{self.split}_macro_{s}": float(np.mean([row[s] for row in rows])) for s in STATS}

    def log(
        self, client: MlflowClient, run_id: str, out: Path, artifact_dir: str = "diagnostics"
    ) -> None:
        """`metrics()` at step = best epoch, the per-class figures as one table
        (<artifact_dir>/per_class.json: one row per class, where a metric per class would give
        the UI a single-dot chart each), and confusion_matrix.png plus worst_misclassified.png
        in `out`."""
        now = int(time.time() * 1000)
        rows = self.per_class.values()
        client.log_batch(run_id, [Metric(k, v, now, self.epoch) for k, v in self.metrics().items()])
        table = {"class": list(self.per_class), "best_epoch": [self.epoch] * len(rows)}
        table |= {c: [row[c] for row in rows] for c in (*STATS, "support")}
        client.log_table(run_id, table, f"{artifact_dir}/per_class.json")
        title = evaluation_pictures.SPLIT_TITLES[self.split]
        matrix = evaluation_pictures.confusion_matrix_picture(self.matrix, self.class_names, title)
        matrix.save(out / "confusion_matrix.png")
        if len(self.worst_titles):
            heading = f"worst-misclassified {title} images (true -> predicted, p)"
            grid = evaluation_pictures.image_grid(self.worst_images, self.worst_titles, heading)
            grid.save(out / "worst_misclassified.png")


# What `evaluate_split` returns, one kind per kind of target; each has `metrics()` and `log()`.
SplitEvaluation = Evaluation | value_evaluation.ValueEvaluation | mask_evaluation.MaskEvaluation


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities from a softmax head, or from a single sigmoid unit (binary)."""
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


def predict_split(
    model: keras.Model, split: Split, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """The model's outputs on `split` and its targets (masks read from their files too), by
    eager calls over the streamed split: `model.predict` would trace a function for one use."""
    outputs, targets = [], []
    for images, batch_targets in to_dataset(split, batch_size):
        outputs.append(keras.ops.convert_to_numpy(model(images, training=False)))
        targets.append(np.asarray(batch_targets))
    return np.concatenate(outputs), np.concatenate(targets)


def evaluate_split(
    targets_kind: str,
    outputs: np.ndarray,
    targets: np.ndarray,
    read_images: Callable[[np.ndarray], np.ndarray],
    class_names: Sequence[str],
    epoch: int,
    worst: int,
    split: str = "val",
) -> SplitEvaluation:
    """The evaluation that fits the targets ("classes", "values" or "masks")."""
    if targets_kind == "values":
        return value_evaluation.evaluate(outputs, targets, read_images, epoch, worst, split)
    if targets_kind == "masks":
        return mask_evaluation.evaluate(
            outputs, targets, read_images, class_names, epoch, worst, split
        )
    probabilities = class_probabilities(outputs)
    return evaluate(probabilities, targets, read_images, class_names, epoch, worst, split)


def evaluate(
    probabilities: np.ndarray,
    labels: np.ndarray,
    read_images: Callable[[np.ndarray], np.ndarray],
    class_names: Sequence[str],
    epoch: int,
    worst: int,
    split: str = "val",
) -> Evaluation:
    classes = np.arange(len(class_names))
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0
    )
    per_class = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support, strict=True)
    }
    wrong = np.flatnonzero(predicted != labels)
    chosen = wrong[np.argsort(-confidence[wrong], kind="stable")][:worst]
    return Evaluation(
        epoch=epoch,
        class_names=list(class_names),
        matrix=confusion_matrix(labels, predicted, labels=classes),
        per_class=per_class,
        worst_images=read_images(chosen),  # only these are read, for files
        worst_titles=[
            f"{class_names[labels[i]]} -> {class_names[predicted[i]]} ({confidence[i]:.2f})"
            for i in chosen
        ],
        split=split,
    )
