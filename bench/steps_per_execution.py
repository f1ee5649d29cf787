"""What `trainer.steps_per_execution` (and `trainer.jit_compile`) do to the default digits run's
epoch time.

    .venv/bin/python -m bench.steps_per_execution [--values 1,8,32] [--pairs 5] [--jit false]

The default run's pieces (conf/train.yaml: digits, the CNN, Adam, batch 32, 40 steps an epoch),
built and compiled as `blueprint.train` does, one model per value. Each model trains one untimed
epoch (tracing), then the values alternate, one timed epoch each per round, so drift in machine
load hits all alike. Prints every round, each value's median seconds per epoch, and the median of
its per-round ratios to the first value's.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import keras
from omegaconf import open_dict

from blueprint.data.facts import load_data
from blueprint.data.pipeline import to_dataset
from blueprint.models.build import build_model
from blueprint.training.compile import compile_model
from blueprint.training.fit import build_training_state
from blueprint.training.reproducibility import seed_everything
from tests.helpers import compose_into


def compiled(values: dict[str, object], tmp: Path) -> tuple[keras.Model, object, object]:
    """The default run's model compiled with `values` set under `trainer`, and its datasets."""
    cfg = compose_into(tmp)
    with open_dict(cfg):
        cfg.trainer.update(values)
    allowed = list(cfg.allowed_targets)
    data = load_data(cfg.data, allowed)
    seed_everything(cfg.trainer.seed, cfg.trainer.deterministic)
    model = build_model(cfg, allowed)
    compile_model(model, cfg, allowed)
    build_training_state(model, data)
    train = to_dataset(data.train, cfg.trainer.batch_size, cfg.trainer.seed)
    return model, train, to_dataset(data.val, cfg.trainer.batch_size)


def epoch_seconds(model: keras.Model, train: object, val: object) -> float:
    start = time.perf_counter()
    model.fit(train, validation_data=val, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", default="1,8,32", help="steps_per_execution values")
    parser.add_argument("--pairs", type=int, default=5, help="timed rounds")
    parser.add_argument("--jit", default="auto", choices=["auto", "true", "false"])
    args = parser.parse_args()
    jit = {"true": True, "false": False}.get(args.jit, "auto")
    values = [int(v) for v in args.values.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            v: compiled({"steps_per_execution": v, "jit_compile": jit}, Path(tmp)) for v in values
        }
        for run in runs.values():
            epoch_seconds(*run)  # tracing
        times: dict[int, list[float]] = {v: [] for v in values}
        for round_ in range(args.pairs):
            for v in values:
                times[v].append(epoch_seconds(*runs[v]))
            print(f"round {round_}: " + ", ".join(f"{v}: {times[v][-1]:.2f}s" for v in values))
    base = values[0]
    for v in values:
        ratios = [t / b for t, b in zip(times[v], times[base], strict=True)]
        median = statistics.median(times[v])
        print(
            f"steps_per_execution={v} jit_compile={args.jit}: median {median:.2f} s/epoch, "
            f"{statistics.median(ratios):.2f}x steps_per_execution={base}"
        )


if __name__ == "__main__":
    main()
