"""Fixtures over tests/helpers.py: composed configs and CLI runs that write only into tmp_path."""

import functools
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers import compose_into, run_train


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`compose_into(tmp_path, *overrides)` as a fixture."""
    return functools.partial(compose_into, tmp_path)


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """`run_train(tmp_path, *overrides)`: the CLI in a subprocess against a temporary store."""
    return functools.partial(run_train, tmp_path)
