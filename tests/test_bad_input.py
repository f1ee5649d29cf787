"""Bad input: one clear line naming problem and fix, a non-zero exit, nothing written over."""

import socket
from pathlib import Path

import pytest

from tests.helpers import error_lines


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("optimizer.lr=0", ["optimizer.lr=0", "> 0", "optimizer.lr=1e-3"]),
        ("optimizer.lr=-1e-3", ["optimizer.lr=-0.001", "> 0"]),
        ("trainer.epochs=0", ["trainer.epochs=0", ">= 1"]),
        ("trainer.batch_size=0", ["trainer.batch_size=0", ">= 1"]),
        ("trainer.batch_size=2.5", ["trainer.batch_size=2.5", "integer"]),
        ("data.val_fraction=1.5", ["data.val_fraction=1.5", "(0, 1)"]),
        ("data.test_fraction=0", ["data.test_fraction=0", "(0, 1)"]),
        ("objective.direction=up", ["objective.direction='up'", "maximize"]),
    ],
)
def test_invalid_values_are_rejected_before_training(run_cli, tmp_path: Path, override, fragments):
    result = run_cli(override)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "mlflow.db").exists()  # nothing was tracked, so nothing to clean up


def test_splits_that_leave_nothing_to_train_on(run_cli) -> None:
    result = run_cli("data.val_fraction=0.6", "data.test_fraction=0.5")
    assert_one_line_error(result, "leaves nothing to train on")


def test_data_that_disagrees_with_its_config(run_cli) -> None:
    result = run_cli("data.classes=[0,1]")
    assert_one_line_error(result, "2 classes", "data.num_classes=2")


def test_unknown_group_option_lists_the_choices(run_cli) -> None:
    result = run_cli("model=resnet")
    assert result.returncode != 0
    assert "Could not find 'model/resnet'" in result.stderr
    assert "cnn" in result.stderr and "mlp" in result.stderr


def test_unknown_key_is_named(run_cli) -> None:
    result = run_cli("trainer.epoch=3")
    assert result.returncode != 0
    assert "Could not override 'trainer.epoch'" in result.stderr


def test_objective_metric_the_run_never_produces(run_cli, tmp_path: Path) -> None:
    result = run_cli("objective.metric=val_f1", "model=mlp")
    assert_one_line_error(result, "objective.metric='val_f1'", "val_accuracy", "val_loss")
    assert not (tmp_path / "mlflow.db").exists()


def test_corrupt_store_is_reported_and_left_untouched(run_cli, tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"this is not a sqlite database" * 100)
    before = store.read_bytes()
    result = run_cli("model=mlp", "trainer.epochs=1")
    assert_one_line_error(result, "cannot open the MLflow store", "tracking.uri")
    assert store.read_bytes() == before


def test_dead_tracking_server_is_reported(run_cli) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(f"tracking.uri=http://127.0.0.1:{port}", "model=mlp", "trainer.epochs=1")
    assert_one_line_error(result, "cannot open the MLflow store", f"127.0.0.1:{port}")
