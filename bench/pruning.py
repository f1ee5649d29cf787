"""Pruning bench: the same seeded TPE sweep with and without a pruner, in one run.

`python -m bench.pruning [--trials 16] [--epochs 80] [--pruner successive_halving]`:
the default CNN on digits, trained long enough that training (what pruning saves) outweighs
each trial's fixed cost of about 5 s (graph tracing, MLflow run, Optuna bookkeeping); with 30
epochs that fixed cost is half of every trial and no pruner can reach the target. Prints each
sweep's wall time and best objective, the wall-time ratio (target <= 0.6) and the gap between the
best values in percentage points (target <= 0.5). Both sweeps write into a temporary directory.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from tests.helpers import ROOT, store_overrides


def sweep(out: Path, trials: int, epochs: int, pruner: str) -> tuple[float, float, dict[str, int]]:
    """Runs one sweep; returns its wall time, best value and trials per final state."""
    storage = f"sqlite:///{out}/optuna.db"
    cmd = [
        sys.executable, "-m", "blueprint.train", "--multirun",
        "hparams_search=tpe",
        f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.sampler.n_startup_trials=4",
        f"hydra.sweeper.pruner={pruner}",
        "hydra.sweeper.plots=false",
        f"hydra.sweeper.storage={storage}",
        *store_overrides(out),
        f"trainer.epochs={epochs}",
        "trainer.verbose=0",
        "tracking.log_model=false",
        "diagnostics=off",
        "callbacks=none",
    ]  # fmt: skip
    if pruner == "median":
        cmd += [
            "+hydra.sweeper.pruner_kwargs.n_startup_trials=4",
            "+hydra.sweeper.pruner_kwargs.n_warmup_steps=2",
        ]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - start
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    return wall, study.best_value, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--pruner", default="successive_halving")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pruner in ("none", args.pruner):
            out = Path(tmp) / pruner
            out.mkdir()
            results[pruner] = sweep(out, args.trials, args.epochs, pruner)
            wall, best, states = results[pruner]
            print(f"pruner={pruner:<10} wall {wall:6.1f} s  best {best:.4f}  trials {states}")
    ratio = results[args.pruner][0] / results["none"][0]
    gap_pp = abs(results[args.pruner][1] - results["none"][1]) * 100
    print(f"wall-time ratio {ratio:.2f} (target <= 0.6); best-value gap {gap_pp:.2f} pp (<= 0.5)")


if __name__ == "__main__":
    main()
