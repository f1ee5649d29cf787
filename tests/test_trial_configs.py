"""A sweep's trial configs from kept bases equal Hydra's own composition of each trial."""

from collections.abc import Iterator

import pytest
from hydra import initialize_config_dir
from hydra.core.config_loader import ConfigLoader
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from blueprint.sweeps.trial_configs import TrialConfigs
from tests.helpers import CONF_DIR

FIXED = ["hparams_search=random", "model=mlp", "model.hidden_units=[64]"]


class CountingLoader:
    """Hydra's config loader, counting its compositions."""

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self.composed: list[list[str]] = []

    def load_sweep_config(self, master: DictConfig, overrides: list[str]) -> DictConfig:
        self.composed.append(list(overrides))
        return self.loader.load_sweep_config(master, overrides)

    def list_groups(self, parent: str) -> list[str]:
        return self.loader.list_groups(parent)


@pytest.fixture
def hydra_loader() -> Iterator[ConfigLoader]:
    with initialize_config_dir(str(CONF_DIR), version_base=None):
        yield GlobalHydra.instance().config_loader()


@pytest.fixture
def master(hydra_loader: ConfigLoader) -> DictConfig:
    return hydra_loader.load_configuration("train", FIXED, RunMode.MULTIRUN)


def trial(number: int, lr: float, optimizer: str, batch: int, *more: str) -> list[str]:
    """A trial's overrides as the sweeper writes them: its point, then fixed ones, its node."""
    node = f"sweep={{study:'s',storage:'sqlite:///x.db',trial:{number},parent_run:'abc'}}"
    return [f"optimizer.lr={lr}", f"optimizer={optimizer}", f"trainer.batch_size={batch}",
            *more, *FIXED, node]  # fmt: skip


def same(ours: DictConfig, hydras: DictConfig) -> None:
    assert OmegaConf.to_container(ours, resolve=False) == OmegaConf.to_container(
        hydras, resolve=False
    )
    assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydras)
    assert OmegaConf.is_struct(ours) and not OmegaConf.is_readonly(ours.hydra)
    ours_resolved = OmegaConf.to_container(ours.hydra.overrides, resolve=True)
    assert ours_resolved == OmegaConf.to_container(hydras.hydra.overrides, resolve=True)


TRIALS = [
    trial(0, 0.00123, "adam", 64),
    trial(1, 0.005, "adamw", 32),
    trial(2, 1e-4, "adam", 128, "trainer.epochs=3"),
    trial(3, 0.002, "adam", 64, "model.hidden_units=[128,32]", "trainer.deterministic=true"),
    trial(4, 0.002, "rmsprop", 64, "tracking.run_name='a b, c'", "model.initial_weights=null"),
    trial(5, 0.003, "adam", 32, "optimizer={lr:0.5}", "hydra.job.chdir=false"),
    trial(6, 0.004, "adamw", 32, "hydra.verbose=true", "trainer.seed=7"),
    trial(7, 0.004, "adam", 32, "hydra.job.env_copy=[BLUEPRINT_TEST_VALUE]"),
]


@pytest.mark.parametrize("overrides", TRIALS, ids=[str(i) for i in range(len(TRIALS))])
def test_a_trial_config_equals_hydras_composition(
    hydra_loader: ConfigLoader,
    master: DictConfig,
    overrides: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs = TrialConfigs(hydra_loader)
    monkeypatch.setenv("BLUEPRINT_TEST_VALUE", "then")
    configs.compose(master, trial(9, 0.009, "adam", 128, *overrides[3:-4]))  # the trial's base
    monkeypatch.setenv("BLUEPRINT_TEST_VALUE", "now")  # copied as Hydra copies it: from now
    same(configs.compose(master, overrides), hydra_loader.load_sweep_config(master, overrides))


def test_hydra_composes_once_per_set_of_group_choices(
    hydra_loader: ConfigLoader, master: DictConfig
) -> None:
    loader = CountingLoader(hydra_loader)
    configs = TrialConfigs(loader)  # type: ignore[arg-type]
    points = [(0.001, "adam"), (0.002, "adamw"), (0.003, "adam"), (0.004, "adamw"), (0.5, "adam")]
    made = [configs.compose(master, trial(n, lr, opt, 64)) for n, (lr, opt) in enumerate(points)]
    assert len(loader.composed) == 2  # the adam trials' base and the adamw trials'
    assert [c.optimizer.lr for c in made] == [lr for lr, _ in points]
    assert [c.sweep.trial for c in made] == list(range(len(points)))
    made[0].trainer.epochs = 99  # a launcher edits its config: no other trial's changes
    assert configs.compose(master, trial(5, 0.1, "adam", 64)).trainer.epochs != 99


@pytest.mark.parametrize("other", ["+trainer.extra=1", "~callbacks.early_stopping"])
def test_what_hydra_applies_in_order_with_values_is_composed_by_hydra(
    hydra_loader: ConfigLoader, master: DictConfig, other: str
) -> None:
    loader = CountingLoader(hydra_loader)
    configs = TrialConfigs(loader)  # type: ignore[arg-type]
    for number in range(2):
        overrides = trial(number, 0.001, "adam", 64, other)
        same(configs.compose(master, overrides), hydra_loader.load_sweep_config(master, overrides))
    assert len(loader.composed) == 2


def test_a_value_hydra_refuses_fails_with_hydras_error(
    hydra_loader: ConfigLoader, master: DictConfig
) -> None:
    configs = TrialConfigs(hydra_loader)
    configs.compose(master, trial(0, 0.001, "adam", 64))
    with pytest.raises(ConfigCompositionException, match=r"optimizer\.no_such_key"):
        configs.compose(master, trial(1, 0.001, "adam", 64, "optimizer.no_such_key=1"))
