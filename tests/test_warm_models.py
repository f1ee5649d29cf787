"""Sweep trials in one process train an earlier trial's compiled model (warm_models)."""

import contextlib
from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
from omegaconf import DictConfig

from blueprint.data.facts import load_data
from blueprint.data.splits import ImageData
from blueprint.models.build import build_model
from blueprint.sweeps import trial
from blueprint.sweeps.trial import SweepTrial
from blueprint.training.compile import compile_model
from blueprint.training.fit import build_training_state, fit
from blueprint.training.reproducibility import seed_everything
from blueprint.training.warm_models import WarmModels, compiled_key, kernel_cache_kept

MLP = ["model=mlp", "model.hidden_units=[16]", "trainer.epochs=2"]  # with dropout: seeded


def trial_config(compose_cfg, *overrides: str) -> DictConfig:
    """A trial's config as train() has it once the data is loaded (which fills in its shapes)."""
    cfg = compose_cfg(*MLP, *overrides)
    load_data(cfg.data, list(cfg.allowed_targets))
    return cfg


def trial_model(cfg: DictConfig, keeping_kernels: bool = False) -> keras.Model:
    """A trial's own model, built and compiled as train() does; `keeping_kernels` seeds as a
    sweep trial of blueprint's and Keras' components does (`SweepTrial.keeping_compiled_steps`)."""
    with kernel_cache_kept() if keeping_kernels else contextlib.nullcontext():
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
    reused = warm.adopt(trial_model(second, keeping_kernels=True), compiled_key(second))
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
    assert warm.trained_a_kept_model() and not warm.trained_a_kept_model()
    narrow = trial_model(cfg)
    assert warm.adopt(narrow, "same key") is narrow  # its variables do not match: not reused
    assert not warm.kept_a_new_model()  # nor kept instead: `wider` may be frozen for good
    assert not warm.trained_a_kept_model()  # its steps go as the trial ends

    sgd, rmsprop = (trial_config(compose_cfg, f"optimizer={name}") for name in ("sgd", "rmsprop"))
    kept = warm.adopt(trial_model(sgd), compiled_key(sgd))
    assert warm.kept_a_new_model()
    extra = trial_model(rmsprop)
    assert warm.adopt(extra, compiled_key(rmsprop)) is extra  # a third key: no room
    assert not warm.trained_a_kept_model()
    assert warm.adopt(trial_model(rmsprop), compiled_key(rmsprop)) is not extra
    assert not warm.kept_a_new_model()
    assert warm.adopt(trial_model(sgd), compiled_key(sgd)) is kept
    assert warm.trained_a_kept_model()


def stateful_kernel_goes_on(step: Callable[[], object]) -> bool:
    """Whether a stateful op's kernel, made before `step`, goes on drawing after it (TensorFlow's
    kernel cache kept) rather than restarting (emptied)."""
    seed_everything(3, deterministic=False)
    first = tf.random.uniform([2], seed=1).numpy()
    step()
    return not np.array_equal(tf.random.uniform([2], seed=1).numpy(), first)


def test_seeding_that_keeps_the_kernel_cache_seeds_alike_and_keeps_stateful_kernels() -> None:
    def seeded_in(block: contextlib.AbstractContextManager) -> Callable[[], None]:
        def step() -> None:
            with block:
                seed_everything(3, deterministic=False)
                keras.backend.clear_session()

        return step

    assert not stateful_kernel_goes_on(seeded_in(contextlib.nullcontext()))
    assert stateful_kernel_goes_on(seeded_in(kernel_cache_kept()))
    assert not stateful_kernel_goes_on(lambda: seed_everything(3, deterministic=False))  # undone

    def from_global_seed(block: contextlib.AbstractContextManager) -> np.ndarray:
        seed_everything(7, deterministic=False)  # emptied: the draw below makes a new kernel
        seeded_in(block)()  # seeds 3
        return tf.random.uniform([4]).numpy()  # its op seed from the global seed's sequence

    np.testing.assert_array_equal(
        from_global_seed(kernel_cache_kept()), from_global_seed(contextlib.nullcontext())
    )


def test_a_trial_keeps_the_kernel_cache_only_with_library_components_and_a_kept_model(
    compose_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Around seeding (`SweepTrial.keeping_compiled_steps`) and as the trial ends
    (`free_keras_state`): a component of your own anywhere, a model not kept, or ops made
    deterministic now, and TensorFlow empties it as before."""
    node = "+sweep={study:s,storage:'sqlite://',trial:0,parent_run_id:p,threads:null}"
    library = trial_config(compose_cfg, node)
    yours = trial_config(compose_cfg, node, "+callbacks.mine._target_=mypkg.Callback")
    opaque = trial_config(compose_cfg, node, "+callbacks.saved._target_=keras.layers.TFSMLayer")
    deterministic = trial_config(compose_cfg, node, "trainer.deterministic=true")

    def seeding_keeps(cfg: DictConfig) -> bool:
        def step() -> None:
            with SweepTrial(cfg).keeping_compiled_steps(cfg):  # never deterministic here: it
                seed_everything(3, deterministic=False)  # could not be turned off again

        return stateful_kernel_goes_on(step)

    assert seeding_keeps(library)
    assert not any(seeding_keeps(cfg) for cfg in (yours, opaque, deterministic))
    assert not seeding_keeps(trial_config(compose_cfg))  # a single run

    warm = trial._warm_models()
    monkeypatch.setattr(warm, "kept_a_new_model", lambda: False)  # no gc.freeze in this process

    def ending_keeps(cfg: DictConfig, trained_kept: bool) -> bool:
        monkeypatch.setattr(warm, "trained_a_kept_model", lambda: trained_kept)
        return stateful_kernel_goes_on(lambda: trial.free_keras_state(cfg))

    assert ending_keeps(library, trained_kept=True)
    assert not ending_keeps(library, trained_kept=False)
    assert not ending_keeps(yours, trained_kept=True)
