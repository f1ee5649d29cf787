"""What blueprint costs over plain Keras: the same training, with and without full tracking.

Trains the default CNN on digits for the same number of epochs through `python -m blueprint.train`
(Hydra, MLflow params/metrics/artifacts/model, checkpoint and CSV callbacks; early stopping removed
so both sides train every epoch) and through bench/plain_keras.py, alternating the two, each a fresh
process timed end to end (imports included). Prints the median wall-time ratio (target <= 1.10)
and a run's fixed cost, the seconds beyond plain Keras (target <= 1 s with an existing store; the
first blueprint run creates the store). A third side, the same plain script with Python's cycle
collector kept out of its start-up and exit as blueprint's commands keep it
(blueprint/plumbing/collector.py), says what tracking and Hydra cost on equal terms.

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

# The plain script (argv[1:]) with the collector off from start-up to exit, as blueprint's
# commands keep it until training starts (blueprint/plumbing/collector.py, not imported: its
# Hydra import would cost this side 0.1 s that a user's script does not pay).
COLLECTOR_PAUSED = (
    "import gc; gc.disable(); import runpy, sys; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__'); gc.freeze()"
)


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
    plain_script = str(ROOT / "bench" / "plain_keras.py")
    plain_cmd = [sys.executable, plain_script, str(args.epochs)]
    collector_paused_cmd = [sys.executable, "-c", COLLECTOR_PAUSED, plain_script, str(args.epochs)]

    times: dict[str, list[float]] = {"blueprint": [], "plain": [], "plain, collector paused": []}
    for i in range(args.repeats):
        run_folder = f"hydra.run.dir={store}/run{i}"  # a run folder is never used twice
        for name, cmd in (
            ("plain", plain_cmd),
            ("blueprint", [*blueprint_cmd, run_folder]),
            ("plain, collector paused", collector_paused_cmd),
        ):
            times[name].append(timed(cmd))
            print(f"repeat {i + 1}: {name:23s} {times[name][-1]:6.1f} s", flush=True)

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
    paused = times["plain, collector paused"]
    own = [b - p for b, p in zip(times["blueprint"][1:], paused[1:], strict=True)]
    print(
        f"what tracking and Hydra cost on equal terms, beyond the plain script with the collector "
        f"paused as blueprint pauses it (pairs after the first): median "
        f"{statistics.median(own or [tracked - paused[0]]):.2f} s"
    )


if __name__ == "__main__":
    main()
