"""blueprint's file pipeline against a bare tf.data read-decode-resize-batch of the same PNGs.

Speed: images per second over whole passes of a generated folder (20,000 32x32 PNGs by default),
both sides alternated in one run after a warm-up pass (the files then sit in the page cache for
both); the ratio is blueprint / bare (target >= 0.95). blueprint's side is what training reads: a
`FileSplit` through `blueprint.data.pipeline.to_dataset` with a shuffle seed. The bare side shuffles
the paths the same way, then maps `decode_image(channels=3)` and `resize` in parallel.

Memory: peak RSS of a fresh process that makes one pass with `data.cache=none` over 5,000 and over
20,000 files (target: no growth with the number of files). Usage:
    python -m bench.data_pipeline [--files 20000] [--pairs 5] [--batch-size 64]
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from blueprint.data.pipeline import to_dataset
from blueprint.data.splits import FileSplit
from tests.helpers import write_image_folder

IMAGE_SIZE = (32, 32)
CLASSES = 4


def image_folder(files: int) -> Path:
    """A folder of `files` PNGs in CLASSES classes, generated once and kept in /tmp."""
    root = Path(f"/tmp/blueprint-bench-pngs-{files}")
    done = root / ".complete"
    if not done.exists():
        per_class = files // CLASSES
        write_image_folder(root, {f"c{k}": per_class for k in range(CLASSES)}, size=IMAGE_SIZE)
        done.touch()
    return root


def file_split(root: Path) -> FileSplit:
    paths = sorted(str(p) for p in root.glob("*/*.png"))
    labels = np.array([int(Path(p).parent.name[1:]) for p in paths], dtype="int64")
    return FileSplit(tuple(paths), labels, IMAGE_SIZE, channels=3, cache="none")


def bare_dataset(split: FileSplit, batch_size: int) -> tf.data.Dataset:
    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.image.resize(image, IMAGE_SIZE), label

    dataset = tf.data.Dataset.from_tensor_slices((list(split.paths), split.labels))
    dataset = dataset.shuffle(len(split), seed=0, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def images_per_second(dataset: tf.data.Dataset) -> float:
    start, count = time.perf_counter(), 0
    for images, _ in dataset:
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def peak_rss_mib(files: int, batch_size: int) -> float:
    """One pass in a fresh process, so each count starts from the same baseline."""
    command = ["bench.data_pipeline", "--peak-rss", str(files), "--batch-size", str(batch_size)]
    output = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--peak-rss", type=int, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.peak_rss:
        split = file_split(image_folder(args.peak_rss))
        images_per_second(to_dataset(split, args.batch_size, shuffle_seed=0))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return

    split = file_split(image_folder(args.files))
    sides = {
        "blueprint": lambda: to_dataset(split, args.batch_size, shuffle_seed=0),
        "bare": lambda: bare_dataset(split, args.batch_size),
    }
    images_per_second(sides["bare"]())  # warm-up: page cache, thread pools
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.pairs):
        for name, make in sides.items():
            rates[name].append(images_per_second(make()))
    blueprint, bare = (float(np.median(rates[name])) for name in sides)
    print(f"files: {len(split)} PNGs of {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, batch {args.batch_size}")
    for name in sides:
        print(f"  {name:9s} images/s: {', '.join(f'{r:,.0f}' for r in rates[name])}")
    print(f"speed ratio blueprint / bare (medians): {blueprint / bare:.3f}  (target >= 0.95)")

    small, large = (peak_rss_mib(n, args.batch_size) for n in (5_000, 20_000))
    print(f"peak RSS of one pass, cache=none: 5k files {small:.0f} MiB, 20k {large:.0f} MiB")
    print(f"memory ratio 20k / 5k: {large / small:.3f}  (target ~1.0: no growth with files)")


if __name__ == "__main__":
    main()
