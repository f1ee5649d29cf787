"""Checks config values before TensorFlow is imported, so a bad value costs no training time."""

from collections.abc import Callable

from omegaconf import DictConfig

from blueprint.errors import ConfigError


def _check(cfg: DictConfig, key: str, ok: Callable[[float], bool], rule: str, example: str) -> None:
    node = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.get(part) if node is not None else None
    value = node.get(leaf) if node is not None else None
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
        raise ConfigError(f"{key}={value!r} is invalid: it must be {rule}; e.g. {key}={example}")


def validate(cfg: DictConfig) -> None:
    """Raises ConfigError naming the first value that cannot work and a valid example."""
    _check(cfg, "optimizer.lr", lambda v: v > 0, "> 0", "1e-3")
    _check(cfg, "trainer.epochs", lambda v: v >= 1 and v == int(v), "an integer >= 1", "10")
    _check(cfg, "trainer.batch_size", lambda v: v >= 1 and v == int(v), "an integer >= 1", "32")
    for split in ("val_fraction", "test_fraction"):
        _check(cfg, f"data.{split}", lambda v: 0 < v < 1, "inside (0, 1)", "0.15")
    data = cfg.get("data") or {}
    held_out = (data.get("val_fraction") or 0) + (data.get("test_fraction") or 0)
    if held_out >= 1:
        raise ConfigError(
            f"data.val_fraction + data.test_fraction = {held_out:g} leaves nothing to train on; "
            "keep the sum below 1, e.g. data.val_fraction=0.15 data.test_fraction=0.15"
        )
    direction = cfg.objective.direction
    if direction not in ("maximize", "minimize"):
        raise ConfigError(
            f"objective.direction={direction!r} is invalid: use objective.direction=maximize "
            "or objective.direction=minimize"
        )


def check_objective_metric(metric: str, produced: list[str]) -> None:
    """Raises ConfigError when the objective names a metric the compiled model never logs."""
    if metric not in produced:
        raise ConfigError(
            f"objective.metric={metric!r} is not produced by this run; "
            f"choose one of: {', '.join(sorted(produced))}"
        )
