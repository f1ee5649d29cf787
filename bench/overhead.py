"""What blueprint costs over plain Keras: the same training, with and without full tracking.

Trains the default CNN on digits for the same number of epochs through `python -m blueprint.train`
(Hydra, MLflow params/metrics/artifacts/model, checkpoint and CSV callbacks; early stopping removed
so both sides train every epoch) and through bench/plain_keras.py, alternating the two, each a fresh
process timed end to end (imports included). Prints the median wall-time ratio (target <= 1.10)
and a run's fixed cost, the seconds beyond plain Keras (target <= 1 s with an existing store; the
first blueprint run creates the store).

    python -m bench.overhead [--epochs 80] [--repeats 3] [OVERRIDE ...]

Extra arguments are Hydra overrides for the blueprint side, e.g. `diagnostics=off` to measure the
tracking alone (diagnostics have their own bench, bench/diagnostics.py).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import ROOT, store_overrides


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the blueprint runs")
    args = parser.parse_args()

    store = Path(tempfile.mkdtemp(prefix="blueprint-bench-"))
    blueprint_cmd = [
        sys.executable, "-m", "blueprint.train",
        f"trainer.epochs={args.epochs}", "trainer.verbose=0", "~callbacks.early_stopping",
        "experiment_name=bench_overhead", *store_overrides(store),
        *args.overrides,
    ]  # fmt: skip
    plain_cmd = [sys.executable, str(ROOT / "bench" / "plain_keras.py"), str(args.epochs)]

    times: dict[str, list[float]] = {"blueprint": [], "plain": []}
    for i in range(args.repeats):
        run_folder = f"hydra.run.dir={store}/run{i}"  # a run folder is never used twice
        for name, cmd in (("plain", plain_cmd), ("blueprint", [*blueprint_cmd, run_folder])):
            times[name].append(timed(cmd))
            print(f"repeat {i + 1}: {name:9s} {times[name][-1]:6.1f} s", flush=True)

    plain, tracked = statistics.median(times["plain"]), statistics.median(times["blueprint"])
    print(f"blueprint overrides: {' '.join(args.overrides) or '(none)'}")
    print(f"median plain Keras: {plain:.1f} s, blueprint: {tracked:.1f} s")
    print(f"overhead ratio (blueprint / plain): {tracked / plain:.3f}  (target <= 1.10)")
    beyond = [b - p for b, p in zip(times["blueprint"][1:], times["plain"][1:], strict=True)]
    print(
        f"a run's fixed cost, beyond plain Keras with an existing store (pairs after the first): "
        f"median {statistics.median(beyond or [tracked - plain]):.2f} s (target <= 1 s); "
        f"the first, on a fresh store: {times['blueprint'][0] - times['plain'][0]:.2f} s"
    )


if __name__ == "__main__":
    main()
