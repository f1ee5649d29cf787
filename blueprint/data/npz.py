"""Arrays in a NumPy `.npz` file (MNIST's format by default), and MNIST itself through Keras."""

import contextlib
import io
import logging
import zipfile
from pathlib import Path

import numpy as np

from blueprint.data.arrays import image_data_from_arrays
from blueprint.data.splits import ImageData
from blueprint.errors import DataError, first_line
from blueprint.plumbing.keras_home import keras_cache_dir

log = logging.getLogger(__name__)

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def load_npz(
    path: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    arrays: dict[str, str | None],
    class_names: list[str] | None = None,
    value_range: list[float] | None = None,
) -> ImageData:
    """`arrays` names the file's x_train and y_train (and optional x_test, y_test) arrays;
    `value_range`, their pixels' range when not 0..255 (see `image_data_from_arrays`).

    With test arrays they are the test split and data.test_fraction is not used; without them
    the test split is drawn from the training arrays like the validation split.
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise DataError(f"data.path={path} is not a file; point it at an .npz of image arrays")
    try:
        with np.load(file, allow_pickle=False) as archive:
            found = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"data.path={file} is not a readable .npz file ({err})") from None
    has_test = arrays.get("x_test") in found
    for role in ("x_train", "y_train", *(("y_test",) if has_test else ())):
        if arrays.get(role) not in found:
            raise DataError(
                f"{file} has no array {arrays.get(role)!r} for {role} (it has {sorted(found)}); "
                f"set data.arrays.{role} to one of them"
            )
    return image_data_from_arrays(
        found[arrays["x_train"]],
        found[arrays["y_train"]],
        source=str(file),
        name=file.stem,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        test=(found[arrays["x_test"]], found[arrays["y_test"]]) if has_test else None,
        class_names=class_names,
        value_range=value_range,
    )


def load_mnist(val_fraction: float, seed: int, path: str | None = None) -> ImageData:
    """MNIST's 60,000 training and 10,000 test digits (28x28 grey) from Keras' cached file.

    A missing file is downloaded by Keras; offline, the error says where to put `mnist.npz`.
    """
    file = Path(path).expanduser() if path else keras_cache_dir("datasets") / "mnist.npz"
    if not file.is_file():
        if path:
            raise DataError(f"data.path={path} does not exist; point it at a copy of mnist.npz")
        file = _download_mnist(file)
    return load_npz(
        str(file),
        val_fraction,
        test_fraction=0.0,
        seed=seed,
        arrays={"x_train": "x_train", "y_train": "y_train", "x_test": "x_test", "y_test": "y_test"},
    )


def _download_mnist(target: Path) -> Path:
    """Keras' own download (its progress bar silenced: offline, the error is the one line)."""
    import keras  # imports TensorFlow: only when the file must be fetched

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            keras.datasets.mnist.load_data(path=target.name)
    except Exception as err:  # urllib and Keras wrap network failures in several types
        raise DataError(
            f"mnist.npz is not at {target} and cannot be downloaded ({first_line(err)[:160]}); "
            f"download {MNIST_URL} on a machine online and copy it to {target}"
        ) from None
    log.info("data: downloaded mnist.npz to %s", target)
    return target
