"""Every option of every config group, and every experiment, composes and builds."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from blueprint.data.facts import check_task, load_data
from blueprint.models.build import build_model
from blueprint.training.callbacks import build_callbacks
from blueprint.training.compile import compile_model
from tests.helpers import CONF_DIR, ROOT, group_options, option_overrides

# The groups that shape what is trained, which a recipe reproducing the default run must match.
TRAINING_GROUPS = ("data", "model", "optimizer", "loss", "callbacks", "trainer")


def test_every_group_has_options() -> None:
    groups = {group for group, _ in group_options()}
    expected = {*TRAINING_GROUPS, "tracking", "paths", "task"}
    assert expected <= groups
    assert ("experiment", "baseline") in group_options()


@pytest.mark.parametrize(("group", "option"), group_options())
def test_option_composes_and_builds(compose_cfg, group: str, option: str, tmp_path: Path) -> None:
    cfg = compose_cfg(*option_overrides(group, option, tmp_path))
    allowed = list(cfg.allowed_targets)

    data = load_data(cfg.data, allowed)
    check_task(cfg.task, data)
    model = build_model(cfg, allowed)
    compile_model(model, cfg, allowed)
    build_callbacks(cfg, allowed)

    assert data.image_shape == tuple(cfg.data.image_shape)
    per_class = 1 if data.num_classes == 2 else data.num_classes  # one sigmoid unit for two
    outputs = {"values": 1, "masks": data.num_classes}.get(data.targets, per_class)
    assert model.output_shape[-1] == outputs
    if data.targets == "masks":
        assert model.output_shape[1:3] == data.image_shape[:2]
    assert len(data.train) + len(data.val) + len(data.test) > 0


def test_baseline_experiment_reproduces_the_default_run(compose_cfg) -> None:
    default, baseline = compose_cfg(), compose_cfg("experiment=baseline")
    for key in (*TRAINING_GROUPS, "task", "metrics", "objective"):
        assert default[key] == baseline[key], key


def test_store_defaults_to_the_repo_root_and_follows_mlflow_tracking_uri(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with initialize_config_dir(str(CONF_DIR)):
        cfg = compose("train")
    assert cfg.tracking.uri == f"sqlite:///{ROOT}/mlflow.db"
    assert cfg.tracking.artifact_location == f"{ROOT}/mlruns"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    with initialize_config_dir(str(CONF_DIR)):
        assert compose("train").tracking.uri == "http://127.0.0.1:5999"
