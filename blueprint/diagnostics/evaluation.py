"""Classification evaluation of a split (validation in training, test in `blueprint.evaluate`):
confusion matrix, per-class precision and recall (one table), their macro averages (metrics), and
the most confident mistakes.

`evaluate` runs where the model is (the training process) and keeps only what the pictures need;
`log_evaluation` draws and logs it, wherever the recorder runs.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from blueprint.diagnostics import evaluation_pictures

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


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities from a softmax head, or from a single sigmoid unit (binary)."""
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


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


def macro_averages(result: Evaluation) -> dict[str, float]:
    """<split>_macro_{precision,recall,f1}: the per-class figures averaged, every class alike."""
    rows = result.per_class.values()
    return {f"{result.split}_macro_{s}": float(np.mean([row[s] for row in rows])) for s in STATS}


def log_evaluation(
    client: MlflowClient,
    run_id: str,
    result: Evaluation,
    out: Path,
    artifact_dir: str = "diagnostics",
) -> None:
    """Metrics <split>_macro_{precision,recall,f1} at step = best epoch, the per-class figures as
    one table (<artifact_dir>/per_class.json: one row per class, where a metric per class would
    give the UI a single-dot chart each), and confusion_matrix.png plus worst_misclassified.png
    in `out`."""
    now = int(time.time() * 1000)
    rows = result.per_class.values()
    macro = [Metric(k, v, now, result.epoch) for k, v in macro_averages(result).items()]
    client.log_batch(run_id, metrics=macro)
    table = {"class": list(result.per_class), "best_epoch": [result.epoch] * len(rows)}
    table |= {c: [values[c] for values in rows] for c in (*STATS, "support")}
    client.log_table(run_id, table, f"{artifact_dir}/per_class.json")
    title = evaluation_pictures.SPLIT_TITLES[result.split]
    matrix = evaluation_pictures.confusion_matrix_picture(result.matrix, result.class_names, title)
    matrix.save(out / "confusion_matrix.png")
    if len(result.worst_titles):
        grid = evaluation_pictures.image_grid(result.worst_images, result.worst_titles, title)
        grid.save(out / "worst_misclassified.png")
