"""Regression evaluation of a split: MAE, RMSE and R², the residual plot, and the images
predicted furthest from their target."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric

from blueprint.diagnostics import evaluation_pictures


@dataclass(frozen=True)
class ValueEvaluation:
    epoch: int  # the best epoch, whose weights were evaluated
    true: np.ndarray  # (n,) targets
    predicted: np.ndarray  # (n,) the model's values
    worst_images: np.ndarray  # the largest errors first
    worst_titles: list[str]  # "true -> predicted" for each
    split: str = "val"

    def metrics(self) -> dict[str, float]:
        """<split>_{mae,rmse,r2}; R² is 1 for a perfect fit and 0 for predicting the mean."""
        error = self.predicted - self.true
        spread = float(np.sum((self.true - self.true.mean()) ** 2))
        r2 = 1.0 - float(np.sum(error**2)) / spread if spread > 0 else float("nan")
        return {
            f"{self.split}_mae": float(np.mean(np.abs(error))),
            f"{self.split}_rmse": float(np.sqrt(np.mean(error**2))),
            f"{self.split}_r2": r2,
        }

    def log(
        self, client: MlflowClient, run_id: str, out: Path, artifact_dir: str = "diagnostics"
    ) -> None:
        """<split>_r2 at step = best epoch (validation MAE and RMSE are Keras' own epoch
        metrics; the test split logs all three), residuals.png and worst_predicted.png in `out`,
        and every target with its prediction as <artifact_dir>/predictions.json."""
        now = int(time.time() * 1000)
        metrics = self.metrics() if self.split != "val" else {"val_r2": self.metrics()["val_r2"]}
        client.log_batch(run_id, [Metric(k, v, now, self.epoch) for k, v in metrics.items()])
        table = {"true": self.true.tolist(), "predicted": self.predicted.tolist()}
        client.log_table(run_id, table, f"{artifact_dir}/predictions.json")
        title = evaluation_pictures.SPLIT_TITLES[self.split]
        evaluation_pictures.residual_picture(self.true, self.predicted, title).save(
            out / "residuals.png"
        )
        if len(self.worst_titles):
            heading = f"{title} images predicted furthest off (true -> predicted)"
            grid = evaluation_pictures.image_grid(self.worst_images, self.worst_titles, heading)
            grid.save(out / "worst_predicted.png")


def evaluate(
    outputs: np.ndarray,
    targets: np.ndarray,
    read_images: Callable[[np.ndarray], np.ndarray],
    epoch: int,
    worst: int,
    split: str = "val",
) -> ValueEvaluation:
    predicted = outputs.reshape(-1).astype("float64")
    true = np.asarray(targets, dtype="float64").reshape(-1)
    chosen = np.argsort(-np.abs(predicted - true), kind="stable")[:worst]
    return ValueEvaluation(
        epoch=epoch,
        true=true,
        predicted=predicted,
        worst_images=read_images(chosen),
        worst_titles=[f"{true[i]:.3g} -> {predicted[i]:.3g}" for i in chosen],
        split=split,
    )
