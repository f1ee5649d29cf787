"""A Keras callback that saves when each epoch began, for benches that time epochs on both sides.

blueprint logs no epoch duration, so bench/photo_pipeline.py adds this to a blueprint run through
config (`+callbacks.epoch_times._target_=bench.epoch_times.EpochTimes`) and to its plain Keras
script alike. It imports only Keras, so adding it costs a run nothing measurable.
"""

import json
import time
from pathlib import Path

import keras


class EpochTimes(keras.callbacks.Callback):
    """Writes `{"begins": [wall-clock seconds at each epoch's start], "end": ...}` to `path` when
    training ends. Epoch k's time is begins[k+1] - begins[k]: all of its steps, its validation and
    every callback's end-of-epoch work, in whatever order the callbacks run."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.begins: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.begins.append(time.time())

    def on_train_end(self, logs: dict | None = None) -> None:
        self.path.write_text(json.dumps({"begins": self.begins, "end": time.time()}))
