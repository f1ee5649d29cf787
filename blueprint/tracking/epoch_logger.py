"""Per-epoch Keras logs to MLflow metrics."""

from numbers import Real

import keras
import mlflow


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs every numeric value Keras reports at the end of an epoch, with step = epoch (0-based).

    Logging is asynchronous so the next epoch never waits on the store; the run flushes at its end.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, Real)}
        if metrics:
            mlflow.log_metrics(metrics, step=epoch, synchronous=False)
