"""Classification evaluation on the validation split: confusion matrix, per-class precision and
recall (one table), their macro averages (metrics), and the most confident mistakes, logged to the
active MLflow run."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from blueprint.data.splits import ImageSplits
from blueprint.diagnostics import plotting


@dataclass(frozen=True)
class Evaluation:
    matrix: np.ndarray  # (classes, classes): true class on rows, predicted on columns
    per_class: dict[str, dict[str, float]]  # class name -> precision, recall, f1, support
    worst: np.ndarray  # indices of misclassified examples, most confident mistake first


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities from a softmax head, or from a single sigmoid unit (binary)."""
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


def evaluate(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str], worst: int
) -> Evaluation:
    classes = np.arange(len(class_names))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0
    )
    per_class = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support, strict=True)
    }
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return Evaluation(
        matrix=confusion_matrix(labels, predicted, labels=classes),
        per_class=per_class,
        worst=wrong[np.argsort(-confidence, kind="stable")][:worst],
    )


def log_evaluation(
    probabilities: np.ndarray, data: ImageSplits, epoch: int, worst: int, dpi: int, out: Path
) -> None:
    """Metrics val_macro_{precision,recall,f1} at step `epoch`, the per-class figures as one table
    (diagnostics/per_class.json: one row per class, where a metric per class would give the UI a
    single-dot chart each), and confusion_matrix.png plus worst_misclassified.png into `out`."""
    names, labels = data.class_names, data.val.labels
    result = evaluate(probabilities, labels, names, worst)
    stats = ("precision", "recall", "f1")
    macro = {
        f"val_macro_{s}": float(np.mean([c[s] for c in result.per_class.values()])) for s in stats
    }
    mlflow.log_metrics(macro, step=epoch)
    columns = ("precision", "recall", "f1", "support")
    table = {"class": list(result.per_class), "best_epoch": [epoch] * len(names)}
    table |= {c: [values[c] for values in result.per_class.values()] for c in columns}
    mlflow.log_table(table, "diagnostics/per_class.json")
    plotting.confusion_matrix_figure(result.matrix, names, dpi).savefig(
        out / "confusion_matrix.png"
    )
    if len(result.worst):
        predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
        titles = [
            f"{names[labels[i]]} -> {names[predicted[i]]} ({confidence[i]:.2f})"
            for i in result.worst
        ]
        grid = plotting.image_grid(data.val.images[result.worst], titles, dpi)
        grid.savefig(out / "worst_misclassified.png")
