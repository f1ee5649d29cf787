"""The Keras side of pruning: report each epoch's objective to the trial, stop when pruned."""

import math

import keras
import mlflow
import optuna

from blueprint.errors import TrialPruned
from blueprint.sweeps.contract import TRIAL_STATE_TAG


class ReportToTrial(keras.callbacks.Callback):
    """Reports the objective after every epoch (step = epoch) and raises TrialPruned when the
    study's pruner says so. The report goes through the shared storage, so the pruner compares
    this trial with every other one, whichever process ran it.
    """

    def __init__(self, trial: optuna.trial.Trial, metric: str) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return  # a missing or NaN value is FailOnNonFiniteLoss's business, not the pruner's
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            mlflow.set_tag(TRIAL_STATE_TAG, "PRUNED")
            raise TrialPruned(
                f"trial {self.trial.number} pruned after epoch {epoch}: "
                f"{self.metric}={float(value):.4f}"
            )
