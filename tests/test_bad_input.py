"""Bad input: one clear line naming problem and fix, a non-zero exit, nothing written over."""

import socket
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from blueprint.errors import ConfigError
from blueprint.schema import GROUPS, schema_for
from blueprint.train import train
from blueprint.validation import validate
from tests.helpers import assert_one_line_error, group_options, option_overrides

# One bad value per group and kind of rule; the schema (blueprint/schema.py) is the mechanism.
BAD_VALUES = [
    ("optimizer.lr=0", ["optimizer.lr=0", "greater than 0", "e.g. optimizer.lr=1e-3"]),
    ("optimizer.lr=inf", ["optimizer.lr=inf", "finite"]),
    ("trainer.epochs=2.0", ["trainer.epochs=2.0", "integer"]),
    ("trainer.batch_size=0", ["trainer.batch_size=0", "greater than or equal to 1"]),
    ("trainer.seed=-1", ["trainer.seed=-1", "greater than or equal to 0"]),
    ("trainer.deterministic=maybe", ["trainer.deterministic='maybe'", "boolean"]),
    ("data.val_fraction=1.5", ["data.val_fraction=1.5", "less than 1"]),
    ("data.classes=[3]", ["data.classes=[3]", "at least 2"]),
    ("model.dropout=-0.1", ["model.dropout=-0.1", "greater than or equal to 0"]),
    ("model.filters=[0]", ["model.filters=[0]", "entry 0"]),
    ("diagnostics.bins=1", ["diagnostics.bins=1", "e.g. diagnostics.bins="]),
    ("objective.direction=up", ["objective.direction='up'", "'maximize' or 'minimize'"]),
    ("experiment_name=''", ["experiment_name=''", "at least 1 character"]),
    ("+model.foo=1", ["model.foo is not a key of model", "filters"]),
    ("metrics=[3]", ["metrics=[3]", "Keras metric name"]),
    ("data.image_size=[0,8]", ["data.image_size=[0,8]", "greater than or equal to 1"]),
    ("model=mobilenet_v2 model.alpha=0", ["model.alpha=0", "greater than 0"]),
    ("model=mobilenet_v2 model.weights=imagenet model.alpha=0.6", ["has no ImageNet weights"]),
    ("model=xception model.fine_tune_at=1.5", ["model.fine_tune_at=1.5", "a fraction below 1"]),
    (
        "model=efficientnet_b0 model.freeze_backbone=true model.fine_tune_at=10",
        ["model.freeze_backbone=true", "set one of them"],
    ),
    ("task=segmentation data=shapes", ["model=cnn gives one output per image", "model=unet"]),
    ("model=unet", ["model=unet predicts a mask per image", "task=segmentation only"]),
    ("data=shapes data.shapes=[circle,circle]", ["names a shape twice"]),
    ("data=shapes data.shapes=[circle]", ["one class to learn", "data.shapes=[circle,square]"]),
]


@pytest.mark.parametrize(("override", "fragments"), BAD_VALUES)
def test_schema_names_the_key_and_a_valid_example(compose_cfg, override, fragments) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(compose_cfg(*override.split()))
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))


def test_every_shipped_option_has_a_schema_and_passes_it(compose_cfg, tmp_path: Path) -> None:
    for group, option in group_options():
        cfg = compose_cfg(*option_overrides(group, option, tmp_path / f"{group}-{option}"))
        validate(cfg)
        node = cfg.get(group)  # a group of global keys (task, experiment) has no node
        node = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else None
        if group in ("data", "model", "loss", "diagnostics", *GROUPS):
            assert schema_for(group, node) is not None, (group, option)


@pytest.mark.parametrize(
    "override", ["trainer.batch_size=32.0", "model.dropout=1.5", "data.val_fraction=0.001"]
)
def test_bad_values_stop_the_cli_before_anything_is_written(run_cli, tmp_path: Path, override):
    result = run_cli(override)
    assert_one_line_error(result, override.split("=")[0])
    assert not (tmp_path / "mlflow.db").exists()  # nothing was tracked, so nothing to clean up
    assert not (tmp_path / "mlruns").exists()


def test_a_binary_task_on_more_than_two_classes_is_one_line(run_cli, tmp_path) -> None:
    result = run_cli("task=binary")  # the digits hold ten classes
    assert_one_line_error(result, "task=binary needs two classes", "data.classes=[3,8]")
    assert not (tmp_path / "mlflow.db").exists()


def test_images_below_a_backbones_minimum_stop_the_cli_naming_the_size(run_cli, tmp_path):
    result = run_cli("model=xception")  # the digits are 8x8
    assert_one_line_error(result, "xception needs images of at least 71x71", "[71,71]")
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("+callbacks.x._target_=os.system", ["callbacks.x", "cannot build os.system"]),
        ("+callbacks.x._target_=mypkg.Callback", ["callbacks.x", "allowed_targets"]),
        ("+callbacks.early_stopping.bogus=1", ["callbacks.early_stopping", "bogus"]),
        ("metrics=[accuracy,f2score]", ["metrics", "'f2score' is not a Keras metric"]),
    ],
)
def test_components_that_cannot_be_built_name_their_key(compose_cfg, tmp_path, override, fragments):
    with pytest.raises(ConfigError) as caught:
        train(compose_cfg(override, "model=mlp", "trainer.epochs=1"))
    assert "\n" not in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow  # a CLI run (~9 s): `make test-all` only, to keep `make test` short
def test_a_component_error_is_one_line_from_the_cli(run_cli, tmp_path) -> None:
    result = run_cli("+callbacks.x._target_=os.system", "model=mlp", "trainer.epochs=1")
    assert_one_line_error(result, "callbacks.x", "cannot build os.system")
    assert not (tmp_path / "mlflow.db").exists()


def test_splits_that_leave_nothing_to_train_on(run_cli) -> None:
    result = run_cli("data.val_fraction=0.6", "data.test_fraction=0.5")
    assert_one_line_error(result, "leaves nothing to train on")


def test_data_that_disagrees_with_its_config(run_cli) -> None:
    result = run_cli("data.classes=[0,1]", "data.num_classes=10")
    assert_one_line_error(result, "2 classes", "data.num_classes=2", "or null")


def test_unknown_group_option_lists_the_choices(run_cli) -> None:
    result = run_cli("model=resnet")
    assert result.returncode != 0
    assert "Could not find 'model/resnet'" in result.stderr
    assert "cnn" in result.stderr and "mlp" in result.stderr


def test_unknown_key_is_named(run_cli) -> None:
    result = run_cli("trainer.epoch=3")
    assert result.returncode != 0
    assert "Could not override 'trainer.epoch'" in result.stderr


@pytest.mark.slow  # a CLI run (~9 s): `make test-all` only, to keep `make test` short
def test_objective_metric_the_run_never_produces(run_cli, tmp_path: Path) -> None:
    result = run_cli("objective.metric=val_f1", "model=mlp")
    assert_one_line_error(result, "objective.metric='val_f1'", "val_accuracy", "val_loss")
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow  # a CLI run (~9 s): `make test-all` only, to keep `make test` short
def test_corrupt_store_is_reported_and_left_untouched(run_cli, tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"this is not a sqlite database" * 100)
    before = store.read_bytes()
    result = run_cli("model=mlp", "trainer.epochs=1")
    assert_one_line_error(result, "cannot open the MLflow store", "tracking.uri")
    assert store.read_bytes() == before


@pytest.mark.slow  # a CLI run (~9 s): `make test-all` only, to keep `make test` short
def test_dead_tracking_server_is_reported(run_cli) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(f"tracking.uri=http://127.0.0.1:{port}", "model=mlp", "trainer.epochs=1")
    assert_one_line_error(result, "cannot open the MLflow store", f"127.0.0.1:{port}")


def test_bad_data_stops_the_cli_before_anything_is_written(run_cli, tmp_path: Path) -> None:
    result = run_cli("data=folder", f"data.path={tmp_path / 'no-such-folder'}")
    assert_one_line_error(result, "data.path=", "does not exist", "one sub-folder per class")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "inventories").exists()
    result = run_cli("data=folder")
    assert_one_line_error(result, "data.path has no value", "data.path=<value>")
