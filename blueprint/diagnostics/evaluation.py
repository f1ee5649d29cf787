"""The evaluation of a split (validation in training, test in `blueprint.evaluate`), per task.

Classes: confusion matrix, per-class precision and recall (one table), their macro averages
(metrics), and the most confident mistakes. Values (regression) and masks (segmentation) have
their own modules. `split_evaluation.evaluate_split` makes one where the model is (the training
process); its `log` draws and logs it, wherever the recorder runs.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric

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


# What `split_evaluation.evaluate_split` returns, a kind per kind of target; each has `metrics()`
# and `log()`.
SplitEvaluation = Evaluation | value_evaluation.ValueEvaluation | mask_evaluation.MaskEvaluation
