"""Evaluating a split where the model is: its outputs (`predict_split`) and the evaluation that
fits its targets (`evaluate_split`), which keeps only what the pictures need. Its own module as it
imports Keras and scikit-learn, which drawing and logging the result (`evaluation`, in the
recorder's child process too) do not need.
"""

from collections.abc import Callable, Sequence

import keras
import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from blueprint.data.pipeline import to_dataset
from blueprint.data.splits import Split
from blueprint.diagnostics import mask_evaluation, value_evaluation
from blueprint.diagnostics.evaluation import Evaluation, SplitEvaluation
from blueprint.models.heads import class_probabilities


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
