"""Hydra's config loader, handing a launcher the trial configs the sweeper already composed.

The sweeper composes every trial's config to check it before launching it (a config that does not
compose would otherwise end the whole sweep inside the launcher), and Hydra's launchers compose the
same overrides again: 80 ms a trial. The sweeper keeps what it composed here, and a launcher that
asks for exactly those overrides gets that config, once; anything else is composed as before.
"""

from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigSource
from hydra.types import RunMode
from omegaconf import DictConfig


class ComposedOnce(ConfigLoader):
    """`loader`, but `load_sweep_config` first hands out the configs `keep` was given."""

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self._kept: dict[tuple[str, ...], DictConfig] = {}

    def __getstate__(self) -> dict[str, Any]:
        """What a launcher that pickles itself for its workers (submitit) sends of this loader:
        not the configs kept here, which another slot's thread adds to while one pickles
        ("dictionary changed size during iteration"), and which a worker never asks for."""
        return {"loader": self.loader, "_kept": {}}

    def keep(self, overrides: list[str], config: DictConfig) -> None:
        self._kept[tuple(overrides)] = config

    def forget(self, overrides: list[str]) -> None:
        """Drops `overrides`' config if no launcher asked for it (one that composes in its
        workers); other trials' configs, kept for launches under way, stay."""
        self._kept.pop(tuple(overrides), None)

    def load_sweep_config(
        self, master_config: DictConfig, sweep_overrides: list[str]
    ) -> DictConfig:
        kept = self._kept.pop(tuple(sweep_overrides), None)
        if kept is not None:  # the launcher edits it (hydra.job.id): it is nobody else's now
            return kept
        return self.loader.load_sweep_config(master_config, sweep_overrides)

    def load_configuration(
        self,
        config_name: str | None,
        overrides: list[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> DictConfig:
        return self.loader.load_configuration(
            config_name, overrides, run_mode, from_shell, validate_sweep_overrides
        )

    def get_search_path(self) -> ConfigSearchPath:
        return self.loader.get_search_path()

    def get_sources(self) -> list[ConfigSource]:
        return self.loader.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        return self.loader.list_groups(parent_name)

    def get_group_options(
        self,
        group_name: str,
        results_filter: ObjectType | None = ObjectType.CONFIG,
        config_name: str | None = None,
        overrides: list[str] | None = None,
    ) -> list[str]:
        return self.loader.get_group_options(group_name, results_filter, config_name, overrides)

    def compute_defaults_list(
        self, config_name: str | None, overrides: list[str], run_mode: RunMode
    ) -> Any:
        return self.loader.compute_defaults_list(config_name, overrides, run_mode)
