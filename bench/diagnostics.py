"""What `diagnostics=default` costs: the same training run with diagnostics off and on, alternating.

    .venv/bin/python -m bench.diagnostics [--workload stock|wide|both] [--pairs 3] [--epochs N]
                                          [extra overrides ...]

Workloads: `stock`, the default recipe as it is (the digits CNN, ~0.4 s epochs, its own epoch
count and early stopping), where the fixed per-epoch cost of diagnostics weighs most; `wide`, the
same CNN widened to filters [192, 384, 768] (3.6 M parameters, ~2-3 s epochs on a 2-core CPU, 15
epochs), where the histograms grow with the model. Diagnostics capture every epoch (the default)
on every layer. Each timed call is the whole `train()`: build, fit, the end-of-run GIFs, overviews
and evaluation, test evaluation; only the MLflow model upload is off (identical in both arms).
Off and on alternate, after an untimed warm-up of each, so drift in machine load hits both alike;
every pair is printed, with the metric keys the `default` run logged, then the median of the
per-pair ratios and the ratio of the mean times (on 2 shared cores the same `off` run varies by
~20%, and a whole bench by more: read both). Each pair also prints the seconds the diagnostics
callback held the training thread (its `diagnostics.seconds` run tag) as a share of the `off`
run: what diagnostics add, unblurred by that noise; their median is the last figure.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from mlflow import MlflowClient
from omegaconf import DictConfig, open_dict

from blueprint.diagnostics.callback import SECONDS_TAG
from blueprint.tracking.epoch_logger import epoch_metric_key
from blueprint.train import train
from tests.helpers import compose_into

COMMON = ["tracking.log_model=false", "trainer.verbose=0"]
WORKLOADS = {
    "stock": [],
    "wide": ["model.filters=[192,384,768]", "model.dense_units=[256,128]", "trainer.epochs=15"],
}


def config(store: Path, overrides: list[str]) -> DictConfig:
    cfg = compose_into(store, *overrides)
    with open_dict(cfg):
        cfg.experiment_name = cfg.tracking.experiment_name = "bench-diagnostics"
    return cfg


class Timed(NamedTuple):
    seconds: float  # the whole `train()`
    epochs: int  # trained
    keys: int  # metric keys logged
    diagnostics_seconds: float | None  # the diagnostics callback's own time; None when off


def timed_run(store: Path, overrides: list[str]) -> Timed:
    cfg = config(store, overrides)
    start = time.perf_counter()
    train(cfg)
    seconds = time.perf_counter() - start
    client = MlflowClient(cfg.tracking.uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment_name)
    [run] = client.search_runs(
        [experiment.experiment_id], order_by=["start_time DESC"], max_results=1
    )
    epochs = len(client.get_metric_history(run.info.run_id, epoch_metric_key("loss")))
    own = run.data.tags.get(SECONDS_TAG)
    return Timed(seconds, epochs, len(run.data.metrics), None if own is None else float(own))


def bench(workload: str, pairs: int, extra: list[str]) -> float:
    """Alternating off/on pairs of one workload; prints each pair, returns the median ratio."""
    common = [*COMMON, *WORKLOADS[workload], *extra]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp)
        for arm in ("off", "default"):  # imports and first traces, paid by neither timed arm
            timed_run(store, [*common, f"diagnostics={arm}", "trainer.epochs=1"])
        ratios, shares, offs, ons = [], [], [], []
        for pair in range(pairs):
            off = timed_run(store, [*common, "diagnostics=off"])
            on = timed_run(store, [*common, "diagnostics=default"])
            if on.diagnostics_seconds is None:
                raise SystemExit(f"the diagnostics=default run has no {SECONDS_TAG} tag")
            ratios.append(on.seconds / off.seconds)
            shares.append(on.diagnostics_seconds / off.seconds)
            offs.append(off.seconds)
            ons.append(on.seconds)
            print(
                f"{workload} pair {pair + 1}: off {off.seconds:.1f} s ({off.epochs} epochs, "
                f"{off.seconds / off.epochs:.2f} s/epoch), default {on.seconds:.1f} s "
                f"({on.keys} metric keys), ratio {ratios[-1]:.3f}; diagnostics held training "
                f"{on.diagnostics_seconds:.2f} s, {shares[-1]:.1%} of the off run",
                flush=True,
            )
    median = statistics.median(ratios)
    means = statistics.mean(ons) / statistics.mean(offs)
    print(
        f"{workload}: median ratio default/off over {pairs} pairs: {median:.3f}; "
        f"ratio of the mean times: {means:.3f}; diagnostics' own time, median: "
        f"{statistics.median(shares):.1%} of the off run",
        flush=True,
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=[*WORKLOADS, "both"], default="both")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="overrides the workload's trainer.epochs")
    args, extra = parser.parse_known_args()
    extra = [*extra, *([f"trainer.epochs={args.epochs}"] if args.epochs else [])]
    workloads = list(WORKLOADS) if args.workload == "both" else [args.workload]
    medians = {workload: bench(workload, args.pairs, extra) for workload in workloads}
    print("  ".join(f"{w} {m:.3f}" for w, m in medians.items()))


if __name__ == "__main__":
    main()
