"""Fitting a compiled model on the splits and reading the objective from its history."""

import keras
import numpy as np
from omegaconf import DictConfig

from blueprint.data.pipeline import to_dataset
from blueprint.data.splits import ImageData
from blueprint.plumbing.collector import resume_collector
from blueprint.plumbing.ctrl_c import ctrl_c_at_batch_ends
from blueprint.training.backup import skip_epochs
from blueprint.validation import check_objective_metric


def build_training_state(model: keras.Model, data: ImageData) -> None:
    """Creates the optimizer's and the compiled metrics' variables from one batch's shapes, as
    Keras itself does under a distribution strategy. Without it they are created inside the first
    step's tf.function, which TensorFlow then traces a second time: about 0.2 s a run here."""
    batch = next(iter(to_dataset(data.val, batch_size=1).take(1)))
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=batch)  # Keras 3's own, pinned in pyproject.toml


def check_objective_is_produced(model: keras.Model, metric: str) -> None:
    """Checks the objective is among the metrics the model reports, before training: their
    names exist once the compiled metrics are built (`build_training_state`)."""
    names = list(model.get_metrics_result())
    check_objective_metric(metric, [*names, *(f"val_{n}" for n in names)])


def fit(
    model: keras.Model,
    data: ImageData,
    trainer: DictConfig,
    callbacks: list[keras.callbacks.Callback],
    global_batch: int,
    epochs_done: int = 0,
    augment_with_masks: keras.Layer | None = None,
) -> keras.callbacks.History:
    """`global_batch`: a step's images over all replicas (see `Distribution.global_batch`).
    `epochs_done`: epochs a backup restores (the backup callback among `callbacks` restores
    them); the data order resumes at the next one. `augment_with_masks`: see `to_dataset`."""
    resume_collector()  # a command's start-up ends here (blueprint/plumbing/collector.py)
    train = to_dataset(
        data.train, global_batch, trainer.seed, augment_with_masks=augment_with_masks
    )
    skip_epochs(train, epochs_done)
    with ctrl_c_at_batch_ends():  # raised inside TensorFlow's C++, it could crash the process
        return model.fit(
            train,
            validation_data=to_dataset(data.val, global_batch),
            epochs=trainer.epochs,
            callbacks=callbacks,
            class_weight=class_weights(data) if trainer.class_weight == "balanced" else None,
            verbose=trainer.verbose,
            shuffle=False,  # the training dataset reshuffles itself, seeded
        )


def class_weights(data: ImageData) -> dict[int, float]:
    """Inverse class frequency in the training split, scaled so the mean weight per image is 1
    (scikit-learn's "balanced"): rare classes count as much as common ones in the loss."""
    counts = np.bincount(data.train.labels, minlength=data.num_classes)
    weights = len(data.train) / (data.num_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def best_epoch(
    history: keras.callbacks.History, objective: DictConfig, earlier: dict[int, float] | None = None
) -> tuple[int, float]:
    """The best epoch and its value for the objective (not the last epoch's). `earlier`: the
    values of epochs trained before a resume (epoch -> value), which this fit's history lacks."""
    trained = dict(zip(history.epoch, history.history[objective.metric], strict=True))
    values = {**(earlier or {}), **trained}
    epochs = sorted(values)
    series = np.asarray([values[e] for e in epochs], dtype="float64")
    index = int(np.nanargmax(series) if objective.direction == "maximize" else np.nanargmin(series))
    return epochs[index], float(series[index])
