"""Photo-sized JPEGs: blueprint's `data=folder` against Keras' `image_dataset_from_directory`.

    .venv/bin/python -m bench.photo_pipeline [--files 3000] [--pairs 2] [--epochs 4]
        [--sizes 128 224] [--caches none memory] [--dir /tmp] [OVERRIDE ...]

Files: `--files` JPEG photos (quality 90) of 320-500 x 240-400 px in two classes, random crops of
scikit-learn's two sample photos (tests/helpers.py's `write_photo_folder`; 20-70 KB each),
generated once into `<dir>/blueprint-bench-photos-<files>` and reused by later runs.

Sides, each a fresh process per run, training the same MLP (blueprint's `build_mlp`) on the same
shares (70% training, 15% validation, 15% test) for `--epochs`, batch 32, Adam 1e-3:
- blueprint: `python -m blueprint.train data=folder data.path=FOLDER model=mlp
  data.image_size=[S,S] data.cache=C` at defaults otherwise (diagnostics on, checkpoint and CSV
  log; early stopping removed so every epoch runs; extra arguments are Hydra overrides), each
  run with a new inventory folder, in a store made before the first (as a project's store is):
  every run is a first run on the folder, which checks and hashes every file before training.
- plain: bench/plain_keras_folder.py, `image_dataset_from_directory` as its docs show it, with
  `.cache()` where blueprint has `data.cache=memory`.

Timed: both sides run bench/epoch_times.py's callback (blueprint logs no epoch duration), which
notes when each epoch begins. Seconds per epoch: the median of the epochs after the first (begin
to next begin, so a run needs at least 3 epochs; the first fills a cache); before training: from
the process's launch to its first epoch; the inventory: between blueprint's log lines `checking
and hashing` and `saved the split`; and the wall time. Plain and blueprint alternate, pair after
pair, per size and cache. Prints each pair, then per size and cache the medians over pairs of the
ratio blueprint / plain of seconds per epoch (target <= 1.0) and of blueprint's extra seconds
before training per 1,000 files (target <= 1.0 on 2 cores), with the inventory's share of them
(the rest is fixed: Hydra, MLflow's import and its run; see bench/overhead.py).
"""

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.generated import generated_once
from tests.helpers import ROOT, clean_env, store_overrides, write_photo_folder

HEIGHTS, WIDTHS = (240, 401), (320, 501)  # pixels, drawn in [low, high)
JPEG_QUALITY = 90
EXPERIMENT = "bench_photo_pipeline"


@dataclass(frozen=True)
class Timing:
    per_epoch: float  # seconds, median of the epochs after the first
    before_training: float  # seconds from launch to the first epoch's start
    wall: float
    inventory: float | None  # seconds blueprint logged between starting and saving the inventory


def photo_folder(parent: Path, files: int) -> Path:
    """`files` JPEG photos in two class folders, generated once and reused."""
    return generated_once(
        parent / f"blueprint-bench-photos-{files}",
        f"{files:,} JPEGs",
        lambda root: write_photo_folder(
            root, files // 2, heights=HEIGHTS, widths=WIDTHS, jpeg_only=True, quality=JPEG_QUALITY
        ),
    )


def timed(command: list[str], times_json: Path) -> Timing:
    """Runs `command` to its end and reads the epoch starts its EpochTimes callback saved."""
    launched = time.time()
    done = subprocess.run(command, cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    wall = time.time() - launched
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    begins = json.loads(times_json.read_text())["begins"]
    if len(begins) < 3:
        sys.exit("each run needs at least 3 epochs: the first, then two to time; raise --epochs")
    steady = [later - earlier for earlier, later in itertools.pairwise(begins[1:])]
    inventory = inventory_seconds(done.stdout + done.stderr)
    return Timing(statistics.median(steady), begins[0] - launched, wall, inventory)


def inventory_seconds(output: str) -> float | None:
    """The time between blueprint's log lines `checking and hashing` and `saved the split`
    (Hydra's log format: `[2026-01-02 10:11:12,345][module][INFO] - message`)."""
    stamps = {}
    for line in output.splitlines():
        for key in ("checking and hashing", "saved the split"):
            if key in line and line.startswith("["):
                stamp = line[1 : line.index("]")]
                stamps[key] = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    if len(stamps) < 2:
        return None
    return stamps["saved the split"] - stamps["checking and hashing"]


def project_store(parent: Path) -> Path:
    """A store with its tables and the bench's experiment made, as a project's is after its
    first run: a first run on a new folder does not pay for MLflow's migrations."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{parent}/mlflow.db")
    client.create_experiment(EXPERIMENT, artifact_location=str(parent / "mlruns"))
    return parent


def blueprint_command(folder: Path, size: int, cache: str, args: argparse.Namespace,
                      work: Path) -> list[str]:  # fmt: skip
    fresh = {"hydra.run.dir": work / "run", "paths.inventory_dir": work / "inventories"}
    stored = [o for o in store_overrides(args.store) if o.split("=")[0] not in fresh]
    return [
        sys.executable, "-m", "blueprint.train", "data=folder", f"data.path={folder}",
        "model=mlp", f"data.image_size=[{size},{size}]", f"data.cache={cache}",
        f"trainer.epochs={args.epochs}", "trainer.verbose=0", "~callbacks.early_stopping",
        f"experiment_name={EXPERIMENT}", "allowed_targets=[blueprint.*,keras.*,bench.*]",
        "+callbacks.epoch_times._target_=bench.epoch_times.EpochTimes",
        f"+callbacks.epoch_times.path={work}/times.json", *stored,
        *(f"{key}={value}" for key, value in fresh.items()), *args.overrides,
    ]  # fmt: skip


def plain_command(folder: Path, size: int, cache: str, args: argparse.Namespace,
                  work: Path) -> list[str]:  # fmt: skip
    return [
        sys.executable, "-m", "bench.plain_keras_folder", str(folder), str(size), cache,
        str(args.epochs), f"{work}/times.json",
    ]  # fmt: skip


SIDES = {"plain": plain_command, "blueprint": blueprint_command}


def bench(
    folder: Path, size: int, cache: str, args: argparse.Namespace
) -> tuple[float, float, float]:
    """Alternating plain/blueprint runs; prints each pair, returns the medians over pairs of the
    per-epoch ratio, of the extra seconds before training per 1,000 files and of the
    inventory's seconds per 1,000 files."""
    ratios, extras, inventories = [], [], []
    for pair in range(args.pairs):
        timings = {}
        for name, command in SIDES.items():
            with tempfile.TemporaryDirectory(prefix="blueprint-bench-", dir=args.dir) as work:
                timings[name] = timed(command(folder, size, cache, args, Path(work)),
                                      Path(work) / "times.json")  # fmt: skip
        plain, tracked = timings["plain"], timings["blueprint"]
        ratios.append(tracked.per_epoch / plain.per_epoch)
        extras.append((tracked.before_training - plain.before_training) * 1000 / args.files)
        inventories.append((tracked.inventory or float("nan")) * 1000 / args.files)
        shown = ", ".join(
            f"{name} {t.per_epoch:.2f} s/epoch, {t.before_training:.1f} s before training, "
            f"{t.wall:.1f} s wall"
            for name, t in timings.items()
        )
        print(f"{size}px cache={cache} pair {pair + 1}: {shown}; ratio {ratios[-1]:.3f}, "
              f"extra before training {extras[-1]:.2f} s per 1,000 files (the inventory "
              f"{inventories[-1]:.2f})", flush=True)  # fmt: skip
    return statistics.median(ratios), statistics.median(extras), statistics.median(inventories)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--caches", nargs="+", default=["none", "memory"],
                        choices=["none", "memory"])  # fmt: skip
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the blueprint runs")
    args = parser.parse_args()

    folder = photo_folder(args.dir, args.files)
    args.store = project_store(Path(tempfile.mkdtemp(prefix="blueprint-store-", dir=args.dir)))
    print(
        f"files: {args.files:,} JPEGs of {WIDTHS[0]}-{WIDTHS[1] - 1} x {HEIGHTS[0]}-"
        f"{HEIGHTS[1] - 1} px, 2 classes, model=mlp, {args.epochs} epochs, {args.pairs} pairs; "
        f"blueprint overrides: {' '.join(args.overrides) or '(none)'}",
        flush=True,
    )
    results = {(s, c): bench(folder, s, c, args) for s in args.sizes for c in args.caches}
    for (size, cache), (ratio, extra, inventory) in results.items():
        print(f"{size}px cache={cache}: s/epoch blueprint / plain {ratio:.3f} (target <= 1.0); "
              f"extra before training {extra:.2f} s per 1,000 files (target <= 1.0), of which "
              f"the inventory {inventory:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
