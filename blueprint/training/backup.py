"""Training that survives its process: a backup every epoch, and a resumed fit that sees the same
data order as an uninterrupted one.

Keras' `BackupAndRestore` saves the weights, the optimizer state and the next epoch's number into
`<run folder>/backup/` at the end of an epoch, restores them when `fit` starts, and deletes
them once training ends normally. `PacedBackup` makes that save at the end of every epoch
unless it would take more than `trainer.backup_share` of the training time: the default CNN's
~43 ms save every 2-3 of its ~0.4 s epochs, a 38.5M-parameter MLP's ~0.76 s (weights and Adam's two
slots, 460 MB) every other 12.8 s epoch. What it does not hold is made a function of the epoch: the
training set's order (`skip_epochs`) and the dropout and augmentation draws (`EpochSeeds`), so a
resumed run ends where an uninterrupted one with the same seed ends.
"""

import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from blueprint.training.backup_files import BACKUP_DIR, METADATA, WEIGHTS, epochs_done, saved_epoch

PREVIOUS = ".bkp"  # its copy of the epoch before (double_checkpoint=True)
ITERATORS_PER_EPOCH = 2  # training-set iterators Keras 3.15's fit opens per epoch (measured)
DRAWS_PER_EPOCH = 2**32  # room for an epoch's random draws per seed generator


def resume_callbacks(output_dir: Path | None, share: float) -> list[keras.callbacks.Callback]:
    """Per-epoch random state, and the backup into `output_dir` (None: no backup, as in sweep
    trials, which the sweeper re-runs rather than resumes) paced by `share` (`PacedBackup`).
    Put them last, so that an epoch is backed up once every other callback has seen it. The
    backup keeps the previous one too, so that a kill while one is written loses one backup's
    epochs, not the run."""
    if output_dir is None:
        return [EpochSeeds()]
    return [EpochSeeds(), PacedBackup(str(output_dir / BACKUP_DIR), share)]


class PacedBackup(keras.callbacks.BackupAndRestore):
    """Keras' per-epoch backup, skipped at an epoch's end while the last backup took more than
    `share` of the training since it ended (1: every epoch). The first epoch is always backed up.

    A skipped epoch is not recorded anywhere: Keras takes the epoch it saves from the
    `on_epoch_end` it is called with, so a resume starts after the last epoch saved and trains
    the skipped ones again, with the same data order and random draws (`skip_epochs`,
    `EpochSeeds`), ending where an uninterrupted run ends.
    """

    def __init__(self, backup_dir: str, share: float) -> None:
        super().__init__(backup_dir, double_checkpoint=True)
        self.share = share
        self._took = 0.0  # seconds the last backup took; 0 until the first
        self._since = time.monotonic()  # when it ended (training began)

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self._took, self._since = 0.0, time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        start = time.monotonic()
        if self.share < 1 and self._took > self.share * (start - self._since):
            return
        super().on_epoch_end(epoch, logs)
        self._since = time.monotonic()
        self._took = self._since - start


class EpochSeeds(keras.callbacks.Callback):
    """Sets every seed generator (dropout, augmentation) to (its first state, epoch) as an epoch
    begins: an epoch's random draws then do not depend on the epochs run before it in this
    process, and a resumed epoch draws what it would have drawn. The backup does not hold these
    states (they are not weights)."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._states = [v for v in self.model.variables if v.name == "seed_generator_state"]
        self._first = [keras.ops.convert_to_numpy(v.value).copy() for v in self._states]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for variable, first in zip(self._states, self._first, strict=True):
            variable.assign(first + np.array([0, epoch * DRAWS_PER_EPOCH], dtype=first.dtype))


def usable_backup(output_dir: Path) -> int:
    """Makes the backup in `output_dir` one Keras can restore and returns its epochs: where a
    resumed fit starts.

    A process killed while writing the metadata leaves it torn; the previous epoch's pair of
    files then replaces the torn pair (Keras falls back by itself only for unreadable weights).
    Without a usable pair, the backup goes and training starts from the beginning.
    """
    backup = output_dir / BACKUP_DIR
    if not backup.exists() or saved_epoch(backup / METADATA) is not None:
        return epochs_done(output_dir)
    if saved_epoch(backup / (METADATA + PREVIOUS)) is not None:
        for name in (WEIGHTS, METADATA):
            shutil.copyfile(backup / (name + PREVIOUS), backup / name)
    else:
        shutil.rmtree(backup)
    return epochs_done(output_dir)


def skip_epochs(dataset: tf.data.Dataset, epochs: int) -> None:
    """Advances the dataset's reshuffling past `epochs` epochs without reading any element: each
    new iterator draws the next order, and fit opens ITERATORS_PER_EPOCH of them an epoch
    (tests/test_resume.py fails if a Keras release changes that)."""
    for _ in range(epochs * ITERATORS_PER_EPOCH):
        iter(dataset)
