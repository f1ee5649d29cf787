"""Sweep trials in one process train an earlier trial's compiled model (warm_models)."""

import keras
import pytest
from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
from omegaconf import DictConfig

from blueprint.data.facts import load_data
from blueprint.data.splits import ImageData
from blueprint.models.build import build_model
from blueprint.training.compile import compile_model
from blueprint.training.fit import build_training_state, fit
from blueprint.training.reproducibility import seed_everything
from blueprint.training.warm_models import WarmModels, compiled_key

MLP = ["model=mlp", "model.hidden_units=[16]", "trainer.epochs=2"]  # with dropout: seeded


def trial_config(compose_cfg, *overrides: str) -> DictConfig:
    """A trial's config as train() has it once the data is loaded (which fills in its shapes)."""
    cfg = compose_cfg(*MLP, *overrides)
    load_data(cfg.data, list(cfg.allowed_targets))
    return cfg


def trial_model(cfg: DictConfig) -> keras.Model:
    """A trial's own model, built and compiled as train() does."""
    seed_everything(cfg.trainer.seed, cfg.trainer.deterministic)
    model = build_model(cfg, list(cfg.allowed_targets))
    compile_model(model, cfg, list(cfg.allowed_targets))
    return model


def val_losses(model: keras.Model, data: ImageData, cfg: DictConfig) -> list[float]:
    build_training_state(model, data)
    history = fit(model, data, cfg.trainer, [], cfg.trainer.batch_size)
    return history.history["val_loss"]


def test_a_trial_on_a_warm_model_learns_as_on_its_own_without_tracing_again(
    compose_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = []
    step = TensorFlowTrainer.train_step
    counted = lambda model, batch: traced.append(1) or step(model, batch)  # noqa: E731
    monkeypatch.setattr(TensorFlowTrainer, "train_step", counted)  # runs only when tracing
    warm = WarmModels()
    assert warm.kept_a_new_model()  # nothing asked yet: the first trial's state is for good
    first = trial_config(compose_cfg, "optimizer.lr=0.01")
    data = load_data(first.data, list(first.allowed_targets))  # the same split for both
    model = warm.adopt(trial_model(first), compiled_key(first))
    assert warm.kept_a_new_model() and not warm.kept_a_new_model()
    val_losses(model, data, first)  # moves its weights, seed states and optimizer steps on
    assert traced

    second = trial_config(
        compose_cfg, "optimizer.lr=3e-3", "trainer.seed=5", "trainer.batch_size=64"
    )
    assert compiled_key(second) == compiled_key(first)  # the learning rate is a variable
    reused = warm.adopt(trial_model(second), compiled_key(second))
    assert reused is model and not warm.kept_a_new_model()
    traced.clear()
    got = val_losses(reused, data, second)
    assert not traced, "the warm model's training step was traced again"
    expected = val_losses(trial_model(second), data, second)
    assert got == pytest.approx(expected, rel=1e-5)
    assert got != pytest.approx(val_losses(trial_model(first), data, first), rel=1e-3)


def test_another_network_or_optimizer_gets_its_own_model(compose_cfg) -> None:
    cfg = trial_config(compose_cfg)
    for change in ("model.hidden_units=[8]", "model.dropout=0.1", "optimizer=rmsprop"):
        assert compiled_key(trial_config(compose_cfg, change)) != compiled_key(cfg), change
    for yours in ("model._target_=mypkg.build", "+metrics=[{_target_:mypkg.Metric}]"):
        assert compiled_key(trial_config(compose_cfg, yours)) is None, yours  # not kept
    callback = trial_config(compose_cfg, "+callbacks.mine._target_=mypkg.Callback")
    assert compiled_key(callback) == compiled_key(cfg)  # not in the graph: the model is reused
    warm = WarmModels(kept=2)
    warm.kept_a_new_model()
    wider = trial_model(trial_config(compose_cfg, "model.hidden_units=[32]"))
    assert warm.adopt(wider, "same key") is wider and warm.kept_a_new_model()
    narrow = trial_model(cfg)
    assert warm.adopt(narrow, "same key") is narrow  # its variables do not match: not reused
    assert not warm.kept_a_new_model()  # nor kept instead: `wider` may be frozen for good

    sgd, rmsprop = (trial_config(compose_cfg, f"optimizer={name}") for name in ("sgd", "rmsprop"))
    kept = warm.adopt(trial_model(sgd), compiled_key(sgd))
    assert warm.kept_a_new_model()
    extra = trial_model(rmsprop)
    assert warm.adopt(extra, compiled_key(rmsprop)) is extra  # a third key: no room
    assert warm.adopt(trial_model(rmsprop), compiled_key(rmsprop)) is not extra
    assert not warm.kept_a_new_model()
    assert warm.adopt(trial_model(sgd), compiled_key(sgd)) is kept
