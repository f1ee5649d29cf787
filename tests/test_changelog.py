"""CHANGELOG.md and `blueprint.__version__` move together, and the keys it names exist."""

import re
import tomllib
from dataclasses import fields
from importlib.metadata import version

from omegaconf import OmegaConf

import blueprint
from hydra_plugins.blueprint_sweeper.config import BlueprintSweeperConf
from tests.helpers import CONF_DIR, ROOT

CHANGELOG = (ROOT / "CHANGELOG.md").read_text()


def test_the_latest_release_is_the_package_version() -> None:
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", CHANGELOG, flags=re.MULTILINE)
    assert releases and releases[0] == blueprint.__version__, (releases, blueprint.__version__)
    assert version("blueprint") == blueprint.__version__, "reinstall: pip install -e ."
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"], "set in one place"


def test_the_config_keys_it_names_exist() -> None:
    """A renamed key would leave the changelog naming one that no longer is."""
    sweeper = {f.name for f in fields(BlueprintSweeperConf)}
    diagnostics = set(OmegaConf.load(CONF_DIR / "diagnostics" / "default.yaml"))
    named = re.findall(r"`(hydra\.sweeper|diagnostics)\.(\w+)", CHANGELOG)
    assert named
    for group, key in named:
        assert key in (sweeper if group == "hydra.sweeper" else diagnostics), f"{group}.{key}"
