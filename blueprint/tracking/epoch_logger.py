"""Per-epoch Keras logs to MLflow metrics, under `epoch/` so they are the first charts a user sees.

MLflow's run page groups metric charts by key prefix (the part before the last "/"), sorts the
groups by name and always puts un-prefixed keys last, under "Model metrics". Keras' own names
("loss", "val_accuracy") would sit below every diagnostics group; `epoch/loss` comes first.
"""

import contextlib
from numbers import Real

import keras
import mlflow

from blueprint.errors import first_line
from blueprint.never_fatal import NeverFatal
from blueprint.tracking.store_opening import fail_fast_http, masked

EPOCH_PREFIX = "epoch/"
# Run tag, set where the store takes it again: the epoch whose curves failed to log, and why.
FAILED_TAG = "epoch_logging.failed"
LR_KEY = EPOCH_PREFIX + "lr"  # the learning rate an epoch trained at
KERAS_LR_LOG = "learning_rate"  # what Keras' learning-rate callbacks add to the logs


def epoch_metric_key(name: str) -> str:
    """The MLflow key of a Keras log: `val_accuracy` -> `epoch/val_accuracy`."""
    return EPOCH_PREFIX + name


def logged_epochs(run_id: str, name: str) -> dict[int, float]:
    """Epoch -> value of a Keras log the run has logged (a resumed run's earlier epochs)."""
    history = mlflow.MlflowClient().get_metric_history(run_id, epoch_metric_key(name))
    return {m.step: m.value for m in history}


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs every numeric value Keras reports at the end of an epoch, with step = epoch (0-based),
    and the optimizer's learning rate as `epoch/lr`. Read from the optimizer before the schedule's
    callback runs (this logger comes first): the rate the epoch trained at, where Keras' own
    `learning_rate` log would hold ReduceLROnPlateau's next one.

    Synchronous on purpose: one batched write costs ~6 ms on SQLite, while MLflow's async queue
    costs ~0.9 s to shut down at the end of every run (measured), which dominates short trials.

    A write the store refuses never stops training (`NeverFatal`): one warning naming the store,
    no more curves in this run, and a tag saying from which epoch they are missing.
    """

    def __init__(self, logged_through: int = -1) -> None:
        """`logged_through`: in a resumed run, the last step already logged. An epoch logged
        but not backed up before the process died is trained again; its first values stay, so
        every step holds one value."""
        super().__init__()
        self.logged_through = logged_through
        self._epoch = -1
        self._failure: str | None = None  # the tag the store has not taken yet

    def on_train_begin(self, logs: dict | None = None) -> None:
        store = masked(mlflow.get_tracking_uri())  # the run's, known once it started
        self._safely = NeverFatal(
            f"logging epochs to the MLflow store {store}", self._tag_failure
        ).run

    def _tag_failure(self, err: Exception) -> None:
        """Tags the run now, or, where the store refuses this too, once more as training ends."""
        self._failure = f"epoch {self._epoch} on: {type(err).__name__}: {first_line(err)}"
        self._tag()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._failure is not None:
            with contextlib.suppress(Exception):  # it was warned about already
                self._tag()

    def _tag(self) -> None:
        with fail_fast_http():  # one try: the write that failed had MLflow's retries
            mlflow.set_tag(FAILED_TAG, self._failure)
        self._failure = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch <= self.logged_through:
            return
        metrics = {
            epoch_metric_key(k): float(v)
            for k, v in (logs or {}).items()
            if isinstance(v, Real) and k != KERAS_LR_LOG
        }
        metrics[LR_KEY] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._epoch = epoch
        self._safely(f"epoch {epoch}", lambda: mlflow.log_metrics(metrics, step=epoch))
