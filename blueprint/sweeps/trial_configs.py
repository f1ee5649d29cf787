"""A sweep's trial configs, composed by Hydra once per set of group choices.

Hydra composes a trial's config from scratch: the defaults list, every config file, then the
command line's values in order (0.1 s a trial here, a tenth of a small trial). A sweep's trials
differ mostly in values (`optimizer.lr=0.003`, the trial's `sweep={...}` node), which Hydra sets
after composing, each by `OmegaConf.update(config, key, value, merge=True)`. So Hydra composes a
trial's overrides without its values once, and each trial with those same other overrides gets a
copy with its values set the way Hydra sets them, in their order, and `hydra.overrides.task` as
Hydra writes it (~10 ms).

Only where that is exactly what Hydra does: the other overrides may choose config groups (which
shape the defaults list, whatever their order) and set `hydra.*` keys (a subtree no trial value
touches); a list holding anything Hydra applies in order with the values (`+key=`, `~key`,
`key+=`, `group@package=`, a dict set on a group's key) is composed by Hydra as it always was,
and so is a trial whose value Hydra would refuse, so that its error is Hydra's own.
tests/test_trial_configs.py checks the copies against Hydra's compositions.
"""

import copy
import os
import threading

from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict

from blueprint.sweeps.search_space import override_parser


class TrialConfigs:
    """Trial configs as `loader.load_sweep_config` composes them, from kept bases."""

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self.groups = set(loader.list_groups(""))  # a top-level `key=` names a group or a value
        self._bases: dict[tuple[str, ...], DictConfig] = {}
        self._lock = threading.Lock()  # slots' threads compose trials side by side

    def compose(self, master: DictConfig, overrides: list[str]) -> DictConfig:
        """The config Hydra composes for `master`'s sweep job with `overrides`."""
        parsed = override_parser().parse_overrides(overrides)
        values = [o for o in parsed if self._is_value(o)]
        others = [o for o in parsed if not self._is_value(o)]
        if not values or not all(self._is_group(o) or o.is_hydra_override() for o in others):
            return self.loader.load_sweep_config(master, overrides)
        key = tuple(o.input_line for o in others)
        with self._lock:
            base = self._bases.get(key)
        if base is None:  # composed unlocked: another slot's trial may compose one meanwhile
            base = self.loader.load_sweep_config(master, list(key))
        with self._lock:
            config = copy.deepcopy(self._bases.setdefault(key, base))
        try:
            for override in values:  # as Hydra's ConfigLoaderImpl applies a plain `key=value`
                OmegaConf.update(config, override.key_or_group, override.value(), merge=True)
        except Exception:  # Hydra refuses it too: its compose raises its own error
            return self.loader.load_sweep_config(master, overrides)
        config.hydra.overrides.task = [o.input_line for o in parsed if not o.is_hydra_override()]
        with open_dict(config.hydra):  # as Hydra copies them: from the environment of now
            for name in config.hydra.job.env_copy:
                config.hydra.job.env_set[name] = os.environ[name]
        OmegaConf.copy_cache(from_config=master, to_config=config)
        return config

    def _is_group(self, override: Override) -> bool:
        """A group choice: Hydra's test (`repo.group_exists`, a value not a dict), for
        top-level keys by the groups listed and for nested ones (`hydra/launcher`) by their `/`."""
        key = override.key_or_group
        if override.package is not None or isinstance(override.value(), dict):
            return False  # `group={...}` sets values: Hydra applies it in order with the rest
        return "/" in key or key in self.groups

    def _is_value(self, override: Override) -> bool:
        """A plain `key=value` Hydra sets after composing, outside `hydra.*`."""
        return (
            override.type == OverrideType.CHANGE
            and override.package is None
            and not override.is_hydra_override()
            and not override.is_sweep_override()
            and not self._is_group(override)
        )
