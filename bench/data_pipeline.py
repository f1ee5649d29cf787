"""What blueprint's file pipeline costs over a bare tf.data read-decode-resize-batch; its memory.

    .venv/bin/python -m bench.data_pipeline [--files 20000] [--pairs 5] [--batch-size 64]
                                            [--image-size 32] [--dir /tmp]

Files: `--files` 32x32 RGB PNGs in 4 class folders (tests/helpers.py's `write_image_folder`),
generated once into `<dir>/blueprint-bench-pngs-<files>` and reused by later runs.

Speed: images per second over whole passes of those files. blueprint's side is what training
reads: a `FileSplit` (rgb, `cache=none`) through `blueprint.data.pipeline.to_dataset` with a
shuffle seed (paths shuffled, then read, decoded and resized in parallel, batched, prefetched).
The bare side is the same work written out by hand: the same paths shuffled the same way, then
`read_file`, `decode_image(channels=3)` and `resize` in one parallel map, `batch`, `prefetch`.
One untimed warm-up pass each (page cache, thread pools, tracing), then bare and blueprint
alternate, pair after pair, so drift in machine load hits both alike. Prints every pair and the
median of the per-pair ratios blueprint / bare (target >= 0.95).

A pass is timed from the first request to the arrival of its last batch, which is how Keras reads
an epoch (it takes the dataset's known number of batches, then starts a new iterator). The wait
for tf.data's end-of-sequence signal after that is printed apart: on this 2-core machine it is
either ~0 s or ~2 s at random, on either side alike (a bare pipeline without shuffle shows it
too; it was not seen with tf.data's autotuning off), and would otherwise swing a ~3 s pass by 60%.

Memory: peak RSS (`ru_maxrss`) of a fresh process that makes one pass with `cache=none` through
blueprint's pipeline over files/4 and over files (5,000 and 20,000 by default). Prints both and
their ratio (target ~1.0: nothing that grows with the number of files is held). The peak before
the pass (imports, split, pipeline built: ~0.7 GB, TensorFlow's) is printed too; a pass that holds
images shows above it (`cache=memory` as a check: 741 MiB for 5,000 files, 927 MiB for 20,000).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import numpy as np
import tensorflow as tf

from bench.generated import generated_once
from blueprint.data.pipeline import to_dataset
from blueprint.data.splits import FileSplit
from tests.helpers import ROOT, write_image_folder

CLASSES = 4
PNG_SIZE = (32, 32)
SEED = 42  # conf/trainer's seed, which training passes as the shuffle seed


def image_folder(parent: Path, files: int) -> Path:
    """`files` PNGs in CLASSES class folders, generated once and reused."""
    per_class = {f"c{k}": files // CLASSES + (k < files % CLASSES) for k in range(CLASSES)}
    return generated_once(
        parent / f"blueprint-bench-pngs-{files}",
        f"{files:,} PNGs",
        lambda root: write_image_folder(root, per_class, size=PNG_SIZE),
    )


def file_split(root: Path, image_size: int) -> FileSplit:
    """The folder as training would see it: rgb, resized to image_size, no cache."""
    paths = sorted(str(p) for p in root.glob("*/*.png"))
    labels = np.array([int(Path(p).parent.name[1:]) for p in paths], dtype="int64")
    return FileSplit(tuple(paths), labels, (image_size, image_size), channels=3, cache="none")


def blueprint_dataset(split: FileSplit, batch_size: int) -> tf.data.Dataset:
    return to_dataset(split, batch_size, shuffle_seed=SEED)


def bare_dataset(split: FileSplit, batch_size: int) -> tf.data.Dataset:
    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.image.resize(image, split.image_size), label

    dataset = tf.data.Dataset.from_tensor_slices((list(split.paths), split.labels))
    dataset = dataset.shuffle(len(split), seed=SEED, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def one_pass(dataset: tf.data.Dataset) -> tuple[float, float]:
    """Images per second up to the last batch of one whole pass, and the seconds spent after it
    waiting for the end of the sequence (the dataset is built before the clock starts)."""
    start, count = time.perf_counter(), 0
    last = start
    for images, _ in dataset:
        count += int(images.shape[0])
        last = time.perf_counter()
    return count / (last - start), time.perf_counter() - last


def bench_speed(split: FileSplit, batch_size: int, pairs: int) -> float:
    """Alternating bare/blueprint passes; prints each pair and the medians, returns the median
    per-pair ratio blueprint / bare."""
    sides: dict[str, Callable[[FileSplit, int], tf.data.Dataset]] = {
        "bare": bare_dataset,
        "blueprint": blueprint_dataset,
    }
    for make in sides.values():  # warm-up: page cache, thread pools, first traces
        one_pass(make(split, batch_size))
    rates: dict[str, list[float]] = {name: [] for name in sides}
    waits: dict[str, list[float]] = {name: [] for name in sides}
    ratios = []
    for pair in range(pairs):
        for name, make in sides.items():
            rate, wait = one_pass(make(split, batch_size))
            rates[name].append(rate)
            waits[name].append(wait)
        ratios.append(rates["blueprint"][-1] / rates["bare"][-1])
        sides_now = [
            f"{name} {rates[name][-1]:,.0f} images/s (end wait {waits[name][-1]:.2f} s)"
            for name in sides
        ]
        print(f"pair {pair + 1}: {', '.join(sides_now)}, ratio {ratios[-1]:.3f}", flush=True)
    medians = [f"{name} {statistics.median(rates[name]):,.0f}" for name in sides]
    stalls = [f"{name} {sum(w > 1 for w in waits[name])}/{pairs}" for name in sides]
    print(f"median images/s: {', '.join(medians)}; end waits over 1 s: {', '.join(stalls)}")
    return statistics.median(ratios)


def measure_memory(root: Path, image_size: int, batch_size: int) -> dict[str, float]:
    """The child's job: peak RSS (MiB) before and after one pass through blueprint's pipeline."""
    split = file_split(root, image_size)
    dataset = blueprint_dataset(split, batch_size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    one_pass(dataset)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"files": len(split), "before_mib": before, "peak_mib": after}


def peak_rss(files: int, args: argparse.Namespace) -> dict[str, float]:
    """measure_memory in a fresh process, so each count starts from the same baseline."""
    command = [
        sys.executable, "-m", "bench.data_pipeline", "--measure-memory", str(files),
        "--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
        "--dir", str(args.dir),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"the memory measurement of {files} files failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000, help="files/4 and files for memory")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32, help="both sides resize to this")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--measure-memory", type=int, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.measure_memory:
        root = image_folder(args.dir, args.measure_memory)
        print(json.dumps(measure_memory(root, args.image_size, args.batch_size)))
        return

    small, large = args.files // 4, args.files
    for count in (small, large):  # generated here, so the children only read
        image_folder(args.dir, count)
    split = file_split(image_folder(args.dir, large), args.image_size)
    print(
        f"files: {len(split):,} PNGs of {PNG_SIZE[0]}x{PNG_SIZE[1]} resized to "
        f"{args.image_size}x{args.image_size}, batch {args.batch_size}, {args.pairs} pairs; "
        f"both sides shuffle the paths (seed {SEED}), decode and resize in one parallel map",
        flush=True,
    )
    ratio = bench_speed(split, args.batch_size, args.pairs)
    print(f"speed ratio blueprint / bare (median of pairs): {ratio:.3f}  (target >= 0.95)")

    memory = [peak_rss(count, args) for count in (small, large)]
    for m in memory:
        print(
            f"peak RSS, one pass with cache=none over {m['files']:,} files: "
            f"{m['peak_mib']:.0f} MiB (peak before the pass {m['before_mib']:.0f} MiB)"
        )
    grown = memory[1]["peak_mib"] / memory[0]["peak_mib"]
    print(
        f"memory ratio {large:,} / {small:,} files: {grown:.3f}  "
        f"(target ~1.0: no growth with the number of files)"
    )


if __name__ == "__main__":
    main()
