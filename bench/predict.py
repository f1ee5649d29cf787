"""Images per second through `python -m blueprint.predict` against a bare `model.predict` over the
same decoded files.

    .venv/bin/python -m bench.predict [--files 4000] [--pairs 5] [--batch-size 64] [--dir /tmp]

Files: `--files` 32x32 PNGs in class folders (bench/data_pipeline.py's `image_folder`, generated
once and reused). Model: the default CNN for 32x32 RGB and those classes, untrained (speed does not
depend on the weights), saved as a `.keras` file with its class_names.json beside it.

blueprint's side is the whole `blueprint.predict.predict`: the model loaded in safe mode, files
listed, decoded in parallel, batched, predicted, and every row written to the CSV. The bare side is
what a hand-written script does: `keras.saving.load_model`, the same files read, decoded and
resized in one parallel tf.data map, batched, prefetched, and `model.predict` on it (no CSV). After
one untimed warm-up of each, the two alternate, pair after pair; prints every pair and the median
of the per-pair ratios blueprint / bare images per second (target >= 0.9).
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

from bench.data_pipeline import CLASSES, image_folder
from blueprint.models.cnn import build_cnn
from blueprint.predict import predict
from blueprint.schema import PredictRun
from blueprint.serving.command import compose_command
from blueprint.tracking.outcome import CLASS_NAMES_FILE


def saved_model(directory: Path, image_size: int) -> Path:
    model = build_cnn(input_shape=[image_size, image_size, 3], num_classes=CLASSES)
    path = directory / "model.keras"
    model.save(path)
    (directory / CLASS_NAMES_FILE).write_text(json.dumps([f"c{k}" for k in range(CLASSES)]))
    return path


def bare(model_path: Path, folder: Path, image_size: int, batch_size: int) -> int:
    """A hand-written prediction loop over the same files; returns the images predicted."""
    model = keras.saving.load_model(model_path)
    paths = sorted(str(p) for p in folder.rglob("*.png"))

    def load(path: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.image.resize(image, (image_size, image_size))

    dataset = tf.data.Dataset.from_tensor_slices(paths).map(
        load, num_parallel_calls=tf.data.AUTOTUNE
    )
    outputs = model.predict(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), verbose=0)
    return len(outputs)


def with_blueprint(model_path: Path, folder: Path, output: Path, batch_size: int) -> int:
    cfg = compose_command(
        "predict",
        [
            f"model={model_path}",
            f"input={folder}",
            f"output={output}",
            f"batch_size={batch_size}",
            "force=true",
        ],
        PredictRun,
    )
    predict(cfg)
    return sum(1 for _ in open(output)) - 1  # rows, header aside


def timed(work) -> tuple[float, int]:
    start = time.perf_counter()
    count = work()
    return count / (time.perf_counter() - start), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    folder = image_folder(args.dir, args.files)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = saved_model(Path(tmp), args.image_size)
        output = Path(tmp) / "predictions.csv"
        sides = {
            "bare": lambda: bare(model_path, folder, args.image_size, args.batch_size),
            "blueprint": lambda: with_blueprint(model_path, folder, output, args.batch_size),
        }
        for work in sides.values():  # warm-up: page cache, thread pools, tracing
            work()
        ratios = []
        for pair in range(args.pairs):
            speed = {name: timed(work) for name, work in sides.items()}
            assert speed["bare"][1] == speed["blueprint"][1] == args.files
            ratio = speed["blueprint"][0] / speed["bare"][0]
            ratios.append(ratio)
            print(
                f"pair {pair + 1}: bare {speed['bare'][0]:.0f} images/s, "
                f"blueprint {speed['blueprint'][0]:.0f} images/s, ratio {ratio:.3f}",
                flush=True,
            )
    print(f"median ratio blueprint/bare over {args.pairs} pairs: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
