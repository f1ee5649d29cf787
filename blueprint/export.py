"""Write a trained model for deployment and verify it: `python -m blueprint.export model=<...>
format=<keras|saved_model|tflite|tflite_int8|onnx> [output=...] [data=<option> data.<key>=...]`.

The exported file is loaded back with its own runtime (`blueprint.serving.exporters`) and its
answers compared with the Keras model's on `verify_images` images of the model's own data
(validation first, then training images): the predicted class (per pixel for masks), or for
values the value within VALUE_TOLERANCE of their spread. Float formats must agree on every image,
int8 on 98%. A mixed-precision model's Keras answers carry its float16/bfloat16 rounding, which
its float32 exports do not: there an image also agrees where every output is within
MIXED_TOLERANCE of the Keras model's (a near tie may then pick the other class). Agreement,
largest output difference and file size are printed and, for a model from a run, logged with
the export to a new run under the training run. A failed check keeps nothing.
"""

import logging
import shutil
import sys
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from blueprint.data.splits import ImageData
from blueprint.errors import ConfigError, TrainingError
from blueprint.resolvers import PROJECT_ROOT
from blueprint.schema import ExportRun
from blueprint.serving.command import run_command
from blueprint.serving.training_data import split_data_overrides

log = logging.getLogger(__name__)
EXPORTS_DIR = PROJECT_ROOT / "experiments" / "exports"
VALUE_TOLERANCE = 0.02  # regression: values agree within this share of their standard deviation
MIXED_TOLERANCE = 0.05  # mixed precision: outputs (probabilities) that agree within this, absolute


def export(cfg: DictConfig, data_overrides: list[str]) -> Path:
    """Writes, verifies and (for a model from a run) logs the export; returns its path."""
    from blueprint.serving import exporters

    exporters.check_packages(cfg.format)
    from blueprint.serving.reference import load_trained
    from blueprint.serving.training_data import training_data

    trained = load_trained(cfg.model, cfg.tracking_uri, cfg.safe_mode)
    output = _output_path(cfg, trained.run_id or _file_model_name(Path(trained.source)))
    data = training_data(trained, data_overrides, cfg.model)

    from blueprint.data.pipeline import images_at
    from blueprint.models.precision import is_mixed

    images = _verification_images(data, cfg.verify_images)
    calibration = images_at(data.train, _first(len(data.train), cfg.calibration_images, seed=1))
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(
        f"{output.stem}.partial{output.suffix}"
    )  # suffix kept: Keras checks it
    _remove(partial)
    exporters.write(cfg.format, trained.model, partial, calibration)
    try:
        expected = trained.model.predict(images, batch_size=cfg.batch_size, verbose=0)
        got = exporters.load(cfg.format, partial)(images)
        mixed = is_mixed(trained.model)
        agreement = _agreement(trained.task, expected, got, MIXED_TOLERANCE if mixed else 0.0)
        difference = float(np.max(np.abs(expected - got)))
        minimum = exporters.FORMATS[cfg.format].min_agreement
        if agreement < minimum:
            raise TrainingError(
                f"the {cfg.format} export agrees with the Keras model on {agreement:.1%} of "
                f"{len(images)} images, under the {minimum:.0%} required; nothing was kept"
            )
    except BaseException:
        _remove(partial)
        raise
    if output.exists():  # only with force=true: checked before anything was done
        _remove(output)
    partial.rename(output)
    size = exporters.size_bytes(output)
    log.info(
        "%s: %s, %.2f MB; its answers agree with the Keras model's on %.1f%% of %d images "
        "(largest output difference %.2g)",
        cfg.format,
        output,
        size / 1e6,
        100 * agreement,
        len(images),
        difference,
    )
    if trained.run_id is not None and cfg.log_to_mlflow:
        _log(cfg, trained.run_id, output, agreement, difference, size, len(images))
    return output


def _agreement(task: str, expected: np.ndarray, got: np.ndarray, tolerance: float = 0.0) -> float:
    """The share of answers the export gives as the Keras model does: the same class (of each
    pixel, for masks), or for values the same value within VALUE_TOLERANCE of their spread.
    `tolerance` > 0: a class answer also agrees where all its outputs are within it."""
    if task == "regression":
        spread = VALUE_TOLERANCE * max(float(np.std(expected)), 1e-12)
        return float(np.mean(np.abs(expected - got) <= max(spread, tolerance)))
    same = expected.argmax(axis=-1) == got.argmax(axis=-1)
    return float(np.mean(same | (np.abs(expected - got).max(axis=-1) <= tolerance)))


def _output_path(cfg: DictConfig, model_name: str) -> Path:
    from blueprint.serving.exporters import FORMATS

    suffix = FORMATS[cfg.format].suffix
    default = EXPORTS_DIR / model_name / FORMATS[cfg.format].file_name
    output = Path(cfg.output).expanduser().resolve() if cfg.output else default
    if output.suffix != suffix:
        raise ConfigError(
            f"output={output}: format={cfg.format} writes "
            + (
                f"a {suffix} file; end the name in {suffix}"
                if suffix
                else "a folder; drop the suffix"
            )
        )
    if output.exists() and not cfg.force:
        raise ConfigError(f"output={output} exists; choose another path or pass force=true")
    return output


def _file_model_name(file: Path) -> str:
    """A run folder's name for its checkpoint, else the file's own name."""
    return file.parent.parent.name if file.parent.name == "checkpoints" else file.stem


def _first(total: int, count: int, seed: int) -> np.ndarray:
    """`count` indices of `total`, drawn once with `seed`, in order."""
    chosen = np.random.default_rng(seed).permutation(total)[: min(count, total)]
    return np.sort(chosen)


def _verification_images(data: ImageData, count: int) -> np.ndarray:
    """Validation images first, topped up with training images when there are too few."""
    from blueprint.data.pipeline import images_at

    val = images_at(data.val, _first(len(data.val), count, seed=0))
    if len(val) >= count:
        return val
    extra = images_at(data.train, _first(len(data.train), count - len(val), seed=2))
    return np.concatenate([val, extra])


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _log(
    cfg: DictConfig,
    run_id: str,
    output: Path,
    agreement: float,
    difference: float,
    size: int,
    count: int,
) -> None:
    """The export, its check and its size, in a new run under the training run."""
    import mlflow

    from blueprint.serving.linked_run import linked_run
    from blueprint.serving.read_only_store import existing_store

    with linked_run(existing_store(cfg.tracking_uri), run_id, "export", cfg.model):
        mlflow.log_params({"format": cfg.format, "verify_images": count})
        mlflow.log_metrics(
            {"agreement": agreement, "max_output_difference": difference, "size_bytes": size}
        )
        if output.is_dir():
            mlflow.log_artifacts(str(output), f"export/{output.name}")
        else:
            mlflow.log_artifact(str(output), "export")


if __name__ == "__main__":
    own, data_overrides = split_data_overrides(sys.argv[1:])
    run_command("export", ExportRun, lambda cfg: export(cfg, data_overrides), own)
