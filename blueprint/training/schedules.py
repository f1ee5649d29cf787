"""The `schedule` group: the learning rate as a function of the epoch, set by a Keras callback.

Set per epoch into the optimizer's learning-rate variable rather than given to the optimizer as
a per-step `LearningRateSchedule`: a schedule's numbers would then be traced into the compiled
step, while the variable is what a resumed run's backup restores and what a warm sweep trial
copies in (`blueprint.training.warm_models`), and a rate computed from the epoch alone continues
where an interrupted run stopped. `ReduceOnPlateau` keeps its own counters in a file for that.
"""

import json
import math
from pathlib import Path

import keras


def no_schedule() -> None:
    """schedule=none: optimizer.lr throughout, no callback."""
    return None


def cosine(
    lr: float, epochs: int, warmup_epochs: int = 0, min_lr: float = 0.0
) -> keras.callbacks.LearningRateScheduler:
    """Linear warm-up over `warmup_epochs` (epoch i trains at lr * (i + 1) / (warmup_epochs + 1)),
    then a half cosine from `lr` towards `min_lr` over the remaining epochs."""

    def rate(epoch: int, _current: float) -> float:
        if epoch < warmup_epochs:
            return lr * (epoch + 1) / (warmup_epochs + 1)
        progress = (epoch - warmup_epochs) / max(1, epochs - warmup_epochs)
        return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    return keras.callbacks.LearningRateScheduler(rate)


def step(lr: float, every_epochs: int, factor: float) -> keras.callbacks.LearningRateScheduler:
    """`lr` times `factor` for every `every_epochs` epochs done."""
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, _current: lr * factor ** (epoch // every_epochs)
    )


class ReduceOnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' ReduceLROnPlateau whose best value, epochs without improvement and cooldown
    continue in a resumed run, as the rate it lowered does (that is optimizer state, which the
    backup holds): they are written to `state_file` after every epoch, keyed by the epoch, and
    read back for the epoch before the first one a fit trains. Keyed, so that a run killed
    between this write and the backup's reads the epoch the backup restored."""

    def __init__(self, state_file: str | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.state_file = Path(state_file) if state_file else None
        self._first_epoch = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self._first_epoch = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._first_epoch:
            self._first_epoch = False
            state = self._states().get(str(epoch - 1))
            if state is not None:
                self.best, self.wait, self.cooldown_counter = (
                    state["best"],
                    state["wait"],
                    state["cooldown_counter"],
                )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.state_file is not None:
            state = {"best": float(self.best), "wait": self.wait}
            states = {
                **self._states(),
                str(epoch): state | {"cooldown_counter": self.cooldown_counter},
            }
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps(states))

    def _states(self) -> dict[str, dict]:
        if self.state_file is None or not self.state_file.is_file():
            return {}
        try:
            return json.loads(self.state_file.read_text())
        except ValueError:  # torn by a kill mid-write: the counters start again
            return {}
