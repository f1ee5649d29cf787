"""The other side of bench/trial_cost.py: the sweep a user writes by hand instead of blueprint's.

A plain Optuna study (SQLite, so it can be resumed) whose objective trains the same 1-epoch MLP on
the digits in process and logs its params and per-epoch metrics to an MLflow run nested under
the study's run; no model logged, no diagnostics. Usage:
    python -m bench.hand_written_sweep FOLDER TRIALS EPOCHS
"""

import sys
from pathlib import Path

import keras
import mlflow
import optuna

from blueprint.data.digits import load_digits


def main(folder: Path, trials: int, epochs: int) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    data = load_digits(0.15, 0.15, seed=42)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("optimizer.lr", 1e-4, 1e-2, log=True)
        name = trial.suggest_categorical("optimizer", ["adam", "adamw", "rmsprop"])
        batch_size = trial.suggest_categorical("trainer.batch_size", [32, 64, 128])
        keras.utils.set_random_seed(42)
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Rescaling(1 / 255),  # the digits load as 0..255 pixels
                keras.layers.Flatten(),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dropout(0.2),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        optimizer = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW}.get(
            name, keras.optimizers.RMSprop
        )(lr)
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params(trial.params)
            history = model.fit(
                data.train.images, data.train.labels,
                validation_data=(data.val.images, data.val.labels),
                batch_size=batch_size, epochs=epochs, verbose=0,
            )  # fmt: skip
            for epoch in range(epochs):
                mlflow.log_metrics({k: v[epoch] for k, v in history.history.items()}, step=epoch)
        keras.backend.clear_session()
        return max(history.history["val_accuracy"])

    study = optuna.create_study(
        storage=f"sqlite:///{folder}/optuna.db",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=42),
    )
    with mlflow.start_run(run_name="study"):
        study.optimize(objective, n_trials=trials)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
