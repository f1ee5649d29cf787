"""The `schedule` group: the learning rate as a function of the epoch, set by a Keras callback.

Set per epoch into the optimizer's learning-rate variable rather than given to the optimizer as
a per-step `LearningRateSchedule`: a schedule's numbers would then be traced into the compiled
step, while the variable is what a resumed run's backup restores and what a warm sweep trial
copies in (`blueprint.training.warm_models`), and a rate computed from the epoch alone continues
where an interrupted run stopped.
"""

import math

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
