"""What `diagnostics=default` costs: the same training run with diagnostics off and on, alternating.

    .venv/bin/python -m bench.diagnostics [--pairs 3] [--epochs 15] [extra overrides ...]

Workload: the default CNN widened to filters [192, 384, 768] on the digits (3.6 M parameters), so
an epoch takes about 3 s on a 2-core CPU without a download; the stock digits CNN takes ~0.4 s an
epoch, where the fixed per-epoch cost of diagnostics (~0.2 s of CPU) would dominate. A wider model
is the honest way to lengthen an epoch: the histograms grow with it. Diagnostics capture every
epoch (the default) on every layer. Each timed call is the whole `train()`: build, fit, the
end-of-run GIFs, overviews and evaluation, test evaluation; only the MLflow model upload is off
(identical in both arms). Off and on alternate, after one untimed warm-up, so drift in machine
load hits both alike; the median of the per-pair ratios is printed.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from omegaconf import DictConfig, open_dict

from blueprint.train import train
from tests.helpers import compose_into

WORKLOAD = [
    "model.filters=[192,384,768]",
    "model.dense_units=[256,128]",
    "tracking.log_model=false",
    "trainer.verbose=0",
]


def config(store: Path, overrides: list[str]) -> DictConfig:
    cfg = compose_into(store, *overrides)
    with open_dict(cfg):
        cfg.experiment_name = cfg.tracking.experiment_name = "bench-diagnostics"
    return cfg


def timed_run(store: Path, overrides: list[str]) -> float:
    cfg = config(store, overrides)
    start = time.perf_counter()
    train(cfg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    args, extra = parser.parse_known_args()
    common = [*WORKLOAD, f"trainer.epochs={args.epochs}", *extra]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp)
        timed_run(store, [*common, "diagnostics=off", "trainer.epochs=1"])  # imports, first traces
        ratios = []
        for pair in range(args.pairs):
            off = timed_run(store, [*common, "diagnostics=off"])
            on = timed_run(store, [*common, "diagnostics=default"])
            ratios.append(on / off)
            print(
                f"pair {pair + 1}: off {off:.1f} s ({off / args.epochs:.2f} s/epoch), "
                f"default {on:.1f} s, ratio {on / off:.3f}",
                flush=True,
            )
    print(f"median ratio default/off over {args.pairs} pairs: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
