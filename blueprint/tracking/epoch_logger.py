"""Per-epoch Keras logs to MLflow metrics."""

from numbers import Real

import keras
import mlflow


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs every numeric value Keras reports at the end of an epoch, with step = epoch (0-based).

    Synchronous on purpose: one batched write costs ~6 ms on SQLite, while MLflow's async queue
    costs ~0.9 s to shut down at the end of every run (measured), which dominates short trials.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, Real)}
        if metrics:
            mlflow.log_metrics(metrics, step=epoch)
