"""Bad input: one clear line naming problem and fix, a non-zero exit, nothing written over."""

import socket
from dataclasses import fields
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from blueprint.errors import FULL_ERROR, ConfigError, TrainingError, compose_failure, exit_on_error
from blueprint.schema import GROUPS, schema_for
from blueprint.train import train
from blueprint.validation import validate
from hydra_plugins.blueprint_sweeper.config import BlueprintSweeperConf
from tests.helpers import (
    CONF_DIR,
    after_a_lost_ctrl_c,
    assert_one_line_error,
    group_options,
    option_overrides,
    run_command,
)

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


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("model=resnet", ["model=resnet is not an option of model", "cnn, ", "mlp"]),
        ("experiment=nonexistent", ["not an option of experiment", "baseline, ", "binary"]),
        ("trainer.epoch=3", ["Could not override 'trainer.epoch'", "'epochs'"]),
        ("--multirun hydra.sweeper.n_trials=abc", ["hydra.sweeper.n_trials=abc", "Integer"]),
        ("--multirun hydra.sweeper.sampler.seed=abc", ["hydra.sweeper.sampler.seed=abc"]),
    ],
)
def test_a_config_hydra_cannot_compose_is_one_line(run_cli, override, fragments) -> None:
    """Hydra reports these in 4-12 lines and exit status 1 before the task runs."""
    assert_one_line_error(run_cli(*override.split()), *fragments)


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_an_unknown_key_of_a_model_command_is_one_line_listing_its_keys(command) -> None:
    """The same entry wrapper as training (`blueprint.errors.exit_on_error`)."""
    result = run_command(command, "modle=x")
    assert_one_line_error(result, "Could not override 'modle'", "Did you mean: 'model'?", "model, ")


def _stopped_with_a_note() -> None:
    stop = KeyboardInterrupt()
    stop.add_note("the same command goes on")
    raise stop


def test_ctrl_c_in_any_command_is_one_line_with_how_to_go_on_and_status_130(
    caplog, monkeypatch
) -> None:
    """Every entry point's wrapper: a KeyboardInterrupt is one line, the notes the command added
    to it (train: its resume command; a sweep: that the same command goes on), status 130;
    with the user's HYDRA_FULL_ERROR=1 it keeps its traceback."""
    monkeypatch.delenv(FULL_ERROR, raising=False)
    with pytest.raises(SystemExit) as ended:
        exit_on_error(_stopped_with_a_note)
    assert ended.value.code == 130
    assert caplog.messages == ["stopped (Ctrl-C); the same command goes on"]
    monkeypatch.setenv(FULL_ERROR, "1")
    with pytest.raises(KeyboardInterrupt):
        exit_on_error(_stopped_with_a_note)


TYPED = (int, float, bool, int | None, float | None)  # the sweeper's keys OmegaConf checks


def test_every_typed_sweeper_key_names_itself_when_its_value_has_the_wrong_type() -> None:
    """By mechanism: the sweeper's settings dataclass types each key; a value that is not of
    its type is one line naming the key, whichever key it is."""
    typed = [f.name for f in fields(BlueprintSweeperConf) if f.type in TYPED]
    assert {"n_trials", "n_jobs", "repeats", "max_interruptions"} <= set(typed), typed
    for name in typed:
        with initialize_config_dir(str(CONF_DIR)), pytest.raises(HydraException) as caught:
            compose("train", [f"hydra.sweeper.{name}=abc"], return_hydra_config=True)
        line = compose_failure(caught.value)
        assert "\n" not in line and line.startswith(f"hydra.sweeper.{name}=abc is invalid"), line


@pytest.mark.parametrize("key", ["hydra.run.dir", "hydra.sweep.dir"])
def test_a_run_folder_that_cannot_be_created_is_one_line(run_cli, tmp_path, key) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where a folder should be")
    multirun = ["--multirun"] if key == "hydra.sweep.dir" else []
    result = run_cli(*multirun, f"{key}={blocker}/run")
    assert_one_line_error(result, f"{key}={blocker}/run cannot be created", "Not a directory")
    assert blocker.read_text() == "a file where a folder should be"


def test_a_users_module_that_fails_to_import_shows_its_own_error(
    compose_cfg, tmp_path, monkeypatch
) -> None:
    """Hydra says only "Error locating target 'mypkg.load_data'"; the cause is the module's."""
    package = tmp_path / "src" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from blueprint.data.splits import ImageSplits  # a name an earlier version had\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    cfg = compose_cfg("data._target_=mypkg.load_data", "allowed_targets=[blueprint.*,mypkg.*]")
    with pytest.raises(ConfigError) as caught:
        train(cfg)
    line = str(caught.value)
    assert "\n" not in line and line.startswith("data: cannot build mypkg.load_data"), line
    assert "ImportError: cannot import name 'ImageSplits'" in line, line


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


@pytest.mark.parametrize(
    ("error", "without_a_press"),
    [
        (TypeError("Failed to convert elements of (None,) to Tensor"), TypeError),  # traceback
        (TrainingError("loss is nan"), SystemExit),  # one line, status 2
    ],
    ids=["fault", "user-facing"],
)
def test_an_error_after_a_dropped_ctrl_c_ends_as_the_stop_it_is(
    error: Exception,
    without_a_press: type[BaseException],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that Python dropped mid-step can leave Keras' state broken, so the next step
    fails before the press is raised again: whatever that error is, it is the stop, one line
    with the notes train and the sweep add to it, and status 130. Without a press the same
    error ends as it always does."""
    monkeypatch.delenv(FULL_ERROR, raising=False)

    def broken_step() -> None:
        raise error

    with pytest.raises(without_a_press) as ended:
        exit_on_error(broken_step)
    assert without_a_press is not SystemExit or ended.value.code == 2
    error.add_note("the same command goes on")  # as train and the sweep add to a stop
    caplog.clear()
    with after_a_lost_ctrl_c(), pytest.raises(SystemExit) as ended:
        exit_on_error(broken_step)
    assert ended.value.code == 130
    assert [r.getMessage() for r in caplog.records] == [
        "stopped (Ctrl-C); the same command goes on"
    ]
